;; LZ4 block decoder. decode(srcLen, dst, dstCap): the block is at [0, srcLen) of memory, the
;; output goes to [dst, dst + dstCap); returns the decoded length, or -1 for any fault (the
;; caller then decodes again in JavaScript, which says which fault).
(module
  (memory (export "memory") 1)

  ;; Copies a match of `len` bytes from `ref` (`off` back) to `op`; `op + len` <= `dEnd`.
  (func $match (param $op i32) (param $ref i32) (param $len i32) (param $off i32) (param $dEnd i32)
    (local $stop i32) (local $n i32)
    (local.set $stop (i32.add (local.get $op) (local.get $len)))
    (if (i32.and
          (i32.ge_u (local.get $off) (i32.const 8))
          (i32.le_u (i32.add (local.get $stop) (i32.const 8)) (local.get $dEnd)))
      (then
        ;; word by word: each word read lies at least 8 bytes back, so it is already written
        (loop $copy
          (i64.store (local.get $op) (i64.load (local.get $ref)))
          (local.set $op (i32.add (local.get $op) (i32.const 8)))
          (local.set $ref (i32.add (local.get $ref) (i32.const 8)))
          (br_if $copy (i32.lt_u (local.get $op) (local.get $stop))))
        (return)))
    (if (i32.ge_u (local.get $off) (local.get $len))
      (then
        (memory.copy (local.get $op) (local.get $ref) (local.get $len))
        (return)))
    ;; a match that overlaps itself: the pattern in doubling runs (each run's source lies
    ;; wholly before it, and the distance stays a multiple of `off`)
    (loop $runs
      (local.set $n (i32.sub (local.get $op) (local.get $ref)))
      (if (i32.gt_u (local.get $n) (i32.sub (local.get $stop) (local.get $op)))
        (then (local.set $n (i32.sub (local.get $stop) (local.get $op)))))
      (memory.copy (local.get $op) (local.get $ref) (local.get $n))
      (local.set $op (i32.add (local.get $op) (local.get $n)))
      (br_if $runs (i32.lt_u (local.get $op) (local.get $stop)))))

  (func (export "decode") (param $sEnd i32) (param $d0 i32) (param $dCap i32) (result i32)
    (local $ip i32) (local $op i32) (local $dEnd i32) (local $token i32) (local $len i32)
    (local $b i32) (local $off i32) (local $ref i32) (local $stop i32)
    (local $sSafe i32) (local $dSafe i32) (local $start i32)
    (local.set $op (local.get $d0))
    (local.set $dEnd (i32.add (local.get $d0) (local.get $dCap)))

    ;; The fast loop: while a sequence starts 64 bytes or more from both ends, short literals
    ;; and short matches go as whole 8-byte words with no per-byte bounds checks (what lies
    ;; past them is written over by the next sequences). The careful loop below does the rest.
    (local.set $sSafe (i32.sub (local.get $sEnd) (i32.const 64)))
    (local.set $dSafe (i32.sub (local.get $dEnd) (i32.const 64)))
    (if (i32.and (i32.ge_s (local.get $sSafe) (i32.const 0)) (i32.ge_u (local.get $dCap) (i32.const 64)))
      (then
        (block $leave
          (loop $fast
            (br_if $leave (i32.ge_u (local.get $ip) (local.get $sSafe)))
            (br_if $leave (i32.ge_u (local.get $op) (local.get $dSafe)))
            (local.set $start (local.get $ip))
            (local.set $token (i32.load8_u (local.get $ip)))
            (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
            (local.set $len (i32.shr_u (local.get $token) (i32.const 4)))
            (if (i32.ne (local.get $len) (i32.const 15))
              (then
                (i64.store (local.get $op) (i64.load (local.get $ip)))
                (i64.store offset=8 (local.get $op) (i64.load offset=8 (local.get $ip)))
                (local.set $ip (i32.add (local.get $ip) (local.get $len)))
                (local.set $op (i32.add (local.get $op) (local.get $len))))
              (else
                (loop $more
                  (if (i32.ge_u (local.get $ip) (local.get $sEnd)) (then (return (i32.const -1))))
                  (local.set $b (i32.load8_u (local.get $ip)))
                  (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
                  (local.set $len (i32.add (local.get $len) (local.get $b)))
                  (br_if $more (i32.eq (local.get $b) (i32.const 255))))
                ;; a run that ends near either end (the block's last literals): the careful loop redoes it
                (if (i32.or
                      (i32.gt_u (local.get $len) (i32.sub (local.get $sSafe) (local.get $ip)))
                      (i32.gt_u (local.get $len) (i32.sub (local.get $dSafe) (local.get $op))))
                  (then
                    (local.set $ip (local.get $start))
                    (br $leave)))
                (memory.copy (local.get $op) (local.get $ip) (local.get $len))
                (local.set $ip (i32.add (local.get $ip) (local.get $len)))
                (local.set $op (i32.add (local.get $op) (local.get $len)))))
            ;; 50 bytes or more of the block are left: the offset can be read
            (local.set $off (i32.load16_u (local.get $ip)))
            (local.set $ip (i32.add (local.get $ip) (i32.const 2)))
            (if (i32.eqz (local.get $off)) (then (return (i32.const -1))))
            (if (i32.gt_u (local.get $off) (i32.sub (local.get $op) (local.get $d0))) (then (return (i32.const -1))))
            (local.set $ref (i32.sub (local.get $op) (local.get $off)))
            (local.set $len (i32.and (local.get $token) (i32.const 15)))
            (if (i32.and (i32.ne (local.get $len) (i32.const 15)) (i32.ge_u (local.get $off) (i32.const 8)))
              (then
                ;; at most 18 bytes, each word read at least 8 bytes back (already written)
                (i64.store (local.get $op) (i64.load (local.get $ref)))
                (i64.store offset=8 (local.get $op) (i64.load offset=8 (local.get $ref)))
                (i64.store offset=16 (local.get $op) (i64.load offset=16 (local.get $ref)))
                (local.set $op (i32.add (local.get $op) (i32.add (local.get $len) (i32.const 4))))
                (br $fast)))
            (if (i32.eq (local.get $len) (i32.const 15))
              (then
                (loop $more
                  (if (i32.ge_u (local.get $ip) (local.get $sEnd)) (then (return (i32.const -1))))
                  (local.set $b (i32.load8_u (local.get $ip)))
                  (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
                  (local.set $len (i32.add (local.get $len) (local.get $b)))
                  (br_if $more (i32.eq (local.get $b) (i32.const 255))))))
            (local.set $len (i32.add (local.get $len) (i32.const 4)))
            (if (i32.gt_u (local.get $len) (i32.sub (local.get $dEnd) (local.get $op))) (then (return (i32.const -1))))
            (call $match (local.get $op) (local.get $ref) (local.get $len) (local.get $off) (local.get $dEnd))
            (local.set $op (i32.add (local.get $op) (local.get $len)))
            (br $fast)))))
    (loop $seq
      ;; a sequence: token, literals, then (unless the block ends) a match
      (if (i32.ge_u (local.get $ip) (local.get $sEnd)) (then (return (i32.const -1))))
      (local.set $token (i32.load8_u (local.get $ip)))
      (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
      (local.set $len (i32.shr_u (local.get $token) (i32.const 4)))
      (if (i32.eq (local.get $len) (i32.const 15))
        (then
          (loop $more
            (if (i32.ge_u (local.get $ip) (local.get $sEnd)) (then (return (i32.const -1))))
            (local.set $b (i32.load8_u (local.get $ip)))
            (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
            (local.set $len (i32.add (local.get $len) (local.get $b)))
            (br_if $more (i32.eq (local.get $b) (i32.const 255))))))
      (if (local.get $len)
        (then
          (if (i32.gt_u (local.get $len) (i32.sub (local.get $sEnd) (local.get $ip))) (then (return (i32.const -1))))
          (if (i32.gt_u (local.get $len) (i32.sub (local.get $dEnd) (local.get $op))) (then (return (i32.const -1))))
          (if (i32.and
                (i32.le_u (local.get $len) (i32.const 16))
                (i32.and
                  (i32.le_u (i32.add (local.get $ip) (i32.const 16)) (local.get $sEnd))
                  (i32.le_u (i32.add (local.get $op) (i32.const 16)) (local.get $dEnd))))
            (then
              ;; short literals: two whole words (what lies past them is written over later)
              (i64.store (local.get $op) (i64.load (local.get $ip)))
              (i64.store offset=8 (local.get $op) (i64.load offset=8 (local.get $ip))))
            (else (memory.copy (local.get $op) (local.get $ip) (local.get $len))))
          (local.set $ip (i32.add (local.get $ip) (local.get $len)))
          (local.set $op (i32.add (local.get $op) (local.get $len)))))
      ;; the last sequence has literals only
      (if (i32.eq (local.get $ip) (local.get $sEnd)) (then (return (i32.sub (local.get $op) (local.get $d0)))))
      (if (i32.gt_u (i32.add (local.get $ip) (i32.const 2)) (local.get $sEnd)) (then (return (i32.const -1))))
      (local.set $off (i32.load16_u (local.get $ip)))
      (local.set $ip (i32.add (local.get $ip) (i32.const 2)))
      (if (i32.eqz (local.get $off)) (then (return (i32.const -1))))
      (if (i32.gt_u (local.get $off) (i32.sub (local.get $op) (local.get $d0))) (then (return (i32.const -1))))
      (local.set $ref (i32.sub (local.get $op) (local.get $off)))
      (local.set $len (i32.and (local.get $token) (i32.const 15)))
      (if (i32.eq (local.get $len) (i32.const 15))
        (then
          (loop $more
            (if (i32.ge_u (local.get $ip) (local.get $sEnd)) (then (return (i32.const -1))))
            (local.set $b (i32.load8_u (local.get $ip)))
            (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
            (local.set $len (i32.add (local.get $len) (local.get $b)))
            (br_if $more (i32.eq (local.get $b) (i32.const 255))))))
      (local.set $len (i32.add (local.get $len) (i32.const 4)))
      (if (i32.gt_u (local.get $len) (i32.sub (local.get $dEnd) (local.get $op))) (then (return (i32.const -1))))
      (call $match (local.get $op) (local.get $ref) (local.get $len) (local.get $off) (local.get $dEnd))
      (local.set $op (i32.add (local.get $op) (local.get $len)))
      (br $seq))
    (unreachable)))
