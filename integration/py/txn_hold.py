"""Holds a transaction open for `strata txn` (driven by integration/tests/txn_cli.rs).

Usage: txn_hold.py BOOTSTRAP TOPIC TXN_ID      (TOPIC exists with 2 partitions)

Initialises TXN_ID, begins a transaction, produces one record to each partition, prints
`STEP open` and waits for a line on stdin: `commit` commits it (then `STEP committed`),
anything else aborts it (then `STEP aborted`). Ends with DONE.
"""
import sys

import txn_common as t


def main():
    bootstrap, topic, txn_id = sys.argv[1], sys.argv[2], sys.argv[3]
    p = t.txn_producer(bootstrap, txn_id, **{"transaction.timeout.ms": 120000})
    t.init(p)
    t.call("begin_transaction", p.begin_transaction)
    t.produce_all(p, topic, [(0, "k0", "v0"), (1, "k1", "v1")], "open transaction")
    t.out("STEP open")
    answer = sys.stdin.readline().strip()
    if answer == "commit":
        t.call("commit_transaction", p.commit_transaction, 30)
        t.out("STEP committed")
    else:
        t.call("abort_transaction", p.abort_transaction, 30)
        t.out("STEP aborted")
    t.out("DONE")


if __name__ == "__main__":
    main()
