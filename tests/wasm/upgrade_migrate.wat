;; examples/wasm/counter.wat with one function added after its exports: what an upgrade
;; with a migration looks like. add and get behave as before (so the history replays the
;; same), and migrate(by) adds `by` to the count once, when the node switches to it (the
;; image's manifest names it in "migrate").
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

  (func $add (export "add") (param $by i64) (result i64)
    (local $n i64)
    (local.set $n (i64.add (call $load) (local.get $by)))
    (i64.store (i32.const 16) (local.get $n))
    (call $put (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 8))
    (local.get $n))

  (func (export "get") (result i64)
    (call $load))

  (func (export "migrate") (param $by i64) (result i64)
    (if (i64.lt_s (local.get $by) (i64.const 0)) (then unreachable))
    (call $add (local.get $by))))
