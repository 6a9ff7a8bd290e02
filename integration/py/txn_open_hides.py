"""Scenario 2 (driven by integration/tests/txn_visibility.rs): a transaction still open hides
every later record of its partition from read_committed, including non-transactional records
of another producer, but not from read_uncommitted; the read_committed consumer's position
stalls at the last stable offset; after the commit everything appears, in offset order.

Usage: txn_open_hides.py BOOTSTRAP TOPIC      (TOPIC exists with 1 partition, empty)

Offsets: p0 p1 (plain, 0..1) | x0 x1 x2 (open transaction, 2..4) | n0 n1 n2 (plain, another
producer, 5..7) | COMMIT marker at 8.
Prints `REC live <p> <o> <v>` for what the live read_committed consumer received after the
commit, `REC rc|ru ...` for the final reads, `KV <name> <value>`, then DONE.
"""
import sys

from confluent_kafka import TopicPartition, OFFSET_BEGINNING

import txn_common as t


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    plain = t.plain_producer(bootstrap)
    acked = t.produce_all(plain, topic, [(0, None, "p0"), (0, None, "p1")], "plain p0 p1")
    t.expect(acked, [(0, 0), (0, 1)], "offsets of p0 p1")

    txn = t.txn_producer(bootstrap, "it-open-hides")
    t.init(txn)
    t.call("begin_transaction", txn.begin_transaction)
    acked = t.produce_all(txn, topic, [(0, None, f"x{i}") for i in range(3)], "txn x")
    t.expect(acked, [(0, 2), (0, 3), (0, 4)], "offsets of the open transaction's x0..x2")

    acked = t.produce_all(plain, topic, [(0, None, f"n{i}") for i in range(3)], "plain n")
    t.expect(acked, [(0, 5), (0, 6), (0, 7)], "offsets of the later plain n0..n2")

    # A live read_committed consumer stops at the last stable offset (2).
    live = t.consumer(bootstrap, t.READ_COMMITTED)
    tp = TopicPartition(topic, 0, OFFSET_BEGINNING)
    live.assign([tp])
    got = t.pov(t.poll_until_eof(live, [(topic, 0)], quiet=2.0))
    t.expect(got, [(0, 0, "p0"), (0, 1, "p1")],
             "read_committed while the transaction is open (stops before x0)")
    pos = live.position([TopicPartition(topic, 0)])[0].offset
    t.out(f"KV rc_position_open {pos}")
    t.expect(pos, 2, "read_committed consumer position while the transaction is open")

    lso = t.list_offsets(bootstrap, topic, 1, t.READ_COMMITTED)[0]
    hw = t.list_offsets(bootstrap, topic, 1, t.READ_UNCOMMITTED)[0]
    t.out(f"KV lso_open {lso}")
    t.out(f"KV hw_open {hw}")
    t.expect(lso, 2, "ListOffsets read_committed (last stable offset) while open")
    t.expect(hw, 8, "ListOffsets read_uncommitted (high watermark) while open")

    ru = t.pov(t.read_all(bootstrap, topic, 1, t.READ_UNCOMMITTED))
    t.expect(
        ru,
        [(0, 0, "p0"), (0, 1, "p1"), (0, 2, "x0"), (0, 3, "x1"), (0, 4, "x2"),
         (0, 5, "n0"), (0, 6, "n1"), (0, 7, "n2")],
        "read_uncommitted while the transaction is open",
    )

    t.call("commit_transaction", txn.commit_transaction, 30)

    after = t.poll_until_eof(live, [(topic, 0)], quiet=1.0)
    t.emit("live", after)
    t.expect(
        t.pov(after),
        [(0, 2, "x0"), (0, 3, "x1"), (0, 4, "x2"), (0, 5, "n0"), (0, 6, "n1"), (0, 7, "n2")],
        "the live read_committed consumer after the commit (offset order)",
    )
    live.close()

    t.wait_lso(bootstrap, topic, 1, {0: 9}, what="last stable offset after the commit")
    rc = t.read_all(bootstrap, topic, 1, t.READ_COMMITTED)
    t.emit("rc", rc)
    ru = t.read_all(bootstrap, topic, 1, t.READ_UNCOMMITTED)
    t.emit("ru", ru)
    t.expect(t.pov(rc), t.pov(ru), "read_committed == read_uncommitted after the commit")
    lso = t.list_offsets(bootstrap, topic, 1, t.READ_COMMITTED)[0]
    hw = t.list_offsets(bootstrap, topic, 1, t.READ_UNCOMMITTED)[0]
    t.out(f"KV lso_end {lso}")
    t.out(f"KV hw_end {hw}")
    t.expect((lso, hw), (9, 9), "(last stable offset, high watermark) after the commit")
    t.out("DONE")


if __name__ == "__main__":
    main()
