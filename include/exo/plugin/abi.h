/* exo's plugin ABI: the only header a container plugin and the host share.
 *
 * A container plugin is a shared library that exports a pointer to its exo_plugin descriptor
 * under the name EXO_PLUGIN_SYMBOL: in C++, BOOST_DLL_ALIAS(descriptor, exo_plugin_v1); in C,
 * `const void* exo_plugin_v1 = &descriptor;` with default visibility.
 * The host loads it, checks the descriptor (abi_major must equal the host's, struct_size
 * must cover every field the host uses) and registers it under its type ID.
 *
 * The contract (DESIGN.md section 6):
 * - Only the types below cross: fixed-width integers, plain structs, byte spans and opaque
 *   handles. No C++ types, no exceptions (every entry point is noexcept in spirit: a plugin
 *   catches everything and returns an error code).
 * - Whoever allocates frees: code and instances made by the plugin are freed by the plugin
 *   (free_code, destroy); bytes the host hands out (exo_span from storage_get, last_error)
 *   stay the host's and are valid until the next host call on that exo_call.
 * - Values (message arguments, results) cross in exo's canonical encoding (modules/core,
 *   encoding.hpp): a list of arguments, capabilities encoded as handles in the running
 *   actor's capability table.
 * - Errors are exo::errc numbers (0 is success) with a message in an exo_error.
 * - A plugin is single-threaded from its point of view: the host never calls into one
 *   instance from two threads at once.
 *
 * Versioning: a new field is appended and bumps abi_minor; the host reads it only if
 * struct_size says it is there. Anything else bumps abi_major, and hosts refuse plugins of
 * another major.
 */
#ifndef EXO_PLUGIN_ABI_H
#define EXO_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EXO_PLUGIN_ABI_MAJOR 1
#define EXO_PLUGIN_ABI_MINOR 6
/* The alias under which a plugin exports its descriptor (a pointer to const exo_plugin). */
#define EXO_PLUGIN_SYMBOL "exo_plugin_v1"

/* Container type IDs: 0 is never valid; 1-255 are reserved for exo's own containers. */
#define EXO_TYPE_NATIVE 1u
#define EXO_TYPE_WASM 2u
#define EXO_TYPE_JS 3u
#define EXO_TYPE_AIR 4u
#define EXO_TYPE_USER_FIRST 256u

/* A capability handle: an index into the running actor's capability table. */
typedef uint32_t exo_cap;
#define EXO_NO_CAP 0xffffffffu

/* Levels of an actor's log lines (exo::log_level, checked equal at compile time). */
#define EXO_LOG_TRACE 0u
#define EXO_LOG_DEBUG 1u
#define EXO_LOG_INFO 2u
#define EXO_LOG_WARN 3u
#define EXO_LOG_ERROR 4u

/* Capability rights (exo::rights, checked equal at compile time): call, transfer, derive. */
#define EXO_RIGHT_CALL 1u
#define EXO_RIGHT_TRANSFER 2u
#define EXO_RIGHT_DERIVE 4u

/* Status codes: 0 is success; others are exo::errc numbers (modules/core error.hpp; the host
 * checks at compile time that each one here equals its errc). */
typedef int32_t exo_status;
#define EXO_OK 0
#define EXO_ERR_INVALID_ARGUMENT 1
#define EXO_ERR_MALFORMED 2
#define EXO_ERR_OUT_OF_TICKS 3
#define EXO_ERR_NO_SUCH_ACTOR 4
#define EXO_ERR_NO_SUCH_FUNCTION 5
#define EXO_ERR_BAD_CAPABILITY 6
#define EXO_ERR_WRONG_KIND 7
#define EXO_ERR_MISSING_RIGHT 8
#define EXO_ERR_HANDLER_FAILED 9
#define EXO_ERR_HANDLER_THREW 10
#define EXO_ERR_LIMIT_EXCEEDED 11
#define EXO_ERR_TYPE_MISMATCH 12
#define EXO_ERR_INTERNAL 13
#define EXO_ERR_TRAP 14
#define EXO_ERR_INCOMPATIBLE 15
/* ABI 1.4: the plugin stopped the code for a reason that is not deterministic (a watchdog,
 * running out of memory), with the message's whole budget spent. The host logs the fault
 * and a replay reproduces it without running the message. Return it only to a host whose
 * abi_minor is 4 or more (older ones: EXO_ERR_TRAP). */
#define EXO_ERR_FAULT 16
/* storage_get only: the key is absent (not an error). */
#define EXO_ABSENT (-1)

/* Borrowed bytes: valid for as long as the side that owns them says. */
typedef struct exo_span {
  const uint8_t* data;
  size_t size;
} exo_span;

/* An error a plugin reports: its code and a message for people (NUL-terminated,
 * truncated to fit). The host zeroes it before each call. */
typedef struct exo_error {
  exo_status code;
  char message[500];
} exo_error;

/* Opaque handles. exo_call is the host's, for one running message; exo_code and
 * exo_instance are the plugin's. */
typedef struct exo_call exo_call;
typedef struct exo_code exo_code;
typedef struct exo_instance exo_instance;

/* Per-instance limits the host asks a plugin to enforce. */
typedef struct exo_limits {
  uint32_t struct_size;     /* sizeof(exo_limits) as the host knows it */
  uint32_t max_memory_pages; /* linear memory, in 64 KiB pages */
  uint32_t max_table_size;   /* elements per table */
  uint64_t max_code_size;    /* bytes of code accepted by compile */
} exo_limits;

/* What the plugin may ask of the host while a message runs (the C face of exo::context).
 * Every function takes the exo_call the host passed to run(). A failing call is a trap:
 * the message will be rolled back whatever the plugin does next, so a plugin should stop
 * and return the code (with last_error's text). */
typedef struct exo_host_api {
  uint32_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;

  /* Spends ticks for work done; EXO_ERR_OUT_OF_TICKS when the budget cannot cover them. */
  exo_status (*charge)(exo_call*, uint64_t ticks);
  /* Ticks left in this message's budget. */
  uint64_t (*remaining)(exo_call*);
  /* The actor's clock (exo::context::now). */
  uint64_t (*now)(exo_call*);
  /* The running actor's id, or the message's sender id: 32 bytes written to out. */
  void (*self_id)(exo_call*, uint8_t out[32]);
  void (*sender_id)(exo_call*, uint8_t out[32]);
  /* The running actor's code hash (what create takes to make another like it): 32 bytes. */
  void (*code_hash)(exo_call*, uint8_t out[32]);

  /* Sends args (canonical encoding of a list; caps are handles in this actor's table and
   * need the transfer right) through the callable cap `target`. budget: UINT64_MAX for "all
   * that is left". reply_to: EXO_NO_CAP, or a cap that receives the callee's result. */
  exo_status (*send)(exo_call*, exo_cap target, exo_span args, uint64_t budget, exo_cap reply_to);
  /* Sends the function's result (canonical encoding of one value) to the message's reply
   * target, if it has one. At most once per message. */
  exo_status (*set_result)(exo_call*, exo_span value);
  /* 1 if the message has a reply target (a result would go somewhere), else 0: a plugin
   * may skip encoding a result nobody receives. */
  int32_t (*wants_result)(exo_call*);

  /* Creates an actor from code the hypervisor holds, named by its 32-byte code hash (a code
   * hash of this container type or any other). *out: an actor cap with all rights. */
  exo_status (*create)(exo_call*, exo_span code_hash, exo_cap* out);

  /* The actor's own key-value storage (part of the message's transaction). storage_get
   * returns EXO_OK with *value (host-owned, valid until the next host call) or EXO_ABSENT. */
  exo_status (*storage_get)(exo_call*, exo_span key, exo_span* value);
  exo_status (*storage_put)(exo_call*, exo_span key, exo_span value);
  /* *existed (may be NULL) is set to 1 if the key was there. */
  exo_status (*storage_delete)(exo_call*, exo_span key, int32_t* existed);

  /* Capability operations (exo::context): a cap to one of this actor's own functions; a
   * narrowed copy of `from` (with `function` non-empty: a function cap of actor cap `from`);
   * dropping a handle. */
  exo_status (*self_cap)(exo_call*, exo_span function, uint32_t rights, exo_cap* out);
  exo_status (*derive)(exo_call*, exo_cap from, uint32_t rights, exo_span function, exo_cap* out);
  exo_status (*drop)(exo_call*, exo_cap);

  /* A line for the host's log (diagnostics; not part of the state or the result), at level
   * EXO_LOG_INFO. */
  void (*log)(exo_call*, exo_span text);
  /* The message of the last failed host call on this exo_call (host-owned). */
  exo_span (*last_error)(exo_call*);

  /* ABI 1.1: a line at `level` (EXO_LOG_TRACE .. EXO_LOG_ERROR); EXO_ERR_INVALID_ARGUMENT for
   * another level. Read it only if struct_size covers it (hosts of ABI 1.0 have only log). */
  exo_status (*log_at)(exo_call*, uint32_t level, exo_span text);

  /* ABI 1.2: the current message's reply target as a capability in the actor's table (call
   * right only), to answer later from another message: a plugin that waits for other actors
   * before it can reply keeps one and sends its result through it (exo::context::reply_cap).
   * EXO_ERR_INVALID_ARGUMENT when the message has no reply target. Read it only if
   * struct_size covers it. */
  exo_status (*reply_cap)(exo_call*, exo_cap* out);

  /* ABI 1.3: who made the logged input this message serves (exo::context::caller, LibVMS's
   * System.caller.id): returns 1 and writes the caller's 32-byte Ed25519 public key to out,
   * or returns 0 (out untouched) for an anonymous input or a hypervisor without a log. */
  int32_t (*caller_id)(exo_call*, uint8_t out[32]);
  /* ABI 1.3: 32 bytes of deterministic entropy for this message (exo::context::entropy):
   * the same on every run and replay, different for every message; not secret. */
  void (*entropy)(exo_call*, uint8_t out[32]);

  /* ABI 1.6: 1 if this message runs in a replay of a logged input (exo::context::replaying),
   * else 0. It then ran to its end when it was logged (a delivery that faulted is failed with
   * its logged fault, not run), so a plugin should not stop it for a reason that is not
   * deterministic (EXO_ERR_FAULT: a watchdog's time, a heap's size) at the bounds it uses
   * live, only at far looser ones. Read it only if struct_size covers it. */
  int32_t (*replaying)(exo_call*);
} exo_host_api;

/* The descriptor a plugin exports. */
typedef struct exo_plugin {
  uint16_t abi_major;   /* EXO_PLUGIN_ABI_MAJOR the plugin was built against */
  uint16_t abi_minor;   /* EXO_PLUGIN_ABI_MINOR the plugin was built against */
  uint32_t struct_size; /* sizeof(exo_plugin) as the plugin knows it */
  uint32_t type_id;     /* the container type ID (EXO_TYPE_*; others from EXO_TYPE_USER_FIRST) */
  const char* name;     /* short name, e.g. "wasm" (static storage) */
  const char* version;  /* the plugin's version, e.g. "0.1.0 (wabt 1.0.32)" (static storage) */

  /* Validates and compiles code. On success *out is a new code object (freed by free_code).
   * Bad code is an error (EXO_ERR_MALFORMED with what is wrong), never a crash. */
  exo_status (*compile)(exo_span code, const exo_limits* limits, exo_code** out, exo_error* err);
  void (*free_code)(exo_code*);
  /* The code's exported functions, by index (0 .. export_count-1); names are owned by the
   * code object. Functions are called by index. */
  uint32_t (*export_count)(const exo_code*);
  exo_span (*export_name)(const exo_code*, uint32_t index);

  /* A new instance of code (e.g. a wasm instance with its memory). Freed by destroy. */
  exo_status (*instantiate)(exo_code*, exo_instance** out, exo_error* err);
  void (*destroy)(exo_instance*);

  /* Runs exported function `function` with `args` (canonical encoding of a list) for one
   * message. The plugin charges what it executes through host->charge (before any other
   * host call, so that budgets handed on are exact) and must not run past `budget` ticks.
   * On error the message is rolled back by the host; the instance must stay usable, and the
   * next message must see it as if the failed one never ran. */
  exo_status (*run)(exo_instance*, uint32_t function, exo_span args, uint64_t budget,
                    const exo_host_api* host, exo_call* call, exo_error* err);

  /* ABI 1.5: EXO_PLUGIN_* flags. The host reads them only if struct_size covers them (older
   * plugins have none). */
  uint32_t flags;
} exo_plugin;

/* exo_plugin.flags: instances may run on any thread, one call at a time, and different
 * instances at the same time on different threads (a parallel scheduler does that). Without
 * it, every instance runs on the thread that runs the hypervisor. */
#define EXO_PLUGIN_ANY_THREAD 1u

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* EXO_PLUGIN_ABI_H */
