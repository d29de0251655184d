#include <exo/runner/thread.hpp>

namespace exo {

expected<void> thread_runner::init(log_level level) {
  std::lock_guard life(lifecycle_);
  {
    std::lock_guard g(m_);
    if (state_ != state::idle) return fail(errc::invalid_argument, "thread_runner: init while running (terminate first)");
  }
  log_ = detail::filtered_log(sink_, level);
  {
    std::lock_guard g(m_);
    state_ = state::running;
  }
  worker_ = std::thread([this] { work(); });
  return {};
}

expected<void> thread_runner::terminate() {
  std::lock_guard life(lifecycle_);
  {
    std::lock_guard g(m_);
    if (state_ != state::running) return {};
    state_ = state::closing;
  }
  wake_.notify_all();
  worker_.join();
  std::lock_guard g(m_);
  state_ = state::idle;
  return {};
}

expected<bytes> thread_runner::run(byte_view request) {
  auto j = std::make_shared<job>(job{bytes(request.begin(), request.end()), {}});
  auto result = j->done.get_future();
  {
    std::lock_guard g(m_);
    if (state_ != state::running)
      return fail(errc::invalid_argument, state_ == state::idle ? "thread_runner: run before init (or after terminate)"
                                                                : "thread_runner: terminating; the run was refused");
    queue_.push_back(std::move(j));
  }
  wake_.notify_one();
  return result.get();
}

std::size_t thread_runner::pending() const {
  std::lock_guard g(m_);
  return queue_.size() + running_;
}

void thread_runner::work() {
  for (;;) {
    std::shared_ptr<job> j;
    {
      std::unique_lock g(m_);
      wake_.wait(g, [&] { return !queue_.empty() || state_ == state::closing; });
      if (queue_.empty()) return;  // closing, and the work in hand is done
      j = queue_.front();
      queue_.pop_front();
      ++running_;
    }
    auto result = detail::call_engine(engine_, j->request, log_);
    {
      std::lock_guard g(m_);
      --running_;
    }
    j->done.set_value(std::move(result));
  }
}

}  // namespace exo
