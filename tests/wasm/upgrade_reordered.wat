;; examples/wasm/counter.wat with its two exports in the other order: it behaves the same, but
;; capabilities name functions by position, so a node cannot switch to it (a capability to
;; "add" would call "get"); the switch is refused and nothing changes.
(module
  (import "exo" "storage_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "exo" "storage_put" (func $put (param i32 i32 i32 i32)))
  (memory 1)
  (data (i32.const 0) "n")

  (func $load (result i64)
    (if (result i64)
        (i32.eq (call $get (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 8)) (i32.const 8))
      (then (i64.load (i32.const 16)))
      (else (i64.const 0))))

  (func (export "get") (result i64)
    (call $load))

  (func (export "add") (param $by i64) (result i64)
    (local $n i64)
    (local.set $n (i64.add (call $load) (local.get $by)))
    (i64.store (i32.const 16) (local.get $n))
    (call $put (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 8))
    (local.get $n)))
