;; A forwarding chain that builds itself.
;;   grow(depth: i64)   creates an actor of this same code, links to it, and asks it to grow
;;                      by depth-1: a creation chain of `depth` actors after this one
;;   link(next: cap)    forward pings to `next` (a capability to another actor's ping)
;;   ping(n: i64)       passes n+1 along the chain; the last actor keeps n
;;   last() -> i64      what the last ping brought here (0 if none)
(module
  (import "exo" "storage_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "exo" "storage_put" (func $put (param i32 i32 i32 i32)))
  (import "exo" "push_i64" (func $push_i64 (param i64)))
  (import "exo" "send" (func $send (param i32 i64)))
  (import "exo" "code_hash" (func $code_hash (param i32)))
  (import "exo" "create" (func $create (param i32) (result i32)))
  (import "exo" "derive" (func $derive (param i32 i32 i32 i32) (result i32)))
  (import "exo" "remaining" (func $remaining (result i64)))
  (memory 1)
  ;; 0: key "next" (4); 8: key "last" (4); 16..24: a value; 32..64: a code hash;
  ;; 64: "ping"; 72: "grow"
  (data (i32.const 0) "next")
  (data (i32.const 8) "last")
  (data (i32.const 64) "ping")
  (data (i32.const 72) "grow")

  ;; What a message hands on: all that is left but 100 ticks, for this function to finish.
  (func $handed_on (result i64)
    (i64.sub (call $remaining) (i64.const 100)))

  (func $link (param $next i32)
    (i32.store (i32.const 16) (local.get $next))
    (call $put (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 4)))

  (func (export "link") (param $next i32)
    (call $link (local.get $next)))

  (func (export "ping") (param $n i64)
    (if (i32.eq (call $get (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 4)) (i32.const 4))
      (then
        (call $push_i64 (i64.add (local.get $n) (i64.const 1)))
        (call $send (i32.load (i32.const 16)) (call $handed_on)))
      (else
        (i64.store (i32.const 16) (local.get $n))
        (call $put (i32.const 8) (i32.const 4) (i32.const 16) (i32.const 8)))))

  (func (export "last") (result i64)
    (if (result i64)
        (i32.eq (call $get (i32.const 8) (i32.const 4) (i32.const 16) (i32.const 8)) (i32.const 8))
      (then (i64.load (i32.const 16)))
      (else (i64.const 0))))

  (func (export "grow") (param $depth i64)
    (local $child i32)
    (if (i64.le_s (local.get $depth) (i64.const 0)) (then return))
    (call $code_hash (i32.const 32))
    (local.set $child (call $create (i32.const 32)))
    (call $link (call $derive (local.get $child) (i32.const 7) (i32.const 64) (i32.const 4)))
    (call $push_i64 (i64.sub (local.get $depth) (i64.const 1)))
    (call $send (call $derive (local.get $child) (i32.const 7) (i32.const 72) (i32.const 4))
                (call $handed_on))))
