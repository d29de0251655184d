;; Grows its memory and then traps: the instance must be rebuilt after the message while the
;; trap that ended it is still held (found by the fuzzer: a use after free of the old store).
(module
  (memory 1 4)
  (func (export "grow_then_trap")
    (drop (memory.grow (i32.const 1)))
    unreachable)
  (func (export "pages") (result i32)
    (memory.size)))
