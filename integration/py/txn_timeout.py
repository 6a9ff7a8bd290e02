"""Transaction timeout (driven by integration/tests/txn_timeout.rs): a transaction left open
longer than its transaction.timeout.ms is aborted by the coordinator on its own. Until then it
holds the last stable offset back (later records of another producer are hidden from
read_committed); after the abort its records are never visible to read_committed, the last
stable offset reaches the high watermark, and the producer's late commit fails (the
coordinator bumped its epoch: librdkafka reports a fatal fencing error). A new producer with
the same transactional.id then works.

Usage: txn_timeout.py BOOTSTRAP TOPIC     (TOPIC exists with 1 partition, empty; the broker
  runs with transaction.abort.timed.out.transaction.cleanup.interval.ms of about 500)

Offsets: t0 t1 t2 (the transaction, 0..2) | n0 (plain, 3) | ABORT marker at 4 | u0 (new
producer's transaction, 5) | COMMIT marker at 6.
Prints `KV <name> <value>`, `REC rc|ru <p> <o> <v>`, then DONE.
"""
import sys
import time

import txn_common as t

TXN_ID = "it-timeout"
TIMEOUT_MS = 3000


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    p = t.txn_producer(
        bootstrap,
        TXN_ID,
        **{
            "transaction.timeout.ms": TIMEOUT_MS,
            "message.timeout.ms": TIMEOUT_MS,
            "socket.timeout.ms": TIMEOUT_MS,
        },
    )
    t.init(p)
    t.call("begin_transaction", p.begin_transaction)
    started = time.time()
    acked = t.produce_all(p, topic, [(0, None, f"t{i}") for i in range(3)], "txn")
    t.expect(acked, [(0, 0), (0, 1), (0, 2)], "offsets of t0..t2")
    plain = t.plain_producer(bootstrap)
    acked = t.produce_all(plain, topic, [(0, None, "n0")], "plain")
    t.expect(acked, [(0, 3)], "offset of n0")
    lso = t.list_offsets(bootstrap, topic, 1, t.READ_COMMITTED)[0]
    t.out(f"KV lso_open {lso}")
    if time.time() - started < TIMEOUT_MS / 1000:
        t.expect(lso, 0, "last stable offset while the transaction is open")

    # The coordinator aborts it: the last stable offset reaches the high watermark (5: the
    # ABORT marker at 4) without the producer doing anything.
    deadline = time.time() + 60
    while True:
        lso = t.list_offsets(bootstrap, topic, 1, t.READ_COMMITTED)[0]
        if lso == 5:
            break
        if time.time() > deadline:
            t.fail(f"the expired transaction was not aborted within 60 s (last stable offset "
                   f"{lso}, want 5)")
        time.sleep(0.25)
    t.out(f"KV aborted_after_s {time.time() - started:.1f}")
    t.out(f"KV lso_after_timeout {lso}")

    rc = t.read_all(bootstrap, topic, 1, t.READ_COMMITTED, quiet=1.0)
    t.expect(t.pov(rc), [(0, 3, "n0")], "read_committed after the timeout: only n0")

    try:
        p.commit_transaction(10)
        t.fail("commit_transaction after the transaction timed out succeeded")
    except t.KafkaException as e:
        t.out(f"KV late_commit {t.describe_error(e).replace(' ', '_')}")
        err = t.kafka_error(e)
        t.out(f"KV late_commit_fatal {int(bool(err and err.fatal()))}")

    p2 = t.txn_producer(bootstrap, TXN_ID)
    t.init(p2)
    t.call("begin_transaction (new producer)", p2.begin_transaction)
    acked = t.produce_all(p2, topic, [(0, None, "u0")], "new producer")
    t.expect(acked, [(0, 5)], "offset of u0")
    t.call("commit_transaction (new producer)", p2.commit_transaction, 30)
    t.wait_lso(bootstrap, topic, 1, {0: 7}, what="last stable offset after u0's commit")

    rc = t.read_all(bootstrap, topic, 1, t.READ_COMMITTED, quiet=1.0)
    ru = t.read_all(bootstrap, topic, 1, t.READ_UNCOMMITTED, quiet=1.0)
    t.emit("rc", rc)
    t.emit("ru", ru)
    t.expect(t.pov(rc), [(0, 3, "n0"), (0, 5, "u0")], "read_committed at the end")
    t.expect(t.pov(ru), [(0, 0, "t0"), (0, 1, "t1"), (0, 2, "t2"), (0, 3, "n0"), (0, 5, "u0")],
             "read_uncommitted at the end")
    t.out("DONE")


if __name__ == "__main__":
    main()
