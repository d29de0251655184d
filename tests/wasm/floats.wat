;; Float code whose results must be the same bits on every machine: each operation that can
;; make a NaN, and a float-heavy workload whose every result (NaNs included) is folded into
;; a hash and written to storage.
(module
  (import "exo" "storage_put" (func $put (param i32 i32 i32 i32)))
  (memory 1)
  (data (i32.const 0) "h")            ;; the storage key "h"; its value buffer is at 16

  ;; NaNs with a payload and a sign, the inputs a machine would pass on as they are.
  (global $nan64 f64 (f64.const -nan:0x4000000000001))
  (global $nan32 f32 (f32.const -nan:0x200001))

  ;; The bits of the result of operation `op` (f32 results zero-extended).
  (func (export "nan_bits") (param $op i32) (result i64)
    (block $f32ops
      (block $bad
        (block $o16 (block $o15 (block $o14 (block $o13 (block $o12 (block $o11 (block $o10
        (block $o9 (block $o8 (block $o7 (block $o6 (block $o5 (block $o4 (block $o3 (block $o2
        (block $o1 (block $o0
          (br_table $o0 $o1 $o2 $o3 $o4 $o5 $o6 $o7 $o8 $o9 $o10 $o11 $o12 $o13 $o14 $o15 $o16 $bad
            (local.get $op)))
        ;; 0: 0/0
        (return (i64.reinterpret_f64 (f64.div (f64.const 0) (f64.const 0)))))
        ;; 1: sqrt(-1)
        (return (i64.reinterpret_f64 (f64.sqrt (f64.const -1)))))
        ;; 2: inf - inf
        (return (i64.reinterpret_f64 (f64.sub (f64.const inf) (f64.const inf)))))
        ;; 3: inf * 0
        (return (i64.reinterpret_f64 (f64.mul (f64.const -inf) (f64.const 0)))))
        ;; 4: a payload NaN + 1
        (return (i64.reinterpret_f64 (f64.add (global.get $nan64) (f64.const 1)))))
        ;; 5: min with a payload NaN
        (return (i64.reinterpret_f64 (f64.min (f64.const 1) (global.get $nan64)))))
        ;; 6: max with a payload NaN
        (return (i64.reinterpret_f64 (f64.max (global.get $nan64) (f64.const 1)))))
        ;; 7: floor of a payload NaN
        (return (i64.reinterpret_f64 (f64.floor (global.get $nan64)))))
        ;; 8: nearest of a payload NaN
        (return (i64.reinterpret_f64 (f64.nearest (global.get $nan64)))))
        ;; 9: a payload f32 NaN promoted
        (return (i64.reinterpret_f64 (f64.promote_f32 (global.get $nan32)))))
        ;; 10: a payload NaN / 2
        (return (i64.reinterpret_f64 (f64.div (global.get $nan64) (f64.const 2)))))
        ;; 11: f32 0/0
        (return (i64.extend_i32_u (i32.reinterpret_f32 (f32.div (f32.const 0) (f32.const 0))))))
        ;; 12: f32 sqrt(-1)
        (return (i64.extend_i32_u (i32.reinterpret_f32 (f32.sqrt (f32.const -1))))))
        ;; 13: f32 payload NaN * 3
        (return (i64.extend_i32_u (i32.reinterpret_f32 (f32.mul (global.get $nan32) (f32.const 3))))))
        ;; 14: a payload f64 NaN demoted
        (return (i64.extend_i32_u (i32.reinterpret_f32 (f32.demote_f64 (global.get $nan64))))))
        ;; 15: f32 ceil of a payload NaN
        (return (i64.extend_i32_u (i32.reinterpret_f32 (f32.ceil (global.get $nan32))))))
        ;; 16: neg of a payload NaN: a sign-bit operation, which keeps the payload
        (return (i64.reinterpret_f64 (f64.neg (global.get $nan64)))))
      unreachable)
    unreachable)

  ;; `n` rounds of arithmetic on a few floats from `seed`; some rounds make NaNs (0/0,
  ;; sqrt of a negative, inf - inf) that flow on through later operations. Every result's
  ;; bits go into an FNV-style hash, which is stored under "h" and returned.
  (func (export "mix") (param $seed i64) (param $n i32) (result i64)
    (local $a f64) (local $b f64) (local $c f32) (local $h i64) (local $i i32) (local $t f64)
    (local.set $a (f64.convert_i64_s (local.get $seed)))
    (local.set $b (f64.const 0.5))
    (local.set $c (f32.const 1.25))
    (local.set $h (i64.const 0xcbf29ce484222325))
    (block $done
      (loop $round
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $t
          (f64.add (f64.mul (local.get $a) (f64.const 1.000001)) (f64.div (local.get $b) (f64.const 3))))
        ;; one round in 7: 0/0; one in 11: sqrt of a negative; one in 13: inf - inf
        (if (i32.eq (i32.rem_u (local.get $i) (i32.const 7)) (i32.const 3))
          (then (local.set $t (f64.div (f64.sub (local.get $t) (local.get $t)) (f64.const 0)))))
        (if (i32.eq (i32.rem_u (local.get $i) (i32.const 11)) (i32.const 5))
          (then (local.set $t (f64.sqrt (f64.neg (f64.abs (local.get $t)))))))
        (if (i32.eq (i32.rem_u (local.get $i) (i32.const 13)) (i32.const 6))
          (then (local.set $t (f64.sub (f64.const inf) (f64.const inf)))))
        (local.set $c (f32.add (f32.demote_f64 (local.get $t)) (f32.mul (local.get $c) (f32.const 0.75))))
        (local.set $b (f64.add (f64.promote_f32 (local.get $c)) (f64.min (local.get $t) (local.get $b))))
        ;; a NaN must not stay forever: start again from the round number
        (if (f64.ne (local.get $t) (local.get $t))
          (then (local.set $a (f64.convert_i32_u (local.get $i))))
          (else (local.set $a (f64.nearest (f64.sqrt (f64.abs (local.get $t)))))))
        (if (f32.ne (local.get $c) (local.get $c)) (then (local.set $c (f32.const 1.25))))
        (if (f64.ne (local.get $b) (local.get $b)) (then (local.set $b (f64.const 0.5))))
        (local.set $h (i64.mul (i64.xor (local.get $h) (i64.reinterpret_f64 (local.get $t))) (i64.const 0x100000001b3)))
        (local.set $h (i64.mul (i64.xor (local.get $h) (i64.reinterpret_f64 (local.get $b))) (i64.const 0x100000001b3)))
        (local.set $h (i64.mul (i64.xor (local.get $h) (i64.extend_i32_u (i32.reinterpret_f32 (local.get $c))))
                               (i64.const 0x100000001b3)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $round)))
    (i64.store (i32.const 16) (local.get $h))
    (call $put (i32.const 0) (i32.const 1) (i32.const 16) (i32.const 8))
    (local.get $h))
)
