#pragma once
/// \file
/// exo::hypervisor_service: any composed hypervisor that logs its inputs, behind the service
/// interface an RPC server serves (exo/hypervisor/service.hpp).
///
/// \code
/// using my_hv = exo::hypervisor<exo::fifo_scheduler, exo::lmdb_store, exo::lmdb_log>;
/// auto hv = my_hv::open(exo::lmdb_store::open("data", {.create = true}).value()).value();
/// auto guestbook = *hv.actor_id(hv.create(guestbook_actor{}).value());
/// exo::hypervisor_service<my_hv> svc(hv, {.name = "guests", .methods = {{"book", "sign", guestbook, {...}, {}}}},
///                                    {{"book", guestbook}});
/// auto srv = exo::rpc::server::start(svc, {.listen = "127.0.0.1:0"}).value();
/// \endcode

#include <exo/hypervisor.hpp>
#include <exo/hypervisor/service.hpp>
#include <exo/store/node.hpp>

#include <map>
#include <utility>

namespace exo {

template <class H>
class hypervisor_service final : public service {
  static_assert(H::logged, "a service's calls are logged inputs: compose the hypervisor with a Log policy");

 public:
  /// Serves `hv` (which must outlive the service) as `d` describes (its node_key is filled
  /// in from hv); `actors` names the actors reads may name.
  hypervisor_service(H& hv, description d, std::vector<std::pair<std::string, id>> actors = {})
      : hv_(hv), d_(std::move(d)), actors_(actors.begin(), actors.end()) {
    d_.node_key = hv_.node_public_key();
    for (const method& m : d_.methods) actors_.emplace(m.actor, m.actor_id);
  }

  /// Hands out `file` (which must outlive the service) as the image: exo.image serves it.
  void serve_image(const bytes* file) { image_file_ = file; }
  const bytes* image_file() const override { return image_file_; }
  /// Hands out what `make` gives as the snapshot file: exo.snapshot serves it.
  void serve_kept_images(std::function<expected<std::shared_ptr<const served_file>>(const digest&)> find) {
    kept_ = std::move(find);
  }
  expected<std::shared_ptr<const served_file>> kept_image(const digest& image) override {
    if (!kept_) return std::shared_ptr<const served_file>{};
    return kept_(image);
  }
  void serve_snapshot(std::function<expected<std::shared_ptr<const served_file>>()> make) { snapshot_ = std::move(make); }
  expected<std::shared_ptr<const served_file>> snapshot_file() override {
    if (!snapshot_) return std::shared_ptr<const served_file>{};
    return snapshot_();
  }

  const description& describe() const override { return d_; }
  const id* actor(std::string_view name) const override {
    auto it = actors_.find(name);
    return it == actors_.end() ? nullptr : &it->second;
  }

  void begin_batch() override { hv_.begin_batch(); }
  expected<void> end_batch() override { return hv_.end_batch(); }
  expected<call_outcome> call(const method& m, arg_list args, const std::optional<public_key>& caller,
                              std::optional<std::uint64_t> seq) override {
    auto out = hv_.invoke(m.actor_id, m.function, std::move(args), invoke_options{.caller = caller, .seq = seq});
    // Host handles mean nothing outside the node: a result's caps are released here (the
    // host's table does not grow with calls) and shown as the log shows them, cap #i naming
    // result_caps[i].
    if (out) hv_.release_caps(out->result);
    return out;
  }
  expected<std::uint64_t> last_seq(const public_key& caller) override { return hv_.last_seq(caller); }
  expected<digest> state_root() override { return hv_.state_root(); }
  const log_reader& log() const override { return hv_.log(); }
  digest log_last() const override { return hv_.log().last_hash(); }
  expected<state_read> read(const id& actor, byte_view key) override {
    state_read out;
    out.key = storage_key(actor, key);
    auto root = hv_.state_root();
    if (!root) return unexpected(std::move(root).error());
    auto v = hv_.tree().get(out.key);
    if (!v) return unexpected(std::move(v).error());
    auto p = hv_.tree().prove(out.key);
    if (!p) return unexpected(std::move(p).error());
    out.value = std::move(*v);
    out.root = *root;
    out.proof = encode_proof(*p);
    return out;
  }

  expected<void> set_write_behind(bool on) override {
    if constexpr (write_behind_store<typename H::store_type>) return hv_.store().set_write_behind(on);
    else return {};
  }
  void when_durable(std::function<void(const expected<void>&)> fn) override {
    if constexpr (write_behind_store<typename H::store_type>) hv_.store().when_durable(std::move(fn));
    else fn(expected<void>{});
  }
  std::optional<error> take_failure() override {
    if constexpr (write_behind_store<typename H::store_type>) return hv_.store().take_failure();
    else return std::nullopt;
  }
  expected<void> rollback() override { return hv_.rollback(); }

 private:
  H& hv_;
  description d_;
  std::map<std::string, id, std::less<>> actors_;
  const bytes* image_file_ = nullptr;
  std::function<expected<std::shared_ptr<const served_file>>(const digest&)> kept_;
  std::function<expected<std::shared_ptr<const served_file>>()> snapshot_;
};

}  // namespace exo
