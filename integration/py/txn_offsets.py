"""Scenario 3 (driven by integration/tests/txn_offsets.rs): a group's offsets move only with
a committed transaction. send_offsets_to_transaction + abort leaves the committed offset
unchanged; + commit moves it. While the transaction with the offsets is open, a
read_uncommitted OffsetFetch returns the previous offset and a read_committed one
(require_stable) waits until the transaction ends (UNSTABLE_OFFSET_COMMIT, retried by
librdkafka), then returns the new offset.

Usage: txn_offsets.py BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP   (topics exist, 1 partition each,
empty; the broker runs with group.initial.rebalance.delay.ms=0)

Prints `KV <name> <value>` for every committed offset observed, `REC out <p> <o> <v>` for the
output topic read with read_committed, then DONE.
"""
import sys
import threading

from confluent_kafka import TopicPartition, OFFSET_INVALID

import txn_common as t


def committed(bootstrap, group, topic, isolation, timeout=10):
    """The group's committed offset of TOPIC-0 as a fresh consumer in the group sees it
    (OFFSET_INVALID = -1001 when none)."""
    c = t.consumer(bootstrap, isolation, group=group)
    try:
        return c.committed([TopicPartition(topic, 0)], timeout=timeout)[0].offset
    finally:
        c.close()


def consume_n(c, n, timeout=30):
    got = []
    import time

    deadline = time.time() + timeout
    while len(got) < n:
        if time.time() > deadline:
            t.fail(f"consumed {len(got)} of {n} records within {timeout} s")
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == t.KafkaError._PARTITION_EOF:
                continue
            t.fail(f"consumer error: {t.describe_error(m.error())}")
        got.append((m.offset(), m.value().decode()))
    return got


def main():
    bootstrap, in_topic, out_topic, group = sys.argv[1:5]
    plain = t.plain_producer(bootstrap)
    t.produce_all(plain, in_topic, [(0, None, f"in{i}") for i in range(10)], "input")

    # The application's consumer: a member of GROUP through subscribe().
    app = t.consumer(bootstrap, t.READ_COMMITTED, group=group, **{"enable.partition.eof": False,
                                                                   "session.timeout.ms": 10000})
    app.subscribe([in_topic])
    got = consume_n(app, 5)
    t.expect(got, [(i, f"in{i}") for i in range(5)], "first five input records")
    pos = app.position([TopicPartition(in_topic, 0)])[0].offset
    t.expect(pos, 5, "position after five records")

    start = committed(bootstrap, group, in_topic, t.READ_UNCOMMITTED)
    t.out(f"KV committed_start {start}")
    t.expect(start, OFFSET_INVALID, "committed offset before any transaction")

    p = t.txn_producer(bootstrap, "it-offsets")
    t.init(p)

    # 1. Offsets in an aborted transaction: nothing moves.
    t.out("STEP abort-with-offsets")
    t.call("begin_transaction", p.begin_transaction)
    t.produce_all(p, out_topic, [(0, None, f"o{i}") for i in range(5)], "txn 1 output")
    t.call("send_offsets_to_transaction", p.send_offsets_to_transaction,
           [TopicPartition(in_topic, 0, 5)], app.consumer_group_metadata(), 30)
    t.call("abort_transaction", p.abort_transaction, 30)
    after_abort = committed(bootstrap, group, in_topic, t.READ_COMMITTED)
    t.out(f"KV committed_after_abort {after_abort}")
    t.expect(after_abort, OFFSET_INVALID, "committed offset after an aborted transaction")

    # 2. Offsets in a committed transaction move; while open they are pending.
    t.out("STEP commit-with-offsets")
    got = consume_n(app, 2)
    t.expect(got, [(5, "in5"), (6, "in6")], "input records 5 and 6")
    t.call("begin_transaction", p.begin_transaction)
    t.produce_all(p, out_topic, [(0, None, "o5"), (0, None, "o6")], "txn 2 output")
    t.call("send_offsets_to_transaction", p.send_offsets_to_transaction,
           [TopicPartition(in_topic, 0, 7)], app.consumer_group_metadata(), 30)

    pending_ru = committed(bootstrap, group, in_topic, t.READ_UNCOMMITTED)
    t.out(f"KV committed_pending_read_uncommitted {pending_ru}")
    t.expect(pending_ru, OFFSET_INVALID,
             "read_uncommitted OffsetFetch while the offsets' transaction is open")

    stable = {}

    def fetch_stable():
        try:
            stable["offset"] = committed(bootstrap, group, in_topic, t.READ_COMMITTED, timeout=30)
        except Exception as e:  # reported below
            stable["error"] = t.describe_error(e)

    waiter = threading.Thread(target=fetch_stable)
    waiter.start()
    waiter.join(3.0)
    t.out(f"KV stable_fetch_waited {int(waiter.is_alive())}")
    if not waiter.is_alive():
        t.fail("a read_committed (require_stable) OffsetFetch returned while the transaction "
               f"with the group's offsets was still open: {stable}")
    t.call("commit_transaction", p.commit_transaction, 30)
    waiter.join(30)
    if waiter.is_alive():
        t.fail("the read_committed OffsetFetch did not return within 30 s of the commit")
    t.out(f"KV committed_stable_after_commit {stable.get('offset', stable.get('error'))}")
    t.expect(stable.get("offset"), 7,
             "read_committed OffsetFetch that waited for the transaction")
    after_commit = committed(bootstrap, group, in_topic, t.READ_COMMITTED)
    t.out(f"KV committed_after_commit {after_commit}")
    t.expect(after_commit, 7, "committed offset after the committed transaction")

    # 3. An offsets-only transaction, aborted: the committed offset stays.
    t.out("STEP abort-offsets-only")
    t.call("begin_transaction", p.begin_transaction)
    t.call("send_offsets_to_transaction", p.send_offsets_to_transaction,
           [TopicPartition(in_topic, 0, 9)], app.consumer_group_metadata(), 30)
    t.call("abort_transaction", p.abort_transaction, 30)
    after_abort2 = committed(bootstrap, group, in_topic, t.READ_COMMITTED)
    t.out(f"KV committed_after_second_abort {after_abort2}")
    t.expect(after_abort2, 7, "committed offset after an aborted offsets-only transaction")
    app.close()

    # A new member of the group resumes exactly at the committed offset.
    resumed = t.consumer(bootstrap, t.READ_COMMITTED, group=group,
                         **{"enable.partition.eof": False})
    resumed.subscribe([in_topic])
    got = consume_n(resumed, 3)
    t.out(f"KV resumed_first_offset {got[0][0]}")
    t.expect(got, [(7, "in7"), (8, "in8"), (9, "in9")], "a new member resumes at offset 7")
    resumed.close()

    t.wait_lso(bootstrap, out_topic, 1, {0: 9}, what="output topic")
    out = t.read_all(bootstrap, out_topic, 1, t.READ_COMMITTED, quiet=1.0)
    t.emit("out", out)
    # o0..o4 at 0..4 (aborted), ABORT marker at 5, o5 o6 at 6 7, COMMIT marker at 8.
    t.expect(t.pov(out), [(0, 6, "o5"), (0, 7, "o6")], "output read with read_committed")
    t.out("DONE")


if __name__ == "__main__":
    main()
