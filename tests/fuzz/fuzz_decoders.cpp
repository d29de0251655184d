// libFuzzer target over exo's own decoders of untrusted bytes: canonical values (messages,
// storage, RPC arguments once decoded), call log entries and signed heads, exported log files,
// JSON values (RPC arguments), snapshots (exo/verifier/checkpoint.hpp: the file, and the
// check of a snapshot's nodes, over a list of node bytes), and the signed envelopes of the
// messages between nodes (exo/call_log/envelope.hpp). The input's first byte picks the
// decoder. Properties:
// nothing crashes, leaks or hangs; a value that decodes encodes back to the very same bytes
// (the encoding is canonical), and exo::decode_scalar agrees with the reader on every scalar;
// an entry or head that decodes re-encodes to bytes that decode to the same thing; nodes that
// pass the snapshot check import into a store as a tree whose every key reads back under the
// root the check was given. Built with
// clang by `bash tools/dev.sh fuzz` and run by the test command.
#include <exo/call_log/entry.hpp>
#include <exo/call_log/file.hpp>
#include <exo/call_log/envelope.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/json.hpp>
#include <exo/store/tree.hpp>
#include <exo/verifier/checkpoint.hpp>

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* input, std::size_t input_size) {
  if (input_size == 0) return 0;
  const std::uint8_t mode = input[0] % 7;
  const exo::byte_view in(input + 1, input_size - 1);
  switch (mode) {
    case 0: {
      auto v = exo::decode(in, {.max_depth = 64, .max_size = 1 << 16});
      if (v && exo::encode(*v) != exo::bytes(in.begin(), in.end())) std::abort();  // canonical
      // decode_scalar (a message's arguments in the js plugin) takes exactly the scalars a
      // reader takes, and the same bytes of them.
      exo::value scalar;
      const std::size_t took = exo::decode_scalar(in, scalar);
      exo::reader r(in);
      auto first = r.read_value();
      const bool reader_scalar = first && (first->type() == exo::kind::null || first->type() == exo::kind::boolean ||
                                           first->type() == exo::kind::i64 || first->type() == exo::kind::f64 ||
                                           first->type() == exo::kind::cap);
      if (took > 0 && (!reader_scalar || r.offset() != took || exo::encode(*first) != exo::encode(scalar))) std::abort();
      if (took == 0 && reader_scalar) std::abort();
      break;
    }
    case 1: {
      auto e = exo::decode_entry(in);
      if (e) {
        auto again = exo::decode_entry(exo::encode_entry(*e));
        if (!again || exo::encode_entry(*again) != exo::encode_entry(*e)) std::abort();
      }
      break;
    }
    case 2: {
      auto h = exo::decode_head(in);
      if (h) {
        auto again = exo::decode_head(exo::encode_head(*h));
        if (!again || exo::encode_head(*again) != exo::encode_head(*h)) std::abort();
        (void)exo::check_head_signature(*h);
      }
      break;
    }
    case 3: {
      auto f = exo::import_log(in, {.max_file = 1 << 16, .max_content = 1 << 20});
      (void)f;
      break;
    }
    case 4: {
      auto j = exo::json::parse(in.begin(), in.end(), nullptr, false);
      if (!j.is_discarded()) {
        auto v = exo::from_json(j, "argument");
        if (v) {
          auto back = exo::from_json(exo::to_json(*v), "argument");
          if (!back || exo::encode(*back) != exo::encode(*v)) std::abort();
        }
      }
      break;
    }
    case 5: {
      (void)exo::decode_snapshot(in, {.max_file = 1 << 16, .max_content = 1 << 20});
      // The nodes' check, without the envelope: a list of node bytes, checked against the root
      // its last node hashes to.
      auto v = exo::decode(in, {.max_depth = 4, .max_size = 1 << 16});
      const auto* list = v ? v->if_list() : nullptr;
      if (!list || list->empty()) break;
      std::vector<exo::bytes> nodes;
      for (const exo::value& n : *list) {
        if (!n.if_bytes()) return 0;
        nodes.push_back(*n.if_bytes());
      }
      auto last = exo::decode_stored_node(nodes.size(), nodes.back());
      if (!last) break;
      const exo::digest root = exo::node_hash(*last);
      if (!exo::check_snapshot_nodes(nodes, root)) break;
      exo::memory_store store;
      const std::size_t n = nodes.size();
      if (!store.commit(exo::commit_batch{1, std::move(nodes), exo::root_ref{root, n}, {}})) std::abort();
      auto tree = exo::merkle_tree<exo::memory_store>::open(store);
      if (!tree || !(tree->root() == root)) std::abort();
      std::size_t keys = 0;
      if (!tree->for_each(exo::byte_view{}, [&](exo::byte_view k, exo::byte_view) {
            auto got = tree->get(k);
            if (!got || !*got) std::abort();
            ++keys;
            return true;
          }))
        std::abort();
      if (keys != (n + 1) / 2) std::abort();  // a binary tree of n nodes has (n + 1) / 2 leaves
      break;
    }
    case 6: {
      // A stream envelope (exo/call_log/envelope.hpp): one that opens names nodes, an index from
      // 1, and re-encodes to the very bytes it came in (canonical).
      auto e = exo::open_envelope(in, {}, 1 << 16);
      if (e && (e->e.index == 0 || !exo::valid_node_name(e->e.from) || !exo::valid_node_name(e->e.to)))
        std::abort();
      // The same bytes as a receipt: never both (the format is the signature's domain), and
      // one that opens has an empty body.
      auto r = exo::open_receipt(in);
      if (r && (e || !r->e.body.empty() || r->e.index == 0)) std::abort();
      break;
    }
  }
  return 0;
}
