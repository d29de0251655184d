#pragma once
// Another process writing to a data directory this process has open (LMDB allows it): the
// way a commit that this process writes behind can really fail in a test.

#include <boost/test/unit_test.hpp>

#include <lmdb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace test {

// Another process appends a node to the store in `dir` (LMDB allows it), so that this
// process's next write is refused: a real way for a commit written behind to fail.
inline void another_process_appends_a_node(const std::string& dir) {
  pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    MDB_cursor* c = nullptr;
    MDB_dbi dbi = 0;
    MDB_val k{}, v{};
    bool ok = mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 8) == 0 && mdb_env_open(env, dir.c_str(), 0, 0600) == 0 &&
              mdb_txn_begin(env, nullptr, 0, &txn) == 0 && mdb_dbi_open(txn, "nodes", 0, &dbi) == 0 &&
              mdb_cursor_open(txn, dbi, &c) == 0 && mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8;
    std::uint8_t key[8] = {};
    if (ok) {
      std::memcpy(key, k.mv_data, 8);
      for (int i = 7; i >= 0 && ++key[i] == 0; --i) {}  // the next position, big-endian
      MDB_val nk{8, key}, nv{5, const_cast<char*>("other")};
      ok = mdb_put(txn, dbi, &nk, &nv, 0) == 0 && mdb_txn_commit(txn) == 0;
    }
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_REQUIRE(WIFEXITED(status));
  BOOST_REQUIRE(WEXITSTATUS(status) == 0);
}

}  // namespace test
