;; Test actors for the wasm container: Primea's scenarios, limits, traps and benchmarks.
(module
  (import "exo" "storage_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "exo" "storage_put" (func $put (param i32 i32 i32 i32)))
  (import "exo" "push_i64" (func $push_i64 (param i64)))
  (import "exo" "push_cap" (func $push_cap (param i32)))
  (import "exo" "send" (func $send (param i32 i64)))
  (import "exo" "call" (func $call (param i32 i64 i32)))
  (import "exo" "self_cap" (func $self_cap (param i32 i32 i32) (result i32)))
  (import "exo" "set_result" (func $set_result))
  (import "exo" "arg_read" (func $arg_read (param i32 i32 i32) (result i32)))
  (import "exo" "push_bytes" (func $push_bytes (param i32 i32)))
  (import "exo" "log" (func $log (param i32 i32)))
  (import "exo" "log_at" (func $log_at (param i32 i32 i32)))
  (import "exo" "charge" (func $charge (param i64)))
  (import "exo" "caller_id" (func $caller_id (param i32) (result i32)))
  (import "exo" "entropy" (func $entropy (param i32)))
  (memory 1)
  (global $g (mut i64) (i64.const 0))
  (data (i32.const 0) "v")            ;; the storage key "v"; its value buffer is at 16
  (data (i32.const 32) "on_answer")

  (func $store (param $v i64)
    (i64.store (i32.const 16) (local.get $v))
    (call $put (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 8)))

  ;; A value passed to a receiver.
  (func (export "receive") (param $v i64) (call $store (local.get $v)))
  (func (export "value") (result i64)
    (if (result i64) (i32.eq (call $get (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 8)) (i32.const 8))
      (then (i64.load (i32.const 16))) (else (i64.const -1))))
  (func (export "give") (param $to i32) (param $v i64)
    (call $push_i64 (local.get $v))
    (call $send (local.get $to) (i64.const 10000)))

  ;; A callback through a capability: ask calls `target` with its answer coming to on_answer.
  (func (export "answer") (result i64) (i64.const 42))
  (func (export "ask") (param $target i32)
    (call $call (local.get $target) (i64.const 10000)
      (call $self_cap (i32.const 32) (i32.const 9) (i32.const 3))))
  (func (export "on_answer") (param $v i64) (call $store (local.get $v)))

  ;; Hands a capability on: sends `c` to `to`'s keep.
  (func (export "pass_cap") (param $to i32) (param $c i32)
    (call $push_cap (local.get $c))
    (call $send (local.get $to) (i64.const 10000)))

  ;; Writes storage, then never ends.
  (func (export "spin")
    (call $store (i64.const 99))
    (loop $forever (br $forever)))

  ;; Traps: out-of-bounds memory, unreachable, a capability handle that does not exist.
  (func (export "oob") (result i32) (i32.load (i32.const 70000)))
  (func (export "fail_after_write") (call $store (i64.const 7)) unreachable)
  (func (export "bad_cap") (param $h i32)
    (call $push_i64 (i64.const 1))
    (call $send (local.get $h) (i64.const 10)))
  (func (export "bad_pointer") (call $put (i32.const 65530) (i32.const 100) (i32.const 0) (i32.const 1)))

  ;; Memory and globals belong to one message: this returns 2 every time.
  (func (export "scratch") (result i64)
    (global.set $g (i64.add (global.get $g) (i64.const 1)))
    (i64.store (i32.const 200) (i64.add (i64.load (i32.const 200)) (i64.const 1)))
    (i64.add (global.get $g) (i64.load (i32.const 200))))

  ;; Bytes in and out: returns the argument reversed (through set_result).
  (func (export "reverse") (param $len i32)
    (local $i i32)
    (drop (call $arg_read (i32.const 0) (i32.const 1024) (local.get $len)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (i32.store8 (i32.add (i32.const 4096) (local.get $i))
        (i32.load8_u (i32.sub (i32.add (i32.const 1023) (local.get $len)) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (call $push_bytes (i32.const 4096) (local.get $len))
    (call $set_result))

  (func (export "hello") (call $log (i32.const 32) (i32.const 9)))
  ;; A line at `level` (0 trace .. 4 error; another level traps), then the value stored.
  (func (export "log_at") (param $level i32)
    (call $log_at (local.get $level) (i32.const 32) (i32.const 9))
    (call $store (i64.const 7)))
  (func (export "expensive") (call $charge (i64.const 1000000)))

  ;; Who made the logged input (its caller's key, or 0 when anonymous), and this message's
  ;; entropy (32 bytes).
  (func (export "whoami")
    (if (call $caller_id (i32.const 512))
      (then (call $push_bytes (i32.const 512) (i32.const 32)))
      (else (call $push_i64 (i64.const 0))))
    (call $set_result))
  (func (export "draw")
    (call $entropy (i32.const 512))
    (call $push_bytes (i32.const 512) (i32.const 32))
    (call $set_result))

  ;; For benchmarks: a pure function, a host call, and recursion.
  (func (export "add") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1)))
  (func (export "host_calls") (param $n i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (drop (call $get (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 8)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l))))
  (func $fib (export "fib") (param $n i64) (result i64)
    (if (result i64) (i64.lt_s (local.get $n) (i64.const 2))
      (then (local.get $n))
      (else (i64.add (call $fib (i64.sub (local.get $n) (i64.const 1)))
                     (call $fib (i64.sub (local.get $n) (i64.const 2))))))))
