"""Scenario 1 (driven by integration/tests/txn_visibility.rs): a transaction is visible to
read_committed only after its commit, an aborted one never; read_uncommitted sees the aborted
records' data, and the offsets taken by the control markers are gaps for both.

Usage: txn_commit_abort.py BOOTSTRAP TOPIC      (TOPIC exists with 2 partitions, empty)

Record i of a transaction goes to partition i % 2, so per partition:
  a0..a5 (txn A, committed)  -> offsets 0..2, COMMIT marker at 3
  b0..b5 (txn B, aborted)    -> offsets 4..6, ABORT marker at 7
  c0..c1 (txn C, committed)  -> offset 8,     COMMIT marker at 9
Prints the final reads as `REC rc|ru <partition> <offset> <value>`, then DONE.
"""
import sys

import txn_common as t


def values(tag, n):
    return [(i % 2, f"k{i}", f"{tag}{i}") for i in range(n)]


def expected(tag, n, first_offset):
    """(partition, offset, value) of `values(tag, n)` written from `first_offset` on."""
    rows = []
    for i in range(n):
        p = i % 2
        rows.append((p, first_offset + i // 2, f"{tag}{i}"))
    return sorted(rows)


def read(bootstrap, topic, isolation, quiet=0.0):
    return sorted(t.pov(t.read_all(bootstrap, topic, 2, isolation, quiet=quiet)))


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    p = t.txn_producer(bootstrap, "it-commit-abort")
    t.init(p)

    # Transaction A: produced and acknowledged, not committed yet.
    t.out("STEP txn-a-open")
    t.call("begin_transaction", p.begin_transaction)
    acked = t.produce_all(p, topic, values("a", 6), "txn A")
    t.expect(sorted(acked), sorted((i % 2, i // 2) for i in range(6)),
             "offsets acknowledged to txn A")
    t.expect(read(bootstrap, topic, t.READ_COMMITTED, quiet=1.0), [],
             "read_committed before A's commit")
    t.expect(t.list_offsets(bootstrap, topic, 2, t.READ_COMMITTED), {0: 0, 1: 0},
             "ListOffsets read_committed (last stable offset) while A is open")
    t.expect(t.list_offsets(bootstrap, topic, 2, t.READ_UNCOMMITTED), {0: 3, 1: 3},
             "ListOffsets read_uncommitted (high watermark) while A is open")
    t.expect(read(bootstrap, topic, t.READ_UNCOMMITTED), expected("a", 6, 0),
             "read_uncommitted while A is open")

    t.out("STEP txn-a-commit")
    t.call("commit_transaction (A)", p.commit_transaction, 30)
    t.wait_lso(bootstrap, topic, 2, {0: 4, 1: 4},
               what="last stable offset after A's commit (its COMMIT marker at 3)")
    t.expect(read(bootstrap, topic, t.READ_COMMITTED), expected("a", 6, 0),
             "read_committed after A's commit")

    # Transaction B: aborted.
    t.out("STEP txn-b-abort")
    t.call("begin_transaction", p.begin_transaction)
    acked = t.produce_all(p, topic, values("b", 6), "txn B")
    t.expect(sorted(acked), sorted((i % 2, 4 + i // 2) for i in range(6)),
             "offsets acknowledged to txn B")
    t.call("abort_transaction (B)", p.abort_transaction, 30)
    t.wait_lso(bootstrap, topic, 2, {0: 8, 1: 8},
               what="last stable offset after B's abort (its ABORT marker at 7)")
    t.expect(read(bootstrap, topic, t.READ_COMMITTED, quiet=1.0), expected("a", 6, 0),
             "read_committed after B's abort")

    # Transaction C: committed after an aborted one.
    t.out("STEP txn-c-commit")
    t.call("begin_transaction", p.begin_transaction)
    acked = t.produce_all(p, topic, values("c", 2), "txn C")
    t.expect(sorted(acked), [(0, 8), (1, 8)], "offsets acknowledged to txn C")
    t.call("commit_transaction (C)", p.commit_transaction, 30)
    t.wait_lso(bootstrap, topic, 2, {0: 10, 1: 10},
               what="last stable offset after C's commit (its COMMIT marker at 9)")

    rc = read(bootstrap, topic, t.READ_COMMITTED, quiet=1.0)
    ru = read(bootstrap, topic, t.READ_UNCOMMITTED, quiet=1.0)
    t.emit("rc", [(pp, o, None, v) for pp, o, v in rc])
    t.emit("ru", [(pp, o, None, v) for pp, o, v in ru])
    t.expect(rc, sorted(expected("a", 6, 0) + expected("c", 2, 8)),
             "read_committed at the end (A and C; never B)")
    t.expect(ru, sorted(expected("a", 6, 0) + expected("b", 6, 4) + expected("c", 2, 8)),
             "read_uncommitted at the end (A, B and C; markers at 3, 7, 9 are gaps)")
    hw = t.list_offsets(bootstrap, topic, 2, t.READ_UNCOMMITTED)
    lso = t.list_offsets(bootstrap, topic, 2, t.READ_COMMITTED)
    t.expect(hw, {0: 10, 1: 10}, "high watermark at the end")
    t.expect(lso, {0: 10, 1: 10}, "last stable offset at the end (no open transaction)")
    t.out("DONE")


if __name__ == "__main__":
    main()
