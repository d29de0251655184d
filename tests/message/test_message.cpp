#include <boost/test/unit_test.hpp>

#include <exo/message/message.hpp>

#include <cstdint>
#include <cstring>
#include <string>

#include "../support/ids.hpp"

using namespace exo;

namespace {
message make(std::uint64_t ticks, std::uint8_t s, std::uint64_t seq) {
  message m;
  m.ticks = ticks;
  m.sender_id = &test::small_id(s);
  m.seq = seq;
  return m;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(messages)

BOOST_AUTO_TEST_CASE(key_orders_by_ticks_then_sender_then_seq) {
  BOOST_TEST(key_less(make(3, 9, 9), make(7, 0, 0)));   // ticks first
  BOOST_TEST(key_less(make(5, 1, 9), make(5, 2, 0)));   // then sender id
  BOOST_TEST(key_less(make(5, 1, 1), make(5, 1, 2)));   // then sequence
  BOOST_TEST(!key_less(make(5, 1, 1), make(5, 1, 1)));  // strict
  id copy = test::small_id(1);  // ids compare by value, wherever they are kept
  message m = make(5, 1, 0);
  m.sender_id = &copy;
  BOOST_TEST(key_less(m, make(5, 1, 1)));
  BOOST_TEST(!key_less(make(5, 1, 1), m));
  BOOST_TEST(key_less(m, make(5, 2, 0)));
}

BOOST_AUTO_TEST_CASE(small_arguments_live_inside_the_message) {
  message m;
  m.args.emplace_back(1);
  m.args.emplace_back(2);
  // inline storage: the arguments' address is inside the message object
  auto* p = reinterpret_cast<const char*>(m.args.data());
  auto* base = reinterpret_cast<const char*>(&m);
  BOOST_TEST((p >= base && p < base + sizeof(message)));
}

BOOST_AUTO_TEST_CASE(moving_a_message_moves_its_strings) {
  message m;
  m.args.emplace_back(std::string(1000, 'x'));
  const char* data = m.args[0].if_string()->data();
  message n = std::move(m);
  BOOST_TEST(n.args[0].if_string()->data() == data);  // same buffer: moved, not copied
}

BOOST_AUTO_TEST_CASE(arguments_grow_move_and_copy_as_a_vector) {
  // Values that own memory (strings, lists) in every position: inline, then on the heap.
  arg_list a{1, "one"};
  BOOST_TEST(a.capacity() == inline_args);
  a.emplace_back(value::list{2, "two"});
  a.push_back(std::string(100, 'y'));
  BOOST_TEST(a.size() == 4u);
  BOOST_TEST(a.capacity() >= 4u);
  const char* y = a[3].if_string()->data();
  arg_list copy = a;
  BOOST_TEST((copy == a));
  BOOST_TEST(static_cast<const void*>(copy[3].if_string()->data()) != static_cast<const void*>(y));  // a copy owns its own
  arg_list moved = std::move(a);                 // a heap buffer is taken whole
  BOOST_TEST(a.empty());
  BOOST_TEST(static_cast<const void*>(moved[3].if_string()->data()) == static_cast<const void*>(y));
  BOOST_TEST((moved == copy));
  a.emplace_back(5);  // a moved-from list is usable
  BOOST_TEST((a == arg_list{5}));
  moved.pop_back();
  BOOST_TEST(moved.size() == 3u);
  moved.clear();
  BOOST_TEST(moved.empty());
  BOOST_TEST(moved.capacity() >= 4u);  // kept
  copy = copy;                         // self-assignment keeps it
  BOOST_TEST(copy.size() == 4u);
  copy = arg_list{};
  BOOST_TEST(copy.empty());
}

BOOST_AUTO_TEST_CASE(inline_arguments_move_by_their_bits) {
  arg_list a;
  a.emplace_back(std::string(50, 'z'));
  const char* z = a[0].if_string()->data();
  arg_list b = std::move(a);  // inline: relocated, the string's buffer unchanged
  BOOST_TEST(a.empty());
  BOOST_TEST(static_cast<const void*>(b[0].if_string()->data()) == static_cast<const void*>(z));
  // append: into room there is, and beyond it
  arg_list c{7};
  c.append(std::move(b));
  BOOST_TEST(b.empty());
  BOOST_TEST(c.size() == 2u);
  BOOST_TEST(static_cast<const void*>(c[1].if_string()->data()) == static_cast<const void*>(z));
  arg_list d{1, 2, 3};
  c.append(std::move(d));
  BOOST_TEST(d.empty());
  BOOST_TEST((c == arg_list{7, std::string(50, 'z'), 1, 2, 3}));
  // a reused message slot keeps a larger buffer and takes small sends into it
  message m;
  m.args = arg_list{1, 2, 3, 4};
  m.args.clear();
  const value* buffer = m.args.data();
  m.args.append(arg_list{8, 9});
  BOOST_TEST(m.args.data() == buffer);
  BOOST_TEST((m.args == arg_list{8, 9}));
  // and a send larger than its room takes the sender's buffer
  arg_list big{1, 2, 3, 4, 5, 6, 7, 8};
  const value* big_buffer = big.data();
  m.args.clear();
  m.args.append(std::move(big));
  BOOST_TEST(m.args.data() == big_buffer);
  BOOST_TEST(m.args.size() == 8u);
}

BOOST_AUTO_TEST_CASE(batch_reads_front_to_back_and_reuses_capacity) {
  message_batch b;
  for (int i = 0; i < 3; ++i) b.emplace_back().seq = static_cast<std::uint64_t>(i);
  BOOST_TEST(b.size() == 3u);
  BOOST_TEST(b.front().seq == 0u);
  b.pop_front();
  BOOST_TEST(b.front().seq == 1u);
  b.pop_front();
  b.pop_front();
  BOOST_TEST(b.empty());
  BOOST_TEST(b.capacity() >= 3u);  // kept for the next transaction
}

// A consumed slot's arguments that own memory are freed when it is consumed; scalars are left
// in it (nothing to free, and a burst's slots are then read without being written back) and
// forgotten when the slot is written next: whichever way a slot is reused, it starts empty.
BOOST_AUTO_TEST_CASE(a_reused_slot_starts_with_no_arguments) {
  message_batch b;
  for (int round = 0; round < 3; ++round) {
    message& scalars = b.append_slot();
    BOOST_TEST(scalars.args.empty());
    scalars.args.emplace_back(std::int64_t{7});
    scalars.args.emplace_back(2.5);
    message& owning = round == 1 ? b.emplace_back() : b.append_slot();
    BOOST_TEST(owning.args.empty());
    owning.args.emplace_back(std::string(100, 'x'));  // on the heap
    owning.args.emplace_back(std::int64_t{1});
    BOOST_TEST(b.size() == 2u);
    BOOST_TEST((b.front().args[0] == value(std::int64_t{7})));
    b.pop_front();
    BOOST_TEST(*b.front().args[0].if_string() == std::string(100, 'x'));
    message* second = &b.front();
    b.pop_front();
    BOOST_TEST(second->args.empty());  // its string was freed as it was consumed
    BOOST_TEST(b.empty());
  }
  // A refused send's slot (pop_back) and a cleared batch's slots are reused empty too.
  b.append_slot().args.emplace_back(std::int64_t{3});
  b.pop_back();
  BOOST_TEST(b.append_slot().args.empty());
  b.clear();
  BOOST_TEST(b.emplace_back().args.empty());
}

// A burst larger than a huge page moves its slots into 2 MiB-aligned blocks as the batch
// grows, and every message (arguments on the heap included) arrives intact and in order.
BOOST_AUTO_TEST_CASE(a_large_burst_grows_into_huge_blocks_intact) {
  constexpr std::size_t n = 3 * detail::huge_block / sizeof(message);
  message_batch b;
  for (std::size_t i = 0; i < n; ++i) {
    message& m = b.append_slot();
    m = message{};
    m.seq = i;
    m.args.emplace_back(static_cast<std::int64_t>(i));
    if (i % 1000 == 0) m.args.emplace_back(std::string(40, 'x'));  // a value that owns memory
  }
  BOOST_TEST(b.size() == n);
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(b.begin()) % detail::huge_block == 0u);
  message_batch other;
  other.swap(b);
  for (std::size_t i = 0; i < n; ++i) {
    const message& m = other.front();
    BOOST_REQUIRE(m.seq == i);
    BOOST_REQUIRE(*m.args[0].if_i64() == static_cast<std::int64_t>(i));
    if (i % 1000 == 0) BOOST_REQUIRE(m.args.size() == 2u);
    other.pop_front();
  }
  BOOST_TEST(other.capacity() >= n);  // kept, as small batches are
}

BOOST_AUTO_TEST_CASE(batch_allocator_rounds_and_releases_blocks) {
  detail::batch_allocator<message> a;
  for (std::size_t count : {std::size_t{1}, detail::huge_block / sizeof(message) + 1, 5 * detail::huge_block / sizeof(message)}) {
    message* p = a.allocate(count);
    std::memset(static_cast<void*>(p), 0xab, count * sizeof(message));  // every byte is usable
    if (count * sizeof(message) >= detail::huge_block)
      BOOST_TEST(reinterpret_cast<std::uintptr_t>(p) % detail::huge_block == 0u);
    a.deallocate(p, count);
  }
  BOOST_CHECK_THROW(a.allocate(std::size_t(-1) / 2), std::bad_array_new_length);
}

// A send notes, as it moves its arguments into the slot, whether one may hold a capability
// (a cap, a list or a map): only then are they walked for capabilities.
BOOST_AUTO_TEST_CASE(appending_arguments_notes_those_that_may_hold_capabilities) {
  auto noted = [](arg_list from) {
    arg_list to;
    const std::size_t n = from.size();
    const bool any = to.append_noting_caps(std::move(from));
    BOOST_TEST(to.size() == n);
    BOOST_TEST(from.empty());
    return any;
  };
  BOOST_TEST(!noted({}));
  BOOST_TEST(!noted({value(std::int64_t{1}), value(2.5)}));
  BOOST_TEST(!noted({value(true), value(std::string("s")), value(bytes{1, 2})}));  // grows past the inline two
  BOOST_TEST(noted({value(std::int64_t{1}), value(cap_handle{7})}));
  BOOST_TEST(noted({value(value::list{})}));
  BOOST_TEST(noted({value(std::int64_t{1}), value(std::int64_t{2}), value(value::map{})}));  // found after growing
  arg_list to{value(std::int64_t{5})};
  BOOST_TEST(!to.append_noting_caps(arg_list{value(std::int64_t{6})}));
  BOOST_TEST(to.size() == 2u);
  BOOST_TEST(*to[1].if_i64() == 6);
}

BOOST_AUTO_TEST_CASE(moved_from_batch_is_empty) {
  message_batch a;
  a.emplace_back();
  a.emplace_back();
  a.pop_front();
  message_batch b = std::move(a);
  BOOST_TEST(b.size() == 1u);
  BOOST_TEST(a.empty());
  BOOST_TEST(a.size() == 0u);
}

BOOST_AUTO_TEST_CASE(rights_print_and_combine) {
  BOOST_TEST(to_string(rights::call | rights::derive) == "call|derive");
  BOOST_TEST(to_string(rights::none) == "none");
  BOOST_TEST(has(rights::all, rights::transfer));
  BOOST_TEST(!has(rights::call, rights::call | rights::transfer));
}

BOOST_AUTO_TEST_SUITE_END()
