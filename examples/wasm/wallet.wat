;; A wallet: an actor that owns a balance in a ledger (ledger.wat) and pays others from it.
;;   pay(ledger: cap, to: bytes, amount: i64)   asks the ledger, through `ledger` (a capability
;;                                              to its transfer function), to move `amount`
;;                                              from this wallet to the actor `to`
(module
  (import "exo" "arg_read" (func $arg_read (param i32 i32 i32) (result i32)))
  (import "exo" "push_bytes" (func $push_bytes (param i32 i32)))
  (import "exo" "push_i64" (func $push_i64 (param i64)))
  (import "exo" "send" (func $send (param i32 i64)))
  (memory 1)
  (func (export "pay") (param $ledger i32) (param $to_len i32) (param $amount i64)
    (if (i32.ne (local.get $to_len) (i32.const 32)) (then unreachable))
    (drop (call $arg_read (i32.const 1) (i32.const 0) (i32.const 32)))
    (call $push_bytes (i32.const 0) (i32.const 32))
    (call $push_i64 (local.get $amount))
    (call $send (local.get $ledger) (i64.const 20000))))
