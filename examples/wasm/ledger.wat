;; A token ledger: balances of actors, keyed by actor id ("b" + 32 bytes) in storage.
;;   init()                          the first caller becomes the owner, who alone may mint
;;   mint(amount: i64)               credits the owner (the caller) with `amount`
;;   transfer(to: bytes, amount: i64) moves `amount` from the caller to the actor `to` (its id)
;;   balance_of(id: bytes) -> i64    an actor's balance
;; Wallet actors (wallet.wat) call transfer through a capability to it, so the caller's id,
;; which the hypervisor gives and nobody can forge, is whose balance moves.
;; Bad requests trap (unreachable): the message fails and nothing of it remains.
(module
  (import "exo" "sender_id" (func $sender (param i32)))
  (import "exo" "arg_read" (func $arg_read (param i32 i32 i32) (result i32)))
  (import "exo" "storage_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "exo" "storage_put" (func $put (param i32 i32 i32 i32)))
  (memory 1)
  ;; 0..32: the caller's id; 32..64: the owner's id; 64..72: a balance;
  ;; 100..133: a balance key ("b" + id); 200..205: the key "owner"; 300..332: an argument id
  (data (i32.const 100) "b")
  (data (i32.const 200) "owner")

  (func $key (param $id i32)             ;; the balance key of the id at $id, at 100
    (memory.copy (i32.const 101) (local.get $id) (i32.const 32)))

  (func $balance (param $id i32) (result i64)
    (call $key (local.get $id))
    (if (result i64)
        (i32.eq (call $get (i32.const 100) (i32.const 33) (i32.const 64) (i32.const 8)) (i32.const 8))
      (then (i64.load (i32.const 64)))
      (else (i64.const 0))))

  (func $set_balance (param $id i32) (param $v i64)
    (call $key (local.get $id))
    (i64.store (i32.const 64) (local.get $v))
    (call $put (i32.const 100) (i32.const 33) (i32.const 64) (i32.const 8)))

  (func $same_id (param $a i32) (param $b i32) (result i32)
    (i32.and
      (i32.and (i64.eq (i64.load (local.get $a)) (i64.load (local.get $b)))
               (i64.eq (i64.load offset=8 (local.get $a)) (i64.load offset=8 (local.get $b))))
      (i32.and (i64.eq (i64.load offset=16 (local.get $a)) (i64.load offset=16 (local.get $b)))
               (i64.eq (i64.load offset=24 (local.get $a)) (i64.load offset=24 (local.get $b))))))

  (func $read_id (param $len i32)        ;; argument 0, an actor id, to 300
    (if (i32.ne (local.get $len) (i32.const 32)) (then unreachable))
    (drop (call $arg_read (i32.const 0) (i32.const 300) (i32.const 32))))

  (func (export "init")
    (if (i32.ne (call $get (i32.const 200) (i32.const 5) (i32.const 32) (i32.const 0)) (i32.const -1))
      (then unreachable))                ;; already has an owner
    (call $sender (i32.const 32))
    (call $put (i32.const 200) (i32.const 5) (i32.const 32) (i32.const 32)))

  (func (export "mint") (param $amount i64)
    (if (i32.ne (call $get (i32.const 200) (i32.const 5) (i32.const 32) (i32.const 32)) (i32.const 32))
      (then unreachable))                ;; no owner yet
    (call $sender (i32.const 0))
    (if (i32.eqz (call $same_id (i32.const 0) (i32.const 32))) (then unreachable))
    (if (i64.le_s (local.get $amount) (i64.const 0)) (then unreachable))
    (call $set_balance (i32.const 0) (i64.add (call $balance (i32.const 0)) (local.get $amount))))

  (func (export "transfer") (param $to_len i32) (param $amount i64)
    (local $from i64)
    (call $read_id (local.get $to_len))
    (if (i64.le_s (local.get $amount) (i64.const 0)) (then unreachable))
    (call $sender (i32.const 0))
    (local.set $from (call $balance (i32.const 0)))
    (if (i64.lt_s (local.get $from) (local.get $amount)) (then unreachable))   ;; insufficient funds
    (call $set_balance (i32.const 0) (i64.sub (local.get $from) (local.get $amount)))
    (call $set_balance (i32.const 300) (i64.add (call $balance (i32.const 300)) (local.get $amount))))

  (func (export "balance_of") (param $len i32) (result i64)
    (call $read_id (local.get $len))
    (call $balance (i32.const 300))))
