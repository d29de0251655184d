// Verifying a running node from outside, through the real server on loopback: its log and
// image fetched as exo.entries and exo.image hand them out and replayed here while the node
// serves calls; a follower meeting a divergence the test plants in what the node hands out;
// tampered images; a log another key signs; and replies of the wrong shape.

#include "../boot/app.hpp"

#include <exo/boot/node.hpp>
#include <exo/boot/prune.hpp>
#include <exo/rpc/client.hpp>
#include <exo/rpc/remote.hpp>
#include <exo/rpc/server.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

using exo::json;
using exo::rpc::client;

/// Serves another service as it is, except for what a test plants in it: an entry whose
/// result exo.entries hands out changed, and another image file (and hash) than the node's.
class planted final : public exo::service {
 public:
  explicit planted(exo::service& in) : in_(in), d_(in.describe()), log_(*this) {}
  std::optional<std::uint64_t> tamper_entry;
  std::optional<exo::bytes> image;

  void claim_image(const exo::digest& h) { d_.image = h; }
  const description& describe() const override { return d_; }
  const exo::id* actor(std::string_view name) const override { return in_.actor(name); }
  void begin_batch() override { in_.begin_batch(); }
  exo::expected<void> end_batch() override { return in_.end_batch(); }
  exo::expected<exo::call_outcome> call(const exo::method& m, exo::arg_list args, const std::optional<exo::public_key>& caller,
                                        std::optional<std::uint64_t> seq) override {
    return in_.call(m, std::move(args), caller, seq);
  }
  exo::expected<std::uint64_t> last_seq(const exo::public_key& caller) override { return in_.last_seq(caller); }
  exo::expected<exo::digest> state_root() override { return in_.state_root(); }
  const exo::log_reader& log() const override { return log_; }
  exo::digest log_last() const override { return in_.log_last(); }
  exo::expected<exo::state_read> read(const exo::id& a, exo::byte_view key) override { return in_.read(a, key); }
  const exo::bytes* image_file() const override { return image ? &*image : in_.image_file(); }
  std::optional<exo::bytes> snapshot;
  exo::expected<std::shared_ptr<const served_file>> snapshot_file() override {
    if (snapshot) return std::make_shared<const served_file>(served_file{*snapshot, exo::hash(*snapshot)});
    return in_.snapshot_file();
  }
  exo::expected<void> set_write_behind(bool on) override { return in_.set_write_behind(on); }
  void when_durable(std::function<void(const exo::expected<void>&)> fn) override { in_.when_durable(std::move(fn)); }
  std::optional<exo::error> take_failure() override { return in_.take_failure(); }
  exo::expected<void> rollback() override { return in_.rollback(); }

 private:
  struct tampered_log final : exo::log_reader {
    const planted& p;
    explicit tampered_log(const planted& owner) : p(owner) {}
    std::uint64_t size() const override { return p.in_.log().size(); }
    exo::expected<exo::bytes> read(std::uint64_t i) const override {
      auto raw = p.in_.log().read(i);
      if (!raw || p.tamper_entry != i) return raw;
      auto e = exo::decode_entry(*raw).value();
      e.result = exo::value("planted");
      return exo::encode_entry(e);
    }
    exo::expected<std::optional<exo::bytes>> head() const override { return p.in_.log().head(); }
  };
  exo::service& in_;
  description d_;
  tampered_log log_;
};

/// The notes application booted on a temporary directory, served (as it is, or through a
/// planted service) on a free loopback port.
struct served_node {
  test::temp_dir t;
  app_test::registry r;
  exo::node_key owner = exo::node_key::generate().value();
  std::string image_path = t.sub("app.exo");
  std::unique_ptr<exo::node> n;
  std::optional<planted> plant;
  std::unique_ptr<exo::rpc::server> srv;
  /// With `setup`, served through a planted service that `setup` plants in before the server
  /// starts (the server's threads read it from then on).
  explicit served_node(const std::function<void(served_node&, planted&)>& setup = {}) {
    app_test::pack_to(app_test::make_app(t, "app", app_test::notes_manifest(exo::to_hex(owner.public_key().view()))), image_path);
    n = exo::node::boot(image_path, t.sub("data"), r.reg).value();
    exo::service* s = &n->service();
    if (setup) {
      s = &plant.emplace(n->service());
      setup(*this, *plant);
    }
    auto started = exo::rpc::server::start(*s, {.listen = "127.0.0.1:0"});
    BOOST_REQUIRE_MESSAGE(started, (started ? "" : started.error().message));
    srv = std::move(*started);
  }
  client connect() {
    auto c = client::connect(srv->url());
    BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
    return std::move(*c);
  }
  exo::public_key node_key() const { return n->service().describe().node_key; }
};

exo::image image_of(client& c) {
  auto file = exo::rpc::fetch_image(c);
  BOOST_REQUIRE_MESSAGE(file, (file ? "" : file.error().message));
  auto img = exo::read_image(*file);
  BOOST_REQUIRE_MESSAGE(img, (img ? "" : img.error().message));
  return std::move(*img);
}

/// The exo command run as a child process, its stdout and stderr on one pipe.
struct command {
  pid_t pid = -1;
  int out = -1;
  std::string text;
  explicit command(std::vector<std::string> args) {
    int fds[2];
    BOOST_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    args.insert(args.begin(), EXO_TEST_EXO_CLI);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid, EXO_TEST_EXO_CLI, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    BOOST_REQUIRE_MESSAGE(rc == 0, "cannot run " << EXO_TEST_EXO_CLI);
    out = fds[0];
  }
  command(const command&) = delete;
  ~command() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (out >= 0) ::close(out);
  }
  /// Reads its output until `part` appears in it or `seconds` pass; whether it appeared.
  bool wait_for(std::string_view part, int seconds = 60) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    char buf[4096];
    while (text.find(part) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{out, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = ::read(out, buf, sizeof buf);
      if (n <= 0) return text.find(part) != std::string::npos;
      text.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  /// Its exit code (waiting for it).
  int exit_code() {
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(remote)

BOOST_AUTO_TEST_CASE(a_node_serving_calls_meanwhile_verifies_from_outside) {
  served_node s;
  std::atomic<bool> calling = true;
  std::atomic<int> made = 0;
  std::thread caller([&] {
    auto c = client::connect(s.srv->url());
    for (int i = 0; c && i < 300; ++i)
      if (c->call("counter.add", json::array({i}))) ++made;
    calling = false;
  });
  auto c = s.connect();
  const exo::image img = image_of(c);
  BOOST_TEST(exo::to_hex(img.hash) == c.info()["image"].get<std::string>());
  exo::image_log_verifier v(img, s.r.reg, {.node_key = s.node_key()});
  exo::rpc::remote_log log(c);
  int rounds = 0;
  for (bool last = false; !last; ++rounds) {
    last = !calling;  // one more round after the calls end, to see them all
    BOOST_REQUIRE(log.refresh());
    auto& verdict = v.advance(log);
    BOOST_REQUIRE_MESSAGE(verdict.ok(), verdict.to_string());
    BOOST_TEST(verdict.entries == log.size());
    log.forget_before(verdict.entries);  // what a follower keeps: nothing verified
  }
  caller.join();
  BOOST_TEST(made == 300);
  BOOST_TEST_MESSAGE("verified in " << rounds << " rounds while the node served calls");
  auto hs = c.handshake().value();
  BOOST_TEST(v.result().entries == hs["log"]["size"].get<std::uint64_t>());
  BOOST_TEST(exo::to_hex(v.result().final_root) == hs["root"].get<std::string>());
  // Letting verified entries go keeps the follower small; reading one is a clear error.
  auto gone = log.read(0);
  BOOST_REQUIRE(!gone);
  BOOST_TEST(gone.error().message.find("let go of") != std::string::npos, gone.error().message);
}

BOOST_AUTO_TEST_CASE(a_follower_reports_a_divergence_planted_in_what_the_node_hands_out) {
  std::uint64_t at = 0;
  served_node s([&](served_node& node, planted& p) {
    at = node.n->hypervisor().log().size() + 2;  // the third call's entry
    p.tamper_entry = at;
  });
  auto c = s.connect();
  exo::image_log_verifier v(image_of(c), s.r.reg, {.node_key = s.node_key()});
  exo::rpc::remote_log log(c);
  std::vector<bool> ok_after_call;
  BOOST_REQUIRE(log.refresh());
  BOOST_REQUIRE(v.advance(log).ok());
  for (int i = 1; i <= 4; ++i) {
    BOOST_REQUIRE(c.call("counter.add", json::array({i})));
    BOOST_REQUIRE(log.refresh());
    ok_after_call.push_back(v.advance(log).ok());
  }
  BOOST_TEST((ok_after_call == std::vector<bool>{true, true, false, false}));
  const exo::verdict& d = v.result();
  BOOST_REQUIRE(d.first);
  BOOST_TEST(d.first->index == at);
  BOOST_TEST(d.first->field == "result");
  BOOST_TEST(d.first->expected == "\"planted\"");
  BOOST_REQUIRE(d.first->entry_intact);
  BOOST_TEST(!*d.first->entry_intact);  // the node's own chain names another entry
  BOOST_TEST(d.entries == at);
  BOOST_TEST(c.call("counter.get", json::array()).has_value());  // the node is none the worse
}

BOOST_AUTO_TEST_CASE(exo_verify_follow_reports_a_divergence_planted_in_a_running_node) {
  std::uint64_t at = 0;
  served_node s([&](served_node& node, planted& p) {
    at = node.n->hypervisor().log().size() + 1;  // the second call's entry
    p.tamper_entry = at;
  });
  auto c = s.connect();
  command follow({"verify", s.srv->url(), "--follow", "--every", "0.1", "--node-key",
                  exo::to_hex(s.node_key().view()), "--plugin-dir", EXO_TEST_PLUGIN_DIR});
  BOOST_REQUIRE_MESSAGE(follow.wait_for(fmt::format("verified {} entries", at - 1)), follow.text);
  BOOST_REQUIRE(c.call("counter.add", json::array({1})));
  BOOST_REQUIRE_MESSAGE(follow.wait_for(fmt::format("verified {} entries", at)), follow.text);
  BOOST_REQUIRE(c.call("counter.add", json::array({2})));  // the entry the node hands out changed
  BOOST_REQUIRE_MESSAGE(follow.wait_for("VERIFICATION FAILED"), follow.text);
  BOOST_TEST(follow.exit_code() == 1, follow.text);
  follow.wait_for("changed after it was logged", 5);
  BOOST_TEST_MESSAGE(follow.text);
  BOOST_TEST(follow.text.find(fmt::format("first divergence: entry {}, field 'result'", at)) != std::string::npos, follow.text);
  BOOST_TEST(follow.text.find("the log says: \"planted\"") != std::string::npos, follow.text);
  BOOST_TEST(follow.text.find("changed after it was logged") != std::string::npos, follow.text);
}

BOOST_AUTO_TEST_CASE(a_tampered_image_handed_out_fails_remote_verification) {
  {  // A byte changed: not an image, or not the one the handshake names.
    served_node s([](served_node& node, planted& p) {
      exo::bytes file = exo::read_file(node.image_path).value();
      file[file.size() / 2] ^= 1;
      p.image = file;
    });
    auto c = s.connect();
    const std::string claimed = c.info()["image"].get<std::string>();
    auto got = exo::rpc::fetch_image(c);
    BOOST_REQUIRE(got);
    BOOST_TEST(exo::to_hex(exo::hash(*got)) != claimed);
    auto img = exo::read_image(*got);
    BOOST_TEST((!img || exo::to_hex(img->hash) != claimed));
  }
  // A consistent liar: another well-formed image (init adds 1000, not 10) under the same
  // name, with its hash in the handshake. The log's boot entries (and its init entry, which
  // names the image booted) are not this image's.
  exo::digest liar{};
  served_node s([&](served_node& node, planted& p) {
    std::string other = app_test::notes_manifest(exo::to_hex(node.owner.public_key().view()));
    other.replace(other.find("\"args\": [10]"), 12, "\"args\": [1000]");
    p.image = app_test::pack_to(app_test::make_app(node.t, "other", other), node.t.sub("other.exo"));
    liar = exo::read_image(*p.image).value().hash;
    p.claim_image(liar);
  });
  auto c = s.connect();
  BOOST_TEST(c.info()["image"].get<std::string>() == exo::to_hex(liar));
  const exo::image served = image_of(c);
  BOOST_TEST((served.hash == liar));
  exo::image_log_verifier v(served, s.r.reg, {.node_key = s.node_key()});
  exo::rpc::remote_log log(c);
  BOOST_REQUIRE(log.refresh());
  auto& verdict = v.advance(log);
  BOOST_TEST_MESSAGE(verdict.to_string());
  BOOST_REQUIRE(!verdict.ok());
  // The boot entries are checked against the image first: the init message differs.
  BOOST_TEST(verdict.first->index == 3u);
  BOOST_TEST(verdict.first->field == "boot");
  BOOST_TEST(verdict.first->expected.find("1000") != std::string::npos, verdict.first->expected);
}

BOOST_AUTO_TEST_CASE(a_node_whose_log_another_key_signs_fails_with_the_key_pinned) {
  served_node s;
  auto c = s.connect();
  exo::rpc::remote_log log(c);
  BOOST_REQUIRE(log.refresh());
  const exo::image img = image_of(c);
  exo::image_log_verifier right(img, s.r.reg, {.node_key = s.node_key()});
  BOOST_TEST(right.advance(log).ok());
  exo::image_log_verifier wrong(img, s.r.reg, {.node_key = exo::node_key::generate().value().public_key()});
  auto& verdict = wrong.advance(log);
  BOOST_REQUIRE(!verdict.ok());
  BOOST_TEST(verdict.first->field == "key");
}

BOOST_AUTO_TEST_CASE(a_node_hands_out_its_checkpoint_to_verify_from_and_a_tampered_one_is_refused) {
  auto record = [](served_node& node, planted&) {
    auto& hv = node.n->hypervisor();
    BOOST_REQUIRE(exo::record_checkpoint(hv.store(), hv.log()));
  };
  served_node s(record);
  auto c = s.connect();
  for (int i = 0; i < 5; ++i) BOOST_REQUIRE(c.call("counter.add", json::array({i})));
  auto file = exo::rpc::fetch_snapshot(c);
  BOOST_REQUIRE_MESSAGE(file, (file ? "" : file.error().message));
  auto snap = exo::decode_snapshot(*file);
  BOOST_REQUIRE_MESSAGE(snap, (snap ? "" : snap.error().message));
  const std::uint64_t k = exo::check_checkpoint(snap->cp)->index;
  // From the checkpoint: only the entries after it are fetched and replayed.
  const exo::image img = image_of(c);
  exo::image_log_verifier v(img, *snap, s.r.reg, {.node_key = s.node_key()});
  exo::rpc::remote_log log(c);
  log.start_at(k);
  BOOST_REQUIRE(log.refresh());
  auto& verdict = v.advance(log);
  BOOST_TEST(verdict.ok(), verdict.to_string());
  BOOST_TEST(verdict.entries == s.n->hypervisor().log().size());
  BOOST_TEST(verdict.final_root == s.n->hypervisor().state_root().value());
  BOOST_TEST(!log.read(k - 1).has_value());  // never fetched
  // A node that hands out a snapshot whose state is not the one it signed (resealed, so the
  // file's checksum holds): refused before anything is replayed.
  served_node liar([&](served_node& node, planted& p) {
    record(node, p);
    auto& hv = node.n->hypervisor();
    auto bad = exo::recorded_snapshot(hv.store(), hv.log()).value();
    bad.nodes.front().back() ^= 1;
    p.snapshot = exo::encode_snapshot(bad).value();
  });
  auto lc = liar.connect();
  auto lied = exo::rpc::fetch_snapshot(lc);
  BOOST_REQUIRE(lied);
  auto refused = exo::decode_snapshot(*lied);
  BOOST_REQUIRE(!refused);
  BOOST_TEST(refused.error().message.find("not a valid exo snapshot") != std::string::npos, refused.error().message);
  // A node with no checkpoint says so.
  served_node none;
  auto nc = none.connect();
  auto no = exo::rpc::fetch_snapshot(nc);
  BOOST_REQUIRE(!no);
  BOOST_TEST(no.error().code == exo::rpc::method_not_found);
  BOOST_TEST(nc.info()["log_base"] == 0);
}

BOOST_AUTO_TEST_CASE(bad_requests_for_entries_and_images_get_clear_errors) {
  served_node s;
  auto c = s.connect();
  auto no_from = c.request("exo.entries", json::object());
  BOOST_REQUIRE(!no_from);
  BOOST_TEST(no_from.error().code == exo::rpc::invalid_params);
  auto too_many = c.request("exo.entries", json{{"from", 0}, {"count", 1001}});
  BOOST_REQUIRE(!too_many);
  BOOST_TEST(too_many.error().code == exo::rpc::invalid_params);
  auto big_chunk = c.request("exo.image", json{{"from", 0}, {"count", exo::rpc::image_chunk_max + 1}});
  BOOST_REQUIRE(!big_chunk);
  BOOST_TEST(big_chunk.error().code == exo::rpc::invalid_params);
  // Past the end: an empty page, with the size.
  auto past = c.request("exo.entries", json{{"from", 1'000'000}, {"count", 10}});
  BOOST_REQUIRE(past);
  BOOST_TEST((*past)["entries"].empty());
  BOOST_TEST((*past)["size"] == s.n->hypervisor().log().size());
  auto past_image = c.request("exo.image", json{{"from", 1ull << 40}});
  BOOST_REQUIRE(past_image);
  BOOST_TEST((*past_image)["data"] == "");
  // An image by hash: the one the node runs; a hash it keeps no image for, or no hash at all,
  // is a clear error (images kept after an upgrade are fetched in tests/e2e).
  auto running = c.request("exo.image", json{{"from", 0}, {"image", exo::to_hex(s.n->image().hash)}});
  BOOST_REQUIRE(running);
  BOOST_TEST((*running)["hash"] == exo::to_hex(s.n->image().hash));
  auto unknown = c.request("exo.image", json{{"from", 0}, {"image", std::string(64, 'a')}});
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(unknown.error().code == exo::rpc::invalid_params);
  BOOST_TEST(unknown.error().message.find("keeps no image") != std::string::npos, unknown.error().message);
  for (const json& bad : {json("abc"), json(42), json(std::string(63, 'a'))}) {
    auto r = c.request("exo.image", json{{"from", 0}, {"image", bad}});
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().code == exo::rpc::invalid_params);
    BOOST_TEST(r.error().message.find("64 hex digits") != std::string::npos, r.error().message);
  }
  BOOST_TEST(c.call("counter.get", json::array()).has_value());  // still serving
}

BOOST_AUTO_TEST_SUITE_END()
