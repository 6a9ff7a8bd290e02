"""Transactions over tiered storage (driven by integration/tests/txn_tiered.rs): the
aborted-transaction index travels with each uploaded segment and is used on cold reads, so a
read_committed consumer replaying segments that exist only in the bucket still skips every
aborted transaction.

Usage:
  txn_tiered.py write BOOTSTRAP TOPIC ROUNDS RECORDS VALUE_LEN
      ROUNDS transactions of RECORDS records (values `r<k>-<i>` padded with `.` to VALUE_LEN
      bytes) on partition 0; round k commits if k is even and aborts if odd; after each round
      one plain (non-transactional) record `p<k>`. Prints `KV hw <high watermark>`, DONE.
  txn_tiered.py read BOOTSTRAP TOPIC ROUNDS RECORDS
      Reads the partition from offset 0 with read_committed and with read_uncommitted and
      checks both exactly: read_committed = every committed round's records and every `p<k>`,
      in production order, nothing of an aborted round; read_uncommitted = all of them.
      Prints `KV <name> <value>` and DONE.
"""
import sys

import txn_common as t


def expected(rounds, records, committed_only):
    out = []
    for k in range(rounds):
        if not committed_only or k % 2 == 0:
            out.extend(f"r{k}-{i}" for i in range(records))
        out.append(f"p{k}")
    return out


def write(bootstrap, topic, rounds, records, value_len):
    p = t.txn_producer(bootstrap, "it-tiered", **{"linger.ms": 20})
    t.init(p)
    plain = t.plain_producer(bootstrap)
    for k in range(rounds):
        t.call("begin_transaction", p.begin_transaction)
        t.produce_all(
            p,
            topic,
            [(0, None, f"r{k}-{i}".ljust(value_len, ".")) for i in range(records)],
            f"round {k}",
        )
        if k % 2 == 0:
            t.call(f"commit_transaction (round {k})", p.commit_transaction, 60)
        else:
            t.call(f"abort_transaction (round {k})", p.abort_transaction, 60)
        t.produce_all(plain, topic, [(0, None, f"p{k}")], f"plain {k}")
    lso, hw = t.settle(bootstrap, topic, 1)
    t.expect(lso, hw, "last stable offset = high watermark after the last round")
    t.out(f"KV hw {hw[0]}")
    t.out("DONE")


def read(bootstrap, topic, rounds, records):
    rc = t.read_all(bootstrap, topic, 1, t.READ_COMMITTED, timeout=120)
    ru = t.read_all(bootstrap, topic, 1, t.READ_UNCOMMITTED, timeout=120)
    rc_values = [v.rstrip(".") for _p, _o, _k, v in rc]
    ru_values = [v.rstrip(".") for _p, _o, _k, v in ru]
    aborted = sum(1 for v in rc_values if v.startswith("r") and int(v[1:].split("-")[0]) % 2)
    t.out(f"KV rc_records {len(rc_values)}")
    t.out(f"KV rc_aborted_records {aborted}")
    t.out(f"KV ru_records {len(ru_values)}")
    t.out(f"KV rc_first_offset {rc[0][1] if rc else -1}")
    t.expect(aborted, 0, "records of aborted transactions read with read_committed")
    t.expect(rc_values, expected(rounds, records, True), "read_committed from offset 0")
    t.expect(ru_values, expected(rounds, records, False), "read_uncommitted from offset 0")
    offsets = [o for _p, o, _k, _v in rc]
    if offsets != sorted(offsets):
        t.fail("read_committed offsets not increasing")
    t.out("DONE")


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "write":
        write(a[0], a[1], int(a[2]), int(a[3]), int(a[4]))
    elif cmd == "read":
        read(a[0], a[1], int(a[2]), int(a[3]))
    else:
        t.fail(f"unknown subcommand {cmd}")


if __name__ == "__main__":
    main()
