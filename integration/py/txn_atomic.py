"""Scenario 6 (driven by integration/tests/txn_atomic.rs): the broker is SIGKILLed while a
commit is in flight (between EndTxn and the control markers, as near as the test can time it
from outside) and started again. A transaction over PARTITIONS partitions is then either fully
visible to read_committed or not at all, never in part; a commit that was acknowledged is
fully visible.

Usage: txn_atomic.py BOOTSTRAP TOPIC PARTITIONS PER_PARTITION ROUNDS
  (TOPIC exists with PARTITIONS partitions, empty)

Per round k = 1..ROUNDS:
  script: begin, produce PER_PARTITION records to every partition (values `k-<p>-<i>`), wait
          for their acknowledgements, print `STEP ready k`, read `GO` from stdin, start
          commit_transaction in a thread and print `STEP committing k` at once;
  test:   SIGKILLs the broker (after a delay that differs per round) and starts it again;
  script: waits for the commit's outcome (librdkafka's error handling: retry, abort, or a new
          producer with the same transactional.id), prints `KV outcome_k committed|aborted|
          fatal:<error>`, then `KV visible_k <count>` (records of round k that read_committed
          sees) — it must be 0 or PARTITIONS * PER_PARTITION, and the full count if committed.
Prints `REC rc <p> <o> <value>` for the whole topic at the end, then DONE.
"""
import collections
import sys
import threading
import time

import txn_common as t

TXN_ID = "it-atomic"


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    partitions, per_partition, rounds = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    total = partitions * per_partition

    def make_producer():
        return t.txn_producer(bootstrap, TXN_ID)

    holder = {"p": make_producer()}
    t.init_retrying(holder["p"])

    def records(k):
        return [
            (p, f"k{p}-{i}", f"{k}-{p}-{i}")
            for i in range(per_partition)
            for p in range(partitions)
        ]

    outcomes = {}
    for k in range(1, rounds + 1):
        t.call("begin_transaction", holder["p"].begin_transaction)
        t.produce_all(holder["p"], topic, records(k), f"round {k}")
        t.out(f"STEP ready {k}")
        t.wait_stdin("GO")
        result = {}

        def commit():
            started = time.time()
            result["outcome"] = t.commit_or_recover(holder, make_producer, f"commit_{k}")
            result["ms"] = (time.time() - started) * 1000

        th = threading.Thread(target=commit)
        th.start()
        t.out(f"STEP committing {k}")
        th.join(180)
        if th.is_alive():
            t.fail(f"round {k}: the commit did not finish within 180 s")
        outcome = result.get("outcome")
        if outcome is None:
            t.fail(f"round {k}: the commit thread ended without an outcome")
        outcomes[k] = outcome
        t.out(f"KV outcome_{k} {outcome}")
        # A commit that took longer than the broker's restart was interrupted by the kill.
        t.out(f"KV commit_ms_{k} {result['ms']:.1f}")

        t.settle(bootstrap, topic, partitions)
        rows = t.read_all(bootstrap, topic, partitions, t.READ_COMMITTED, timeout=60, quiet=0.5)
        mine = sorted((p, v) for p, _o, _k, v in rows if v.startswith(f"{k}-"))
        t.out(f"KV visible_{k} {len(mine)}")
        by_p = collections.Counter(p for p, _v in mine)
        t.out(f"KV visible_by_partition_{k} {','.join(str(by_p.get(p, 0)) for p in range(partitions))}")
        if len(mine) not in (0, total):
            t.fail(f"round {k} ({outcome}): {len(mine)} of {total} records visible to "
                   f"read_committed (per partition {dict(by_p)}): the transaction is partial")
        if outcome == "committed" and len(mine) != total:
            t.fail(f"round {k}: the commit was acknowledged but {len(mine)} of {total} "
                   "records are visible")
        if outcome == "aborted" and mine:
            t.fail(f"round {k}: aborted but {len(mine)} records are visible")
        if mine and sorted(mine) != sorted((p, v) for p, _k, v in records(k)):
            t.fail(f"round {k}: the visible records differ from those produced")

    rows = t.read_all(bootstrap, topic, partitions, t.READ_COMMITTED, timeout=60, quiet=1.0)
    t.emit("rc", rows)
    counts = collections.Counter(v for _p, _o, _k, v in rows)
    dup = sorted(v for v, c in counts.items() if c > 1)
    if dup:
        t.fail(f"records read twice: {dup[:10]}")
    # Per partition, every round's records in production order.
    for p in range(partitions):
        seq = [v for pp, _o, _k, v in sorted(rows, key=lambda r: (r[0], r[1])) if pp == p]
        want = [f"{k}-{p}-{i}" for k in range(1, rounds + 1)
                if any(v.startswith(f"{k}-{p}-") for v in seq) for i in range(per_partition)]
        t.expect(seq, want, f"partition {p} read with read_committed")
    hw = t.list_offsets(bootstrap, topic, partitions, t.READ_UNCOMMITTED)
    lso = t.list_offsets(bootstrap, topic, partitions, t.READ_COMMITTED)
    t.expect(lso, hw, "last stable offsets == high watermarks at the end (nothing left open)")
    t.out("DONE")


if __name__ == "__main__":
    main()
