#include <boost/test/unit_test.hpp>

#include <exo/message/message.hpp>

using namespace exo;

namespace {
message make(std::uint64_t ticks, std::uint8_t sender, std::uint64_t seq) {
  message m;
  m.ticks = ticks;
  m.sender_id.bytes[0] = sender;
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
