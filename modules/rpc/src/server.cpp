#include <exo/call_log/file.hpp>
#include <exo/call_log/json.hpp>
#include <exo/core/json.hpp>
#include <exo/rpc/server.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace exo::rpc {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// A JSON string of exactly 2N hex digits as N bytes (a key, a signature, a hash), or nullopt.
template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> hex_array(const json& j) {
  auto b = j.is_string() ? from_hex(j.get<std::string>()) : fail(errc::invalid_argument, "not a string");
  if (!b || b->size() != N) return std::nullopt;
  std::array<std::uint8_t, N> out;
  std::copy(b->begin(), b->end(), out.begin());
  return out;
}

json error_reply(const json& id, int code, std::string message, json data = nullptr) {
  json e{{"code", code}, {"message", std::move(message)}};
  if (!data.is_null()) e["data"] = std::move(data);
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(e)}};
}
json result_reply(const json& id, json result) { return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}; }

class session;

// One request the executor will run.
struct job {
  enum class kind { call, handshake, log, entries, export_log, image, snapshot, read } what;
  std::shared_ptr<session> from;
  json id;
  bool notification = false;
  // calls
  const method* fn = nullptr;
  arg_list args;
  std::optional<public_key> caller;
  std::uint64_t seq = 0;  // a signed call's sequence number
  // reads
  json params;
  // filled by the executor
  std::string reply;
  bool refused = false;  // answered before it ran (a replayed signed call)
};

}  // namespace

struct server::impl {
  service& svc;
  server_options opts;
  // Sessions count themselves here until they are destroyed, which can be as late as the
  // io_context's destruction: so this is declared (and outlives) it.
  std::atomic<std::size_t> connections{0};
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread network, executor;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<job> queue;
  bool stopping = false;
  bool woken = false;  // wake(): pump at once
  std::atomic<bool> stopped{false};
  std::atomic<std::uint64_t> calls{0}, batches{0}, rejected{0};
  std::string host;
  json methods = json::array();
  std::map<std::string, const method*, std::less<>> by_name;  // the service's methods

  impl(service& s, server_options o) : svc(s), opts(std::move(o)) {}
  std::mutex note_mu;  // opts.log is called by one thread at a time
  void note(const std::string& line) {
    if (!opts.log) return;
    std::lock_guard lk(note_mu);
    opts.log(line);
  }

  void accept();
  void handle(const std::shared_ptr<session>& s, std::string_view text);
  void executor_loop();
  // Runs a batch and fills in its replies; true if its calls' commit was queued.
  bool run_batch(std::vector<job>& batch, std::size_t& ncalls);
  std::string run_read(job& j);
  // opts.maintain, with nothing written behind (executor thread).
  void upkeep();
  // opts.pump, the same way; and going back to the last commit on disk when one failed.
  void pump_now();
  void back_to_disk();
  std::uint64_t since_upkeep = 0;  // calls committed since (executor thread)
};

namespace {

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket&& s, server::impl& srv) : ws_(std::move(s)), srv_(srv) { ++srv_.connections; }
  ~session() { --srv_.connections; }

  void start(bool refuse) {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.read_message_max(srv_.opts.max_frame);
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(beast::http::field::server, "exo");
    }));
    if (refuse) {
      srv_.note("refused a connection: too many open");
      return;  // dropping the socket refuses it
    }
    ws_.async_accept(beast::bind_front_handler(&session::on_accept, shared_from_this()));
  }

  // On the network thread.
  void send(std::string msg) {
    out_.push_back(std::move(msg));
    if (out_.size() == 1) write();
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return;
    read();
  }
  void read() { ws_.async_read(buf_, beast::bind_front_handler(&session::on_read, shared_from_this())); }
  void on_read(beast::error_code ec, std::size_t) {
    if (ec) {
      if (ec == websocket::error::message_too_big)
        srv_.note(fmt::format("closed a connection that sent a frame over {} bytes (close code 1009)", srv_.opts.max_frame));
      return;  // closed (Beast has sent the close frame)
    }
    std::string text = beast::buffers_to_string(buf_.data());
    buf_.consume(buf_.size());
    srv_.handle(shared_from_this(), text);
    read();
  }
  void write() {
    ws_.text(true);
    ws_.async_write(net::buffer(out_.front()), beast::bind_front_handler(&session::on_write, shared_from_this()));
  }
  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return;
    out_.pop_front();
    if (!out_.empty()) write();
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buf_;
  std::deque<std::string> out_;
  server::impl& srv_;
};

}  // namespace

void server::impl::accept() {
  acceptor.async_accept(ioc, [this](beast::error_code ec, tcp::socket s) {
    if (ec) return;  // closed: stopping
    beast::error_code ignored;
    s.set_option(tcp::no_delay(true), ignored);  // replies are small and awaited: send them at once
    auto sess = std::make_shared<session>(std::move(s), *this);
    sess->start(connections > opts.max_connections);
    accept();
  });
}

// On the network thread: checks a request and answers it or queues it.
void server::impl::handle(const std::shared_ptr<session>& s, std::string_view text) {
  bool silent = false;  // a well-formed notification: JSON-RPC gives it no reply, not even an error
  auto reject = [&](const json& id, int code, std::string msg) {
    ++rejected;
    if (!silent) s->send(error_reply(id, code, std::move(msg)).dump());
  };
  json req = json::parse(text, nullptr, false);
  if (req.is_discarded()) return reject(nullptr, parse_error, "parse error: the message is not JSON");
  if (!req.is_object()) return reject(nullptr, invalid_request, "invalid request: a JSON-RPC request is an object");
  json id = nullptr;
  bool notification = true;
  if (auto it = req.find("id"); it != req.end()) {
    if (!it->is_string() && !it->is_number_integer() && !it->is_number_unsigned() && !it->is_null())
      return reject(nullptr, invalid_request, "invalid request: \"id\" must be a string, an integer or null");
    id = *it;
    notification = false;
  }
  auto ver = req.find("jsonrpc");
  if (ver == req.end() || *ver != "2.0") return reject(id, invalid_request, "invalid request: \"jsonrpc\" must be \"2.0\"");
  auto m = req.find("method");
  if (m == req.end() || !m->is_string()) return reject(id, invalid_request, "invalid request: \"method\" must be a string");
  const std::string method = m->get<std::string>();
  json params = req.value("params", json());
  if (!params.is_null() && !params.is_array() && !params.is_object())
    return reject(id, invalid_request, "invalid request: \"params\" must be an array or an object");
  silent = notification;

  job j{};
  j.from = s;
  j.id = id;
  j.notification = notification;
  if (method == "exo.handshake") j.what = job::kind::handshake;
  else if (method == "exo.log") j.what = job::kind::log;
  else if (method == "exo.entries") j.what = job::kind::entries;
  else if (method == "exo.export_log") j.what = job::kind::export_log;
  else if (method == "exo.image") j.what = job::kind::image;
  else if (method == "exo.snapshot") j.what = job::kind::snapshot;
  else if (method == "exo.read") j.what = job::kind::read;
  else {
    j.what = job::kind::call;
    auto found = by_name.find(method);
    j.fn = found == by_name.end() ? nullptr : found->second;
    if (!j.fn) return reject(id, method_not_found, fmt::format("method not found: '{}' is not an exported function (exo.handshake lists them)", method));
    json args_json = params.is_null() ? json::array() : params;
    std::optional<signature> sig;
    if (params.is_object()) {
      for (auto it = params.begin(); it != params.end(); ++it)
        if (it.key() != "args" && it.key() != "caller" && it.key() != "seq" && it.key() != "signature")
          return reject(id, invalid_params,
                        fmt::format("invalid params: unknown field \"{}\" (args, caller, seq, signature)", it.key()));
      args_json = params.value("args", json::array());
      auto c = params.find("caller");
      auto g = params.find("signature");
      auto q = params.find("seq");
      if ((c == params.end()) != (g == params.end()) || (c == params.end()) != (q == params.end()))
        return reject(id, invalid_params, "invalid params: a signed call needs \"caller\", \"seq\" and \"signature\" "
                                          "(exo.handshake with {\"caller\": KEY} gives the next seq)");
      if (c != params.end()) {
        auto kb = hex_array<32>(*c);
        auto sb = hex_array<64>(*g);
        if (!kb) return reject(id, invalid_params, "invalid params: \"caller\" must be a 64-hex-digit Ed25519 public key");
        if (!sb) return reject(id, invalid_params, "invalid params: \"signature\" must be 128 hex digits");
        if (!q->is_number_unsigned() || q->get<std::uint64_t>() == 0 ||
            q->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          return reject(id, invalid_params, "invalid params: \"seq\" must be an integer from 1 to 2^63-1");
        j.caller = public_key{*kb};
        j.seq = q->get<std::uint64_t>();
        sig = signature{*sb};
      }
    }
    if (!args_json.is_array()) return reject(id, invalid_params, "invalid params: the arguments must be a list");
    auto args = from_json(args_json, "argument");
    if (!args) return reject(id, invalid_params, "invalid params: " + args.error().message);
    const digest& image = svc.describe().image;
    if (sig && !verify_signature(*j.caller, call_message(image, method, *args, j.seq), *sig))
      return reject(id, bad_signature, fmt::format("the signature does not verify: it is not {}'s signature of this call "
                                                   "of {} on image {}",
                                                   to_hex(j.caller->view()).substr(0, 16), method, short_hex(image)));
    if (!allowed(*j.fn, j.caller))
      return reject(id, not_allowed, j.caller ? fmt::format("{} is reserved for other keys than {}", method, to_hex(j.caller->view()).substr(0, 16))
                                              : fmt::format("{} is reserved for certain keys: sign the call (exo call --key FILE)", method));
    auto bound = bind_args(*j.fn, *args);
    if (!bound) return reject(id, invalid_params, "invalid params: " + bound.error().message);
    j.args = std::move(*bound);
  }
  if (j.what != job::kind::call) j.params = std::move(params);
  {
    std::lock_guard lk(mu);
    if (queue.size() >= opts.max_queue) {
      ++rejected;
      if (!notification)
        s->send(error_reply(id, busy, fmt::format("server busy: {} requests are queued; retry later", queue.size())).dump());
      return;
    }
    queue.push_back(std::move(j));
  }
  cv.notify_one();
}

void server::impl::executor_loop() {
  // Group commit, pipelined: the store writes a batch behind (exo/store/lmdb_store.hpp) while
  // this thread runs the next one, and a batch's replies go out when it is on disk.
  auto next_pump = std::chrono::steady_clock::now();
  for (;;) {
    auto batch = std::make_shared<std::vector<job>>();
    bool idle = false;  // no request waits once this batch is taken
    {
      std::unique_lock lk(mu);
      auto ready = [&] { return stopping || !queue.empty() || woken; };
      if (opts.pump) cv.wait_until(lk, next_pump, ready);
      else cv.wait(lk, ready);
      if (queue.empty() && stopping) return;  // everything taken was answered
      while (!queue.empty() && batch->size() < opts.max_batch) {
        batch->push_back(std::move(queue.front()));
        queue.pop_front();
      }
      idle = queue.empty();
      if (woken) next_pump = std::chrono::steady_clock::now();  // (due now)
      woken = false;
    }
    if (batch->empty()) {  // (only a pump's wait, or wake(), ends with none)
      if (opts.pump) pump_now();
      next_pump = std::chrono::steady_clock::now() + opts.pump_every;
      continue;
    }
    back_to_disk();
    std::size_t ncalls = 0;
    const bool queued = run_batch(*batch, ncalls);
    since_upkeep += ncalls;
    svc.when_durable([this, batch, queued, ncalls](const expected<void>& on_disk) {
      if (queued && !on_disk) {
        if (ncalls) note(fmt::format("a commit failed, {} calls undone: {}", ncalls, on_disk.error().message));
        for (auto& j : *batch)
          j.reply = error_reply(j.id, not_durable,
                                (j.what == job::kind::call ? "not durable: the commit failed, and the call was undone: "
                                                           : "not durable: the state this read saw was not committed: ") +
                                    on_disk.error().message)
                        .dump();
      } else if (queued && ncalls) {
        calls += ncalls;
        ++batches;
      }
      // One hand-over to the network thread for the whole batch: this runs on the store's
      // writer thread, between its writes.
      net::post(ioc, [batch] {
        for (auto& j : *batch)
          if (!j.notification) j.from->send(std::move(j.reply));
      });
    });
    if (opts.maintain && opts.maintain_every && since_upkeep >= opts.maintain_every) upkeep();
    if (opts.pump && (idle || std::chrono::steady_clock::now() >= next_pump)) {
      pump_now();
      next_pump = std::chrono::steady_clock::now() + opts.pump_every;
    }
  }
}

void server::impl::back_to_disk() {
  if (auto failed = svc.take_failure()) {
    // A batch written behind did not reach the disk (its replies say so): go back to what did.
    auto back = svc.rollback();
    note("a commit failed; the state is back at the last one on disk" +
         (back ? std::string() : "; going back failed: " + back.error().message));
  }
}

void server::impl::pump_now() {
  back_to_disk();
  if (auto off = svc.set_write_behind(false); !off) {  // (every batch on disk)
    note("the node's own work skipped: " + off.error().message);  // (the next batch goes back first)
    if (auto on = svc.set_write_behind(true); !on) note("writing behind again failed: " + on.error().message);
    return;
  }
  if (auto on = svc.set_write_behind(true); !on) note("writing behind again failed: " + on.error().message);
  if (auto ran = opts.pump(); !ran) note(ran.error().message);
}

void server::impl::upkeep() {
  since_upkeep = 0;
  if (auto off = svc.set_write_behind(false); !off) {
    // A queued commit failed (its replies said so); the next batch goes back first.
    note("upkeep skipped: " + off.error().message);
  } else if (auto done = opts.maintain(); !done) {
    note("upkeep failed: " + done.error().message);
  } else {
    note(*done);
  }
  if (auto on = svc.set_write_behind(true); !on) note("writing behind again failed: " + on.error().message);
}

bool server::impl::run_batch(std::vector<job>& batch, std::size_t& ncalls) {
  std::vector<std::optional<expected<call_outcome>>> outs(batch.size());
  svc.begin_batch();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    job& j = batch[i];
    if (j.what != job::kind::call) continue;
    if (j.caller) {
      // A signed call is accepted once. (The service checks too, and logs nothing it refuses;
      // checking here gives the client its own error code.)
      auto last = svc.last_seq(*j.caller);
      if (!last || j.seq <= *last) {
        j.reply = last ? error_reply(j.id, replayed,
                                     fmt::format("replayed: {} already had call {} accepted, and this call's seq is {}; "
                                                 "a signed call is accepted once: sign it again with a seq above {} "
                                                 "(exo.handshake with {{\"caller\": KEY}} gives the next)",
                                                 to_hex(j.caller->view()).substr(0, 16), *last, j.seq, *last),
                                     json{{"next_seq", *last + 1}})
                                .dump()
                         : error_reply(j.id, internal_error, "the caller's sequence cannot be read: " + last.error().message).dump();
        j.refused = true;
        continue;
      }
    }
    outs[i] = svc.call(*j.fn, std::move(j.args), j.caller, j.caller ? std::optional<std::uint64_t>(j.seq) : std::nullopt);
    ++ncalls;
  }
  auto committed = svc.end_batch();
  if (ncalls && !committed) note("a commit failed, " + std::to_string(ncalls) + " calls undone: " + committed.error().message);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    job& j = batch[i];
    if (j.what != job::kind::call) {
      j.reply = run_read(j);
      continue;
    }
    if (j.refused) continue;
    auto& out = *outs[i];
    if (!committed) {
      j.reply = error_reply(j.id, not_durable, "not durable: the commit failed, and the call was undone: " + committed.error().message).dump();
    } else if (!out) {
      j.reply = error_reply(j.id, internal_error, "the call could not be logged: " + out.error().message).dump();
    } else if (out->error) {
      j.reply = error_reply(j.id, call_failed, out->error->message,
                            json{{"index", out->index}, {"errc", std::string(to_string(out->error->code))},
                                 {"root", to_hex(out->root)}, {"ticks", out->ticks}})
                    .dump();
    } else {
      json r{{"result", to_json(out->result)}, {"index", out->index}, {"ticks", out->ticks}, {"root", to_hex(out->root)}};
      // {"$cap": i} in the result names caps[i] (the service released the host's handles).
      if (auto* caps = out->result_caps.if_list(); caps && !caps->empty()) r["caps"] = to_json(out->result_caps);
      j.reply = result_reply(j.id, std::move(r)).dump();
    }
  }
  return static_cast<bool>(committed);
}

namespace {
// One chunk of a file handed out a piece at a time ({from, count} -> {size, hash, data}).
std::string chunk_reply(const job& j, std::string_view method, const bytes& file, const digest& named) {
  const json& p = j.params;
  if (!p.is_object() || !p.value("from", json()).is_number_unsigned())
    return error_reply(j.id, invalid_params, fmt::format("invalid params: {} takes {{from, count}}", method)).dump();
  const std::uint64_t from = p["from"].get<std::uint64_t>();
  const std::uint64_t count = p.value("count", json(image_chunk_max)).is_number_unsigned()
                                  ? p.value("count", std::uint64_t{image_chunk_max}) : 0;
  if (count == 0 || count > image_chunk_max)
    return error_reply(j.id, invalid_params, fmt::format("invalid params: count must be 1 to {}", image_chunk_max)).dump();
  const std::uint64_t at = std::min<std::uint64_t>(from, file.size());
  const std::uint64_t n = std::min<std::uint64_t>(count, file.size() - at);
  return result_reply(j.id, json{{"size", file.size()}, {"hash", to_hex(named)},
                                 {"data", to_hex(byte_view(file.data() + at, n))}})
      .dump();
}
}  // namespace

std::string server::impl::run_read(job& j) {
  const log_reader& log = svc.log();
  auto head_json = [&] {
    return json{{"size", log.size()}, {"head", to_hex(svc.log_last())}};
  };
  switch (j.what) {
    case job::kind::handshake: {
      auto root = svc.state_root();
      if (!root) return error_reply(j.id, internal_error, root.error().message).dump();
      const service::description& d = svc.describe();
      json out{{"name", d.name},
               {"image", to_hex(d.image)},
               {"node_key", to_hex(d.node_key.view())},
               {"signing", {{"domain", call_domain}, {"message", "canonical encoding of {domain, image, method, args, seq}"},
                            {"seq", "above the last accepted from the caller: next_seq, for a caller given"}}},
               {"methods", methods},
               {"root", to_hex(*root)},
               {"log", head_json()},
               {"log_base", svc.log().base()}};
      if (j.params.is_object() && j.params.contains("caller")) {
        auto kb = hex_array<32>(j.params["caller"]);
        if (!kb)
          return error_reply(j.id, invalid_params, "invalid params: \"caller\" must be a 64-hex-digit Ed25519 public key").dump();
        auto last = svc.last_seq(public_key{*kb});
        if (!last) return error_reply(j.id, internal_error, last.error().message).dump();
        out["next_seq"] = *last + 1;
      }
      return result_reply(j.id, std::move(out)).dump();
    }
    case job::kind::log: {
      const json& p = j.params;
      if (!p.is_object() || !p.value("from", json()).is_number_unsigned())
        return error_reply(j.id, invalid_params, "invalid params: exo.log takes {from, count}").dump();
      std::uint64_t from = p["from"].get<std::uint64_t>();
      std::uint64_t count = p.value("count", json(100)).is_number_unsigned() ? p.value("count", std::uint64_t{100}) : 0;
      if (count == 0 || count > 1000)
        return error_reply(j.id, invalid_params, "invalid params: count must be 1 to 1000").dump();
      json entries = json::array();
      for (std::uint64_t i = from; i < log.size() && i < from + count; ++i) {
        auto raw = log.read(i);
        auto e = raw ? decode_entry(*raw) : unexpected(raw.error());
        if (!e) return error_reply(j.id, internal_error, e.error().message).dump();
        entries.push_back(entry_to_json(*e, entry_hash(*raw)));
      }
      return result_reply(j.id, json{{"size", log.size()}, {"entries", std::move(entries)}}).dump();
    }
    case job::kind::entries: {
      // Entries as the log holds them (their hashes chain), with the signed head that covers
      // exactly `size` of them: what a remote verifier replays (exo::rpc::remote_log).
      const json& p = j.params;
      if (!p.is_object() || !p.value("from", json()).is_number_unsigned())
        return error_reply(j.id, invalid_params, "invalid params: exo.entries takes {from, count}").dump();
      const std::uint64_t from = p["from"].get<std::uint64_t>();
      const std::uint64_t count = p.value("count", json(1000)).is_number_unsigned() ? p.value("count", std::uint64_t{1000}) : 0;
      if (count == 0 || count > 1000)
        return error_reply(j.id, invalid_params, "invalid params: count must be 1 to 1000").dump();
      auto head = log.head();
      if (!head) return error_reply(j.id, internal_error, head.error().message).dump();
      json entries = json::array();
      std::size_t bytes_out = 0;
      for (std::uint64_t i = from; i < log.size() && i - from < count && bytes_out < entries_reply_bytes; ++i) {
        auto raw = log.read(i);
        if (!raw) return error_reply(j.id, internal_error, raw.error().message).dump();
        bytes_out += raw->size();
        entries.push_back(to_hex(*raw));
      }
      return result_reply(j.id, json{{"size", log.size()}, {"head", *head ? json(to_hex(**head)) : json(nullptr)},
                                     {"entries", std::move(entries)}})
          .dump();
    }
    case job::kind::image: {
      if (j.params.is_object() && j.params.contains("image")) {  // an image the log ran on before an upgrade
        auto b = hex_array<32>(j.params["image"]);
        if (!b) return error_reply(j.id, invalid_params, "invalid params: \"image\" must be an image's hash (64 hex digits)").dump();
        const digest want{*b};
        if (!(want == svc.describe().image)) {
          auto kept = svc.kept_image(want);
          if (!kept) return error_reply(j.id, internal_error, kept.error().message).dump();
          if (!*kept)
            return error_reply(j.id, invalid_params, fmt::format("invalid params: this node keeps no image {}", to_hex(want))).dump();
          return chunk_reply(j, "exo.image", (*kept)->data, (*kept)->hash);
        }
      }
      const bytes* file = svc.image_file();
      if (!file)
        return error_reply(j.id, method_not_found, "method not found: this node hands out no image file (exo.image)").dump();
      return chunk_reply(j, "exo.image", *file, svc.describe().image);
    }
    case job::kind::snapshot: {
      // The recorded checkpoint's snapshot file; its hash tells a client that the node
      // recorded a newer one between its requests (then it starts over).
      auto file = svc.snapshot_file();
      if (!file) return error_reply(j.id, internal_error, file.error().message).dump();
      if (!*file)
        return error_reply(j.id, method_not_found, "method not found: this node records no checkpoint to hand out (exo.snapshot)").dump();
      return chunk_reply(j, "exo.snapshot", (*file)->data, (*file)->hash);
    }
    case job::kind::export_log: {
      auto file = export_log(log);
      if (!file) return error_reply(j.id, internal_error, file.error().message).dump();
      return result_reply(j.id, json{{"size", log.size()}, {"file", to_hex(*file)}}).dump();
    }
    case job::kind::read: {
      const json& p = j.params;
      if (!p.is_object() || !p.value("actor", json()).is_string() || !p.value("key", json()).is_string())
        return error_reply(j.id, invalid_params, "invalid params: exo.read takes {actor: name, key: string}").dump();
      const id* a = svc.actor(p["actor"].get<std::string>());
      if (!a) return error_reply(j.id, invalid_params, fmt::format("invalid params: no actor named '{}'", p["actor"].get<std::string>())).dump();
      const std::string key = p["key"].get<std::string>();
      auto r = svc.read(*a, as_bytes(key));
      if (!r) return error_reply(j.id, internal_error, "the state cannot be read").dump();
      json out{{"value", r->value ? json(to_hex(*r->value)) : json(nullptr)},
               {"root", to_hex(r->root)}, {"key", to_hex(r->key)}, {"proof", to_hex(r->proof)}};
      // What vouches for the root: the signed head, and the last entry, which names the root
      // and whose hash the head signs (exo::rpc::verify_read checks them).
      auto head = log.head();
      if (head && *head && log.size() > 0) {
        auto last = log.read(log.size() - 1);
        if (last) {
          out["head"] = to_hex(**head);
          out["entry"] = to_hex(*last);
        }
      }
      return result_reply(j.id, std::move(out)).dump();
    }
    case job::kind::call: break;
  }
  return error_reply(j.id, internal_error, "unknown request").dump();
}

server::server(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
server::~server() { stop(); }

expected<std::unique_ptr<server>> server::start(service& svc, server_options opts) {
  auto p = std::make_unique<impl>(svc, std::move(opts));
  const std::string& listen = p->opts.listen;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    return fail(errc::invalid_argument, fmt::format("--listen '{}' must be HOST:PORT (e.g. 127.0.0.1:7420)", listen));
  beast::error_code ec;
  auto addr = net::ip::make_address(listen.substr(0, colon), ec);
  if (ec) return fail(errc::invalid_argument, fmt::format("--listen '{}': '{}' is not an IP address", listen, listen.substr(0, colon)));
  unsigned long port = 0;
  try {
    port = std::stoul(listen.substr(colon + 1));
  } catch (...) {
    port = 65536;
  }
  if (port > 65535) return fail(errc::invalid_argument, fmt::format("--listen '{}': the port must be 0 to 65535", listen));
  tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  p->acceptor.open(ep.protocol(), ec);
  if (!ec) p->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) p->acceptor.bind(ep, ec);
  if (!ec) p->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail(errc::invalid_argument, fmt::format("cannot listen on {}: {}", listen, ec.message()));
  p->host = addr.to_string();
  for (const method& m : svc.describe().methods) {
    json params = json::array();
    for (auto& q : m.params) {
      json x{{"name", q.name}, {"type", q.type}};
      if (q.fallback) x["default"] = to_json(*q.fallback);
      params.push_back(std::move(x));
    }
    json callers = json::array();
    for (auto& c : m.callers) callers.push_back(to_hex(c.view()));
    p->methods.push_back(json{{"method", m.name()}, {"actor", m.actor}, {"actor_id", to_hex(m.actor_id)},
                              {"function", m.function}, {"params", std::move(params)}, {"callers", std::move(callers)}});
    p->by_name.emplace(m.name(), &m);
  }
  if (auto wb = svc.set_write_behind(true); !wb) return unexpected(std::move(wb).error());
  p->accept();
  impl* raw = p.get();
  p->executor = std::thread([raw] { raw->executor_loop(); });
  p->network = std::thread([raw] { raw->ioc.run(); });
  return std::unique_ptr<server>(new server(std::move(p)));
}

std::uint16_t server::port() const noexcept {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}
std::string server::url() const { return fmt::format("ws://{}:{}", impl_->host, port()); }

void server::stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  impl* p = impl_.get();
  // The executor answers everything it has taken, then stops.
  {
    std::lock_guard lk(p->mu);
    p->stopping = true;
  }
  p->cv.notify_all();
  if (p->executor.joinable()) p->executor.join();
  // Everything run is queued for the disk: wait for it (its replies go out as it lands).
  if (auto wb = p->svc.set_write_behind(false); !wb) {
    (void)p->svc.rollback();
    p->note("the last commits failed; the node is back at the last one on disk: " + wb.error().message);
  }
  // Let the network thread send those answers, then close.
  net::post(p->ioc, [p] {
    beast::error_code ec;
    p->acceptor.close(ec);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  p->ioc.stop();
  if (p->network.joinable()) p->network.join();
}

server_stats server::stats() const {
  return {impl_->calls.load(), impl_->batches.load(), impl_->rejected.load()};
}

void server::wake() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->woken = true;
  }
  impl_->cv.notify_one();
}

}  // namespace exo::rpc
