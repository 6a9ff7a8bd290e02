"""Scenario 4 (driven by integration/tests/txn_fencing.rs): a second producer with the same
transactional.id fences the first. The second's init_transactions aborts the first's open
transaction (its records are never visible to read_committed); the first's next produce and
its commit fail with a fatal fenced error (librdkafka's _FENCED, from PRODUCER_FENCED or
INVALID_PRODUCER_EPOCH), and nothing it sends after the fencing is written.

Usage: txn_fencing.py BOOTSTRAP TOPIC      (TOPIC exists with 1 partition, empty)

Offsets: r0 r1 r2 (first producer, 0..2) | ABORT marker at 3 | s0 (second producer, 4) |
COMMIT marker at 5.
Prints `KV <name> <value>`, `REC rc|ru <p> <o> <v>`, then DONE.
"""
import sys

import txn_common as t

TXN_ID = "it-fencing"


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]

    first = t.txn_producer(bootstrap, TXN_ID)
    t.init(first)
    t.call("begin_transaction (first)", first.begin_transaction)
    acked = t.produce_all(first, topic, [(0, None, f"r{i}") for i in range(3)], "first")
    t.expect(acked, [(0, 0), (0, 1), (0, 2)], "offsets of the first producer's r0..r2")

    second = t.txn_producer(bootstrap, TXN_ID)
    t.call("init_transactions (second)", second.init_transactions, 30)
    t.out("STEP second-initialised")
    t.call("begin_transaction (second)", second.begin_transaction)
    acked = t.produce_all(second, topic, [(0, None, "s0")], "second")
    t.out(f"KV second_offset {acked[0][1]}")
    t.expect(acked, [(0, 4)], "offset of the second producer's s0 (after the ABORT marker at 3)")
    t.call("commit_transaction (second)", second.commit_transaction, 30)
    t.wait_lso(bootstrap, topic, 1, {0: 6}, what="last stable offset after the second's commit")

    # The zombie: a produce, then a commit.
    reports = []
    try:
        first.produce(topic, value=b"r3", partition=0,
                      on_delivery=lambda err, msg: reports.append(err))
        first.flush(20)
    except Exception as e:  # a fatal producer may refuse the produce call itself
        reports.append(e)
    if not reports:
        t.fail("no delivery report within 20 s for the fenced producer's produce")
    produce_err = reports[0]
    t.out(f"KV zombie_produce {t.describe_error(produce_err) if produce_err else 'delivered'}")
    if produce_err is None:
        t.fail("the fenced producer's produce was delivered")

    try:
        first.commit_transaction(20)
        t.fail("commit_transaction of the fenced producer succeeded")
    except t.KafkaException as e:
        err = t.kafka_error(e)
        t.out(f"KV zombie_commit {t.describe_error(e)}")
        if err is None or not err.fatal():
            t.fail(f"the fenced producer's commit error is not fatal: {t.describe_error(e)}")
        if err.code() not in t.FENCED_CODES:
            t.fail(f"the fenced producer's commit error is not a fencing error: "
                   f"{t.describe_error(e)}")
        t.out(f"KV zombie_commit_code {err.name()}")
        t.out(f"KV zombie_commit_fatal {int(err.fatal())}")

    # A fatal producer stays fatal.
    try:
        first.begin_transaction()
        t.fail("begin_transaction of the fenced producer succeeded")
    except t.KafkaException as e:
        t.out(f"KV zombie_begin {t.describe_error(e)}")

    rc = t.read_all(bootstrap, topic, 1, t.READ_COMMITTED, quiet=1.0)
    ru = t.read_all(bootstrap, topic, 1, t.READ_UNCOMMITTED, quiet=1.0)
    t.emit("rc", rc)
    t.emit("ru", ru)
    t.expect(t.pov(rc), [(0, 4, "s0")], "read_committed: only the second producer's s0")
    t.expect(t.pov(ru), [(0, 0, "r0"), (0, 1, "r1"), (0, 2, "r2"), (0, 4, "s0")],
             "read_uncommitted: r0..r2 (aborted) and s0; no r3")
    lso = t.list_offsets(bootstrap, topic, 1, t.READ_COMMITTED)[0]
    hw = t.list_offsets(bootstrap, topic, 1, t.READ_UNCOMMITTED)[0]
    t.expect((lso, hw), (6, 6), "(last stable offset, high watermark): no transaction left open")

    # The second producer keeps working.
    t.call("begin_transaction (second, again)", second.begin_transaction)
    acked = t.produce_all(second, topic, [(0, None, "s1")], "second again")
    t.expect(acked, [(0, 6)], "offset of s1")
    t.call("commit_transaction (second, again)", second.commit_transaction, 30)
    t.wait_lso(bootstrap, topic, 1, {0: 8}, what="last stable offset after s1's commit")
    rc = t.read_all(bootstrap, topic, 1, t.READ_COMMITTED, quiet=0.5)
    t.expect(t.pov(rc), [(0, 4, "s0"), (0, 6, "s1")], "read_committed after s1")
    t.out("DONE")


if __name__ == "__main__":
    main()
