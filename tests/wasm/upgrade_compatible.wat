;; examples/wasm/counter.wat with its code rewritten but its behaviour kept: what a
;; compatible upgrade (a refactoring, a fix of what no call reached) looks like. The tests of
;; exo::check_upgrade replay a counter's log against it and find no divergence.
(module
  (import "exo" "storage_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "exo" "storage_put" (func $put (param i32 i32 i32 i32)))
  (memory 1)
  (data (i32.const 0) "n")

  (func $load (result i64)
    (local $got i32)
    (local.set $got (call $get (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 8)))
    (if (result i64) (i32.ne (local.get $got) (i32.const 8))
      (then (i64.const 0))
      (else (i64.load (i32.const 16)))))

  (func $store (param $n i64)
    (i64.store (i32.const 16) (local.get $n))
    (call $put (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 8)))

  (func (export "add") (param $by i64) (result i64)
    (local $n i64)
    (local.set $n (i64.add (local.get $by) (call $load)))
    (call $store (local.get $n))
    (local.get $n))

  (func (export "get") (result i64)
    (call $load)))
