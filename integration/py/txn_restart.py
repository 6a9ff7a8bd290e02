"""Scenario 5 (driven by integration/tests/txn_restart.rs): the transaction coordinator
restarts (single node: the broker is killed and started again on its data directory; cluster:
the coordinator's broker is killed) in the middle of a transaction. The producer then either
commits (the records are visible exactly once) or gets an abortable or fatal error and
recovers (abort, or a new producer with the same transactional.id), redoing the transaction;
in the end read_committed sees every record of every transaction exactly once.

Usage: txn_restart.py BOOTSTRAP TOPIC PARTITIONS TXN_ID ROUNDS
  (TOPIC exists with PARTITIONS partitions, empty)

Protocol with the driving test, per round k = 1..ROUNDS:
  script: begin, produce 4 records per partition (values `k-i`), wait for their
          acknowledgements, print `STEP produced k`, read a line from stdin;
  test:   kill/restart what it wants, then write `GO`;
  script: commit_transaction (with librdkafka's error handling), print
          `KV outcome_k committed|aborted|fatal:<error>`; if the transaction did not commit,
          checks that none of its records is visible and redoes it (`KV redo_k <outcome>`).
Then one more transaction `final` without interference. Prints `REC rc <p> <o> <value>` for the
whole topic read with read_committed, `KV visible_<k> <count>` and DONE.
"""
import collections
import sys

import txn_common as t

PER_PARTITION = 4


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    partitions, txn_id, rounds = int(sys.argv[3]), sys.argv[4], int(sys.argv[5])

    def make_producer():
        return t.txn_producer(bootstrap, txn_id)

    holder = {"p": make_producer()}
    t.init_retrying(holder["p"])

    def records(tag):
        return [(i % partitions, f"k{i}", f"{tag}-{i}") for i in range(PER_PARTITION * partitions)]

    def visible(tag):
        t.settle(bootstrap, topic, partitions)
        rows = t.read_all(bootstrap, topic, partitions, t.READ_COMMITTED, timeout=60)
        return sum(1 for _p, _o, _k, v in rows if v.startswith(f"{tag}-"))

    def ensure_committed(tag, outcome):
        """After a transaction that did not report a commit, find out what it left and redo
        it until it commits."""
        attempts = 0
        while outcome != "committed":
            n = visible(tag)
            if n == len(records(tag)) and outcome.startswith("fatal:"):
                # The coordinator had accepted the commit; the new producer's init completed it.
                t.out(f"KV completed_by_init_{tag} {n}")
                return
            if n != 0:
                t.fail(f"transaction {tag} ended with {outcome} but {n} of "
                       f"{len(records(tag))} records are visible to read_committed")
            attempts += 1
            if attempts > 3:
                t.fail(f"transaction {tag} did not commit in 3 attempts after {outcome}")
            t.call("begin_transaction (redo)", holder["p"].begin_transaction)
            t.produce_all(holder["p"], topic, records(tag), f"redo {tag}")
            outcome = t.commit_or_recover(holder, make_producer, f"redo_{tag}")
            t.out(f"KV redo_{tag} {outcome}")

    for k in range(1, rounds + 1):
        tag = str(k)
        t.call("begin_transaction", holder["p"].begin_transaction)
        t.produce_all(holder["p"], topic, records(tag), f"round {k}")
        t.out(f"STEP produced {k}")
        t.wait_stdin("GO")
        outcome = t.commit_or_recover(holder, make_producer, f"commit_{tag}")
        t.out(f"KV outcome_{tag} {outcome}")
        ensure_committed(tag, outcome)

    t.call("begin_transaction (final)", holder["p"].begin_transaction)
    t.produce_all(holder["p"], topic, records("final"), "final")
    t.call("commit_transaction (final)", holder["p"].commit_transaction, 60)
    t.settle(bootstrap, topic, partitions)

    rows = t.read_all(bootstrap, topic, partitions, t.READ_COMMITTED, timeout=60, quiet=1.0)
    t.emit("rc", rows)
    counts = collections.Counter(v for _p, _o, _k, v in rows)
    tags = [str(k) for k in range(1, rounds + 1)] + ["final"]
    want = {f"{tag}-{i}" for tag in tags for i in range(PER_PARTITION * partitions)}
    dup = sorted(v for v, c in counts.items() if c > 1)
    missing = sorted(want - set(counts))
    extra = sorted(set(counts) - want)
    for tag in tags:
        t.out(f"KV visible_{tag} {sum(1 for v in counts if v.startswith(tag + '-'))}")
    if dup or missing or extra:
        t.fail(f"read_committed: duplicated {dup[:10]}, missing {missing[:10]}, "
               f"unexpected {extra[:10]}")
    for p, o, k, v in rows:
        i = int(v.rsplit("-", 1)[1])
        if p != i % partitions or k != f"k{i}":
            t.fail(f"record {v} at partition {p} with key {k}")
    hw = t.list_offsets(bootstrap, topic, partitions, t.READ_UNCOMMITTED)
    lso = t.list_offsets(bootstrap, topic, partitions, t.READ_COMMITTED)
    t.expect(lso, hw, "last stable offsets == high watermarks at the end (nothing left open)")
    t.out("DONE")


if __name__ == "__main__":
    main()
