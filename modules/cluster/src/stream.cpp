// The streams between nodes over NATS JetStream (stream.hpp), on nats.c.
#include <exo/cluster/stream.hpp>

#include <fmt/format.h>
#include <nats/nats.h>

#include <algorithm>
#include <utility>

namespace exo::cluster {

namespace {

// What nats.c says went wrong: its status, its last error text, and JetStream's own code.
unexpected<error> nats_failure(std::string_view what, natsStatus s, jsErrCode js = static_cast<jsErrCode>(0)) {
  const char* last = nats_GetLastError(nullptr);
  std::string detail = last && *last ? last : natsStatus_GetText(s);
  if (js != 0) detail += fmt::format(" (JetStream error {})", static_cast<int>(js));
  return unexpected(error{errc::internal, fmt::format("NATS: {}: {}", what, detail)});
}

// A message's bytes, and the message freed.
bytes take_data(natsMsg* m) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(natsMsg_GetData(m));
  bytes out(data, data + natsMsg_GetDataLength(m));
  natsMsg_Destroy(m);
  return out;
}

}  // namespace

struct connection::impl {
  connection_options options;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  ~impl() {
    if (js) jsCtx_Destroy(js);
    if (nc) natsConnection_Destroy(nc);
  }
};

connection::connection(std::unique_ptr<impl> p) : p_(std::move(p)) {}
connection::connection(connection&&) noexcept = default;
connection& connection::operator=(connection&&) noexcept = default;
connection::~connection() = default;
const connection_options& connection::options() const noexcept { return p_->options; }

expected<connection> connection::open(const connection_options& options) {
  auto p = std::make_unique<impl>();
  p->options = options;
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  const auto timeout = std::max<std::int64_t>(1, options.timeout.count());
  const std::int64_t wait = 250;
  if (s == NATS_OK) s = natsOptions_SetURL(opts, options.url.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, timeout);
  // A reply waits in the library's buffer for up to a millisecond unless sent at once.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, wait);
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect(opts, static_cast<int>(std::max<std::int64_t>(1, options.reconnect_for.count() / wait)));
  if (s == NATS_OK) s = natsConnection_Connect(&p->nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return nats_failure(fmt::format("connecting to {}", options.url), s);
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeout;
  s = natsConnection_JetStream(&p->js, p->nc, &jo);
  if (s != NATS_OK) return nats_failure(fmt::format("JetStream on {}", options.url), s);
  return connection(std::move(p));
}

struct arrivals::impl {
  std::function<void()> on_arrival;
  natsSubscription* sub = nullptr;
  ~impl() {
    if (!sub) return;
    // No call after this returns: the subscription is drained (a callback running ends first).
    if (natsSubscription_Drain(sub) == NATS_OK) natsSubscription_WaitForDrainCompletion(sub, 2000);
    natsSubscription_Destroy(sub);
  }
};

arrivals::arrivals(std::unique_ptr<impl> p) : p_(std::move(p)) {}
arrivals::arrivals(arrivals&&) noexcept = default;
arrivals& arrivals::operator=(arrivals&&) noexcept = default;
arrivals::~arrivals() = default;

expected<arrivals> arrivals::watch(connection& c, std::string_view to, std::function<void()> on_arrival) {
  if (!valid_node_name(to))
    return fail(errc::invalid_argument, fmt::format("'{}' cannot name a node: 1 to 64 letters, digits, '_' or '-'", to));
  auto p = std::make_unique<impl>();
  p->on_arrival = std::move(on_arrival);
  auto call = [](natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
    natsMsg_Destroy(m);
    static_cast<impl*>(closure)->on_arrival();
  };
  const std::string subject = fmt::format("exo.stream.*.{}", to);
  natsStatus s = natsConnection_Subscribe(&p->sub, c.p_->nc, subject.c_str(), call, p.get());
  if (s == NATS_OK) s = natsConnection_Flush(c.p_->nc);
  if (s != NATS_OK) return nats_failure(fmt::format("watching {}", subject), s);
  return arrivals(std::move(p));
}

namespace {
constexpr const char* receipts_stream = "EXO_RECEIPTS";

// Makes sure the server has the stream `name` on `subject` (file storage), creating it with
// `shape`'s settings if missing (another opener making it meanwhile is fine).
expected<void> ensure_stream(jsCtx* js, const std::string& name, const std::string& subject,
                             const std::function<void(jsStreamConfig&)>& shape) {
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, js, name.c_str(), nullptr, &jerr);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(si);
    return {};
  }
  if (jerr != JSStreamNotFoundErr) return nats_failure(fmt::format("looking up stream {}", name), s, jerr);
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = name.c_str();
  const char* subjects[] = {subject.c_str()};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  shape(cfg);
  jerr = static_cast<jsErrCode>(0);
  si = nullptr;
  s = js_AddStream(&si, js, &cfg, nullptr, &jerr);
  if (s != NATS_OK && jerr != JSStreamNameExistErr) return nats_failure(fmt::format("creating stream {}", name), s, jerr);
  if (si) jsStreamInfo_Destroy(si);
  return {};
}

expected<std::string> receipt_subject(std::string_view taker, std::string_view sender) {
  for (std::string_view n : {taker, sender})
    if (!valid_node_name(n))
      return fail(errc::invalid_argument, fmt::format("'{}' cannot name a node: 1 to 64 letters, digits, '_' or '-'", n));
  return fmt::format("exo.receipt.{}.{}", taker, sender);
}
}  // namespace

expected<receipts> receipts::open(connection& c) {
  auto made = ensure_stream(c.p_->js, receipts_stream, "exo.receipt.>",
                            [](jsStreamConfig& cfg) { cfg.MaxMsgsPerSubject = 1; });  // only the latest of each pair
  if (!made) return unexpected(std::move(made).error());
  return receipts(c);
}

expected<void> receipts::publish(std::string_view taker, std::string_view sender, byte_view receipt) {
  auto subject = receipt_subject(taker, sender);
  if (!subject) return unexpected(std::move(subject).error());
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_Publish(&ack, c_->p_->js, subject->c_str(), receipt.data(), static_cast<int>(receipt.size()), nullptr, &jerr);
  if (s != NATS_OK) return nats_failure(fmt::format("publishing a receipt on {}", *subject), s, jerr);
  jsPubAck_Destroy(ack);
  return {};
}

expected<std::optional<bytes>> receipts::latest(std::string_view taker, std::string_view sender) {
  auto subject = receipt_subject(taker, sender);
  if (!subject) return unexpected(std::move(subject).error());
  natsMsg* m = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetLastMsg(&m, c_->p_->js, receipts_stream, subject->c_str(), nullptr, &jerr);
  if (s != NATS_OK) {
    if (jerr == JSNoMessageFoundErr) return std::optional<bytes>{};
    return nats_failure(fmt::format("reading the receipt on {}", *subject), s, jerr);
  }
  return std::optional<bytes>{take_data(m)};
}

stream::stream(connection& c, std::string from, std::string to)
    : c_(&c), from_(std::move(from)), to_(std::move(to)), name_("EXO_" + from_ + "_" + to_),
      subject_("exo.stream." + from_ + "." + to_) {}

expected<stream> stream::open(connection& c, std::string from, std::string to) {
  for (const std::string* n : {&from, &to})
    if (!valid_node_name(*n))
      return fail(errc::invalid_argument, fmt::format("'{}' cannot name a node: 1 to 64 letters, digits, '_' or '-'", *n));
  if (from == to) return fail(errc::invalid_argument, fmt::format("a node has no stream to itself ('{}')", from));
  stream st(c, std::move(from), std::move(to));
  auto made = ensure_stream(c.p_->js, st.name_, st.subject_, [](jsStreamConfig& cfg) {
    cfg.Duplicates = std::int64_t{10} * 60 * 1'000'000'000;  // ten minutes of message ids
  });
  if (!made) return unexpected(std::move(made).error());
  return st;
}

expected<std::uint64_t> stream::last() {
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, c_->p_->js, name_.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return nats_failure(fmt::format("reading stream {}", name_), s, jerr);
  const std::uint64_t last = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  return last;
}

expected<std::optional<bytes>> stream::read(std::uint64_t index) {
  if (index == 0) return fail(errc::invalid_argument, "stream messages are numbered from 1");
  natsMsg* m = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetMsg(&m, c_->p_->js, name_.c_str(), index, nullptr, &jerr);
  if (s != NATS_OK) {
    if (jerr == JSNoMessageFoundErr) return std::optional<bytes>{};
    return nats_failure(fmt::format("reading message {} of stream {}", index, name_), s, jerr);
  }
  return std::optional<bytes>{take_data(m)};
}

expected<bool> stream::append(std::uint64_t index, byte_view payload) {
  if (index == 0) return fail(errc::invalid_argument, "stream messages are numbered from 1");
  // What the stream holds at `index` already: the same bytes are a retry; others a conflict.
  auto already = [&]() -> expected<bool> {
    auto have = read(index);
    if (!have) return unexpected(std::move(have).error());
    if (!*have) return fail(errc::invalid_argument, fmt::format("stream {} does not follow on to message {}", name_, index));
    if (**have != bytes(payload.begin(), payload.end()))
      return fail(errc::invalid_argument, fmt::format("stream {} holds other bytes as message {}: two writers, or a "
                                                      "sender that does not remember what it sent",
                                                      name_, index));
    return false;
  };
  auto last = this->last();
  if (!last) return unexpected(std::move(last).error());
  if (index <= *last) return already();
  if (index > *last + 1)
    return fail(errc::invalid_argument, fmt::format("stream {} holds {} messages: message {} would leave a gap", name_, *last, index));
  const std::string id = fmt::format("{}:{}:{}", from_, to_, index);
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = id.c_str();
  po.ExpectLastSeq = index - 1;  // 0 (the first message) means no expectation: the check above holds it
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_Publish(&ack, c_->p_->js, subject_.c_str(), payload.data(), static_cast<int>(payload.size()), &po, &jerr);
  if (s != NATS_OK) {
    if (jerr == JSStreamWrongLastSequenceErr) return already();  // appended meanwhile (a retry in flight)
    return nats_failure(fmt::format("appending message {} to stream {}", index, name_), s, jerr);
  }
  const bool duplicate = ack->Duplicate;
  const std::uint64_t seq = ack->Sequence;
  jsPubAck_Destroy(ack);
  if (duplicate) return already();
  if (seq != index)
    return fail(errc::internal, fmt::format("stream {} numbered message {} as {}", name_, index, seq));
  return true;
}

}  // namespace exo::cluster
