;; A memory of 0 pages in a module that can write memory: resetting it after a message has
;; nothing to copy (found by the fuzzer: memcpy was handed the empty memory's null pointer).
(module
  (memory 0 1)
  (func (export "one") (result i32) (i32.const 1))
  (func (export "poke") (i32.store (i32.const 0) (i32.const 7))))
