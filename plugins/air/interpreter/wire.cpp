#include "wire.hpp"

#include <exo/core/error.hpp>

#include <fmt/format.h>

#include <cstring>

namespace exo::air {

namespace {

constexpr char request_magic[4] = {'A', 'I', 'R', 'Q'};
constexpr char result_magic[4] = {'A', 'I', 'R', 'R'};

class writer {
 public:
  explicit writer(const char (&magic)[4]) {
    out_.reserve(64);
    for (char c : magic) out_.push_back(static_cast<std::uint8_t>(c));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void blob(byte_view b) {
    u32(static_cast<std::uint32_t>(b.size()));
    out_.insert(out_.end(), b.begin(), b.end());
  }
  bytes take() { return std::move(out_); }

 private:
  bytes out_;
};

class reader {
 public:
  reader(byte_view b, std::string_view what) : b_(b), what_(what) {}
  expected<void> magic(const char (&m)[4]) {
    if (b_.size() < 4 || std::memcmp(b_.data(), m, 4) != 0) return bad("it does not start with its magic");
    pos_ = 4;
    return {};
  }
  expected<std::uint64_t> u64(std::string_view field) {
    if (b_.size() - pos_ < 8) return bad(fmt::format("{} is cut short", field));
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{b_[pos_ + i]} << (8 * i);
    pos_ += 8;
    return v;
  }
  expected<std::uint32_t> u32(std::string_view field) {
    if (b_.size() - pos_ < 4) return bad(fmt::format("{} is cut short", field));
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t{b_[pos_ + i]} << (8 * i);
    pos_ += 4;
    return v;
  }
  expected<byte_view> blob(std::string_view field) {
    auto n = u32(field);
    if (!n) return unexpected(std::move(n).error());
    if (b_.size() - pos_ < *n) return bad(fmt::format("{} says {} bytes, but {} are left", field, *n, b_.size() - pos_));
    byte_view v = b_.subspan(pos_, *n);
    pos_ += *n;
    return v;
  }
  expected<std::string> str(std::string_view field) {
    auto v = blob(field);
    if (!v) return unexpected(std::move(v).error());
    return std::string(v->begin(), v->end());
  }
  expected<void> end() {
    if (pos_ != b_.size()) return bad(fmt::format("{} byte(s) after its last field", b_.size() - pos_));
    return {};
  }
  unexpected<error> bad(const std::string& why) const { return fail(errc::malformed, fmt::format("{}: {}", what_, why)); }

 private:
  byte_view b_;
  std::string_view what_;
  std::size_t pos_ = 0;
};

#define EXO_AIR_READ(var, expr)                              \
  auto var##_r = (expr);                                     \
  if (!var##_r) return unexpected(std::move(var##_r).error()); \
  auto var = std::move(*var##_r)

}  // namespace

bytes encode_request(const run_request& r) {
  writer w(request_magic);
  w.str(r.air);
  w.blob(r.prev_data);
  w.blob(r.data);
  w.str(r.params.init_peer_id);
  w.str(r.params.current_peer_id);
  w.blob(r.call_results);
  w.u64(r.max_ticks);
  return w.take();
}

expected<run_request> decode_request(byte_view b) {
  reader rd(b, "an AIR run request");
  if (auto m = rd.magic(request_magic); !m) return unexpected(std::move(m).error());
  run_request r;
  EXO_AIR_READ(air, rd.str("the script"));
  EXO_AIR_READ(prev, rd.blob("the previous data"));
  EXO_AIR_READ(data, rd.blob("the data"));
  EXO_AIR_READ(init, rd.str("the init peer"));
  EXO_AIR_READ(current, rd.str("the current peer"));
  EXO_AIR_READ(results, rd.blob("the call results"));
  EXO_AIR_READ(ticks, rd.u64("the tick budget"));
  if (auto e = rd.end(); !e) return unexpected(std::move(e).error());
  r.air = std::move(air);
  r.prev_data.assign(prev.begin(), prev.end());
  r.data.assign(data.begin(), data.end());
  r.params = {std::move(init), std::move(current)};
  r.call_results.assign(results.begin(), results.end());
  r.max_ticks = ticks;
  return r;
}

bytes encode_result(const interpreter_result& r) {
  writer w(result_magic);
  w.u64(static_cast<std::uint64_t>(r.ret_code));
  w.u64(r.ticks);
  w.str(r.error_message);
  w.blob(r.data);
  w.u32(static_cast<std::uint32_t>(r.next_peer_pks.size()));
  for (const auto& p : r.next_peer_pks) w.str(p);
  w.u32(static_cast<std::uint32_t>(r.call_requests.size()));
  for (const auto& [id, q] : r.call_requests) {
    w.u32(id);
    w.str(q.service_id);
    w.str(q.function_name);
    w.str(q.arguments);
    w.str(q.tetraplets);
  }
  return w.take();
}

expected<interpreter_result> decode_result(byte_view b) {
  reader rd(b, "an AIR run result");
  if (auto m = rd.magic(result_magic); !m) return unexpected(std::move(m).error());
  interpreter_result r;
  EXO_AIR_READ(rc, rd.u64("the ret code"));
  EXO_AIR_READ(ticks, rd.u64("the ticks"));
  EXO_AIR_READ(message, rd.str("the error message"));
  EXO_AIR_READ(data, rd.blob("the data"));
  r.ret_code = static_cast<std::int64_t>(rc);
  r.ticks = ticks;
  r.error_message = std::move(message);
  r.data.assign(data.begin(), data.end());
  EXO_AIR_READ(peers, rd.u32("the number of next peers"));
  for (std::uint32_t i = 0; i < peers; ++i) {
    EXO_AIR_READ(p, rd.str("a next peer"));
    r.next_peer_pks.push_back(std::move(p));
  }
  EXO_AIR_READ(requests, rd.u32("the number of call requests"));
  for (std::uint32_t i = 0; i < requests; ++i) {
    EXO_AIR_READ(id, rd.u32("a call request's id"));
    call_request q;
    EXO_AIR_READ(service, rd.str("a call request's service"));
    EXO_AIR_READ(function, rd.str("a call request's function"));
    EXO_AIR_READ(args, rd.str("a call request's arguments"));
    EXO_AIR_READ(tets, rd.str("a call request's tetraplets"));
    q = {std::move(service), std::move(function), std::move(args), std::move(tets)};
    if (!r.call_requests.emplace(id, std::move(q)).second) return rd.bad(fmt::format("call request {} twice", id));
  }
  if (auto e = rd.end(); !e) return unexpected(std::move(e).error());
  return r;
}

engine air_engine(const run_limits& limits) {
  return [limits](byte_view in, const run_log& log) -> expected<bytes> {
    auto req = decode_request(in);
    if (!req) return unexpected(std::move(req).error());
    run_limits l = limits;
    l.max_ticks = req->max_ticks;
    auto r = run(req->air, req->prev_data, req->data, req->params, req->call_results, l);
    if (!r) return unexpected(std::move(r).error());
    if (log)
      log(log_level::debug, fmt::format("air: {} byte(s) of script, {} + {} of data: ret_code {}, {} request(s), {} ticks",
                                        req->air.size(), req->prev_data.size(), req->data.size(), r->ret_code,
                                        r->call_requests.size(), r->ticks));
    return encode_result(*r);
  };
}

}  // namespace exo::air
