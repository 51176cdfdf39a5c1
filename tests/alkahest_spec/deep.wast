;; Deep nesting: more block frames than the code generator's first control-stack
;; allocation (16), with one-value block types whose result merges in a register, and
;; branches, br_if and br_table across many levels. (A use after free once lived here.)
(module
  (func (export "deep") (param i32) (result i32)
    (block $b0 (result i32)
      (block $b1 (result i32)
        (block $b2 (result i32)
          (block $b3 (result i32)
            (block $b4 (result i32)
              (block $b5 (result i32)
                (block $b6 (result i32)
                  (block $b7 (result i32)
                    (block $b8 (result i32)
                      (block $b9 (result i32)
                        (block $b10 (result i32)
                          (block $b11 (result i32)
                            (block $b12 (result i32)
                              (block $b13 (result i32)
                                (block $b14 (result i32)
                                  (block $b15 (result i32)
                                    (block $b16 (result i32)
                                      (block $b17 (result i32)
                                        (block $b18 (result i32)
                                          (block $b19 (result i32)
                                            (block $b20 (result i32)
                                              (block $b21 (result i32)
                                                (block $b22 (result i32)
                                                  (block $b23 (result i32)
                                                    (block $b24 (result i32)
                                                      (block $b25 (result i32)
                                                        (block $b26 (result i32)
                                                          (block $b27 (result i32)
                                                            (block $b28 (result i32)
                                                              (block $b29 (result i32)
                                                                (block $b30 (result i32)
                                                                  (block $b31 (result i32)
                                                                    (block $b32 (result i32)
                                                                      (block $b33 (result i32)
                                                                        (block $b34 (result i32)
                                                                          (block $b35 (result i32)
                                                                            (block $b36 (result i32)
                                                                              (block $b37 (result i32)
                                                                                (block $b38 (result i32)
                                                                                  (block $b39 (result i32)
                                                                                    (br_if $b39 (i32.const 7) (i32.eq (local.get 0) (i32.const 100)))
                                                                                    (br_table $b39 $b30 $b20 $b10 $b1 $b0 (i32.const 5) (local.get 0))
                                                                                  (i32.add (i32.const 39))) ;; $b39
                                                                                (i32.add (i32.const 38))) ;; $b38
                                                                              (i32.add (i32.const 37))) ;; $b37
                                                                            (i32.add (i32.const 36))) ;; $b36
                                                                          (i32.add (i32.const 35))) ;; $b35
                                                                        (i32.add (i32.const 34))) ;; $b34
                                                                      (i32.add (i32.const 33))) ;; $b33
                                                                    (i32.add (i32.const 32))) ;; $b32
                                                                  (i32.add (i32.const 31))) ;; $b31
                                                                (i32.add (i32.const 30))) ;; $b30
                                                              (i32.add (i32.const 29))) ;; $b29
                                                            (i32.add (i32.const 28))) ;; $b28
                                                          (i32.add (i32.const 27))) ;; $b27
                                                        (i32.add (i32.const 26))) ;; $b26
                                                      (i32.add (i32.const 25))) ;; $b25
                                                    (i32.add (i32.const 24))) ;; $b24
                                                  (i32.add (i32.const 23))) ;; $b23
                                                (i32.add (i32.const 22))) ;; $b22
                                              (i32.add (i32.const 21))) ;; $b21
                                            (i32.add (i32.const 20))) ;; $b20
                                          (i32.add (i32.const 19))) ;; $b19
                                        (i32.add (i32.const 18))) ;; $b18
                                      (i32.add (i32.const 17))) ;; $b17
                                    (i32.add (i32.const 16))) ;; $b16
                                  (i32.add (i32.const 15))) ;; $b15
                                (i32.add (i32.const 14))) ;; $b14
                              (i32.add (i32.const 13))) ;; $b13
                            (i32.add (i32.const 12))) ;; $b12
                          (i32.add (i32.const 11))) ;; $b11
                        (i32.add (i32.const 10))) ;; $b10
                      (i32.add (i32.const 9))) ;; $b9
                    (i32.add (i32.const 8))) ;; $b8
                  (i32.add (i32.const 7))) ;; $b7
                (i32.add (i32.const 6))) ;; $b6
              (i32.add (i32.const 5))) ;; $b5
            (i32.add (i32.const 4))) ;; $b4
          (i32.add (i32.const 3))) ;; $b3
        (i32.add (i32.const 2))) ;; $b2
      (i32.add (i32.const 1))) ;; $b1
    (i32.add (i32.const 0))) ;; $b0
  )
  (func (export "ifs") (param i32) (result i32)
    (if (result i32) (i32.and (local.get 0) (i32.const 32)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 16)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 8)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 4)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 2)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 1)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 128)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 64)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 32)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 16)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 8)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 4)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 2)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 1)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 128)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 64)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 32)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 16)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 8)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 4)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 2)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 1)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 128)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 64)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 32)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 16)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 8)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 4)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 2)) (then (i32.add (if (result i32) (i32.and (local.get 0) (i32.const 1)) (then (i32.add (local.get 0) (i32.const 1))) (else (i32.const 0))) (i32.const 1))) (else (i32.const 1))) (i32.const 1))) (else (i32.const 2))) (i32.const 1))) (else (i32.const 3))) (i32.const 1))) (else (i32.const 4))) (i32.const 1))) (else (i32.const 5))) (i32.const 1))) (else (i32.const 6))) (i32.const 1))) (else (i32.const 7))) (i32.const 1))) (else (i32.const 8))) (i32.const 1))) (else (i32.const 9))) (i32.const 1))) (else (i32.const 10))) (i32.const 1))) (else (i32.const 11))) (i32.const 1))) (else (i32.const 12))) (i32.const 1))) (else (i32.const 13))) (i32.const 1))) (else (i32.const 14))) (i32.const 1))) (else (i32.const 15))) (i32.const 1))) (else (i32.const 16))) (i32.const 1))) (else (i32.const 17))) (i32.const 1))) (else (i32.const 18))) (i32.const 1))) (else (i32.const 19))) (i32.const 1))) (else (i32.const 20))) (i32.const 1))) (else (i32.const 21))) (i32.const 1))) (else (i32.const 22))) (i32.const 1))) (else (i32.const 23))) (i32.const 1))) (else (i32.const 24))) (i32.const 1))) (else (i32.const 25))) (i32.const 1))) (else (i32.const 26))) (i32.const 1))) (else (i32.const 27))) (i32.const 1))) (else (i32.const 28))) (i32.const 1))) (else (i32.const 29)))
  )
)
(assert_return (invoke "deep" (i32.const 0)) (i32.const 746))
(assert_return (invoke "deep" (i32.const 1)) (i32.const 440))
(assert_return (invoke "deep" (i32.const 2)) (i32.const 195))
(assert_return (invoke "deep" (i32.const 3)) (i32.const 50))
(assert_return (invoke "deep" (i32.const 4)) (i32.const 5))
(assert_return (invoke "deep" (i32.const 5)) (i32.const 5))
(assert_return (invoke "deep" (i32.const 9)) (i32.const 5))
(assert_return (invoke "deep" (i32.const 100)) (i32.const 748))
(assert_return (invoke "ifs" (i32.const 0)) (i32.const 29))
(assert_return (invoke "ifs" (i32.const 1)) (i32.const 29))
(assert_return (invoke "ifs" (i32.const 255)) (i32.const 285))
(assert_return (invoke "ifs" (i32.const 170)) (i32.const 29))
(assert_return (invoke "ifs" (i32.const 85)) (i32.const 29))
(assert_return (invoke "ifs" (i32.const 12345)) (i32.const 29))
