"""Scenario 7 (driven by integration/tests/txn_eos.rs): the read-process-write loop of an
exactly-once application, across broker and processor kills.

Subcommands:
  produce BOOTSTRAP TOPIC N PARTITIONS
      N numbered records `0`..`N-1` (key `k<i>`) to partition i % PARTITIONS, idempotent,
      acks=all; prints DONE.
  process BOOTSTRAP IN OUT GROUP TXN_ID N [BATCH] [PAUSE_MS]
      The processor: a consumer in GROUP (subscribe, isolation.level=read_committed,
      enable.auto.commit=false) and a transactional producer (TXN_ID). Per batch of at most
      BATCH records: begin_transaction, produce `<value>:p` (same key, same partition number)
      to OUT, send_offsets_to_transaction(consumer.position(assignment),
      consumer.consumer_group_metadata()), commit_transaction; prints `KV committed <total>`
      (sum of the committed positions) after each commit. Errors are handled as librdkafka
      documents: retriable -> retry the call; abortable -> abort_transaction and rewind the
      consumer to the group's committed offsets; fatal -> exit with status 3 (the test starts a
      new processor). Exits 0 with DONE once the committed positions sum to N.
  check BOOTSTRAP IN OUT GROUP N PARTITIONS
      Reads OUT with read_committed and compares it with IN: every input record appears in the
      output exactly once, in its partition, in input order; the group's committed offsets are
      the input's end offsets. Prints `REC out <p> <o> <value>` per output record,
      `KV <name> <value>`, and DONE.
"""
import collections
import sys
import time

from confluent_kafka import TopicPartition, OFFSET_BEGINNING

import txn_common as t


def produce(bootstrap, topic, n, partitions):
    p = t.plain_producer(bootstrap)
    acked = t.produce_all(p, topic, [(i % partitions, f"k{i}", str(i)) for i in range(n)], "input")
    for i, (part, off) in enumerate(acked):
        if part != i % partitions or off != i // partitions:
            t.fail(f"input record {i} acknowledged at {part}/{off}")
    t.out("DONE")


class Fatal(Exception):
    pass


def process(bootstrap, in_topic, out_topic, group, txn_id, n, batch, pause_ms):
    consumer = t.consumer(
        bootstrap,
        t.READ_COMMITTED,
        group=group,
        **{
            "enable.partition.eof": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            "max.poll.interval.ms": 60000,
        },
    )
    producer = t.txn_producer(bootstrap, txn_id)
    t.init_retrying(producer)
    t.out("STEP initialised")
    consumer.subscribe([in_topic])

    def positions():
        assignment = consumer.assignment()
        return consumer.position(assignment)

    def retrying(what, fn, *args):
        deadline = time.time() + 120
        while True:
            try:
                return fn(*args)
            except t.KafkaException as e:
                err = t.kafka_error(e)
                if err is not None and err.fatal():
                    raise Fatal(f"{what}: {t.describe_error(e)}")
                if err is not None and err.txn_requires_abort():
                    raise
                if err is not None and err.retriable() and time.time() < deadline:
                    t.log(f"{what}: retrying after {t.describe_error(e)}")
                    time.sleep(0.2)
                    continue
                raise Fatal(f"{what}: {t.describe_error(e)}")

    def rewind():
        """After an abort: every assigned partition back to the group's committed offset."""
        assignment = consumer.assignment()
        committed = retrying("committed", consumer.committed, assignment, 30)
        for tp in committed:
            if tp.offset < 0:
                tp.offset = OFFSET_BEGINNING
            t.log(f"rewind {tp.topic}-{tp.partition} to {tp.offset}")
            try:
                consumer.seek(tp)
            except t.KafkaException as e:
                raise Fatal(f"seek {tp.topic}-{tp.partition} to {tp.offset}: "
                            f"{t.describe_error(e)}")

    last_done_check = 0.0
    idle_since = time.time()
    while True:
        msgs = consumer.consume(num_messages=batch, timeout=0.5)
        good = []
        for m in msgs:
            if m.error():
                t.log(f"consumer error: {t.describe_error(m.error())}")
                if m.error().fatal():
                    raise Fatal(f"consumer: {t.describe_error(m.error())}")
                continue
            good.append(m)
        if not good:
            assignment = consumer.assignment()
            if len(assignment) > 0 and time.time() - last_done_check > 1.0:
                # Done once the group's committed offsets cover all N input records (also
                # right after a restart that finds everything already committed).
                last_done_check = time.time()
                committed = retrying("committed", consumer.committed, assignment, 30)
                total = sum(tp.offset for tp in committed if tp.offset >= 0)
                if total == n:
                    t.out(f"KV committed {total}")
                    t.out("DONE")
                    break
            if time.time() - idle_since > 120:
                raise Fatal("no input for 120 s and not done")
            continue
        idle_since = time.time()
        try:
            retrying("begin_transaction", producer.begin_transaction)
            for m in good:
                while True:
                    try:
                        producer.produce(out_topic, key=m.key(),
                                         value=m.value() + b":p", partition=m.partition())
                        break
                    except BufferError:
                        producer.poll(0.05)
            pos = positions()
            retrying("send_offsets_to_transaction", producer.send_offsets_to_transaction,
                     pos, consumer.consumer_group_metadata(), 30)
            retrying("commit_transaction", producer.commit_transaction, 60)
        except t.KafkaException as e:
            err = t.kafka_error(e)
            if err is not None and err.txn_requires_abort():
                t.out(f"KV aborted {t.describe_error(e).replace(' ', '_')}")
                retrying("abort_transaction", producer.abort_transaction, 60)
                rewind()
                continue
            raise Fatal(t.describe_error(e))
        total = sum(tp.offset for tp in pos if tp.offset >= 0)
        t.out(f"KV committed {total}")
        if pause_ms:
            time.sleep(pause_ms / 1000.0)
    consumer.close()


def check(bootstrap, in_topic, out_topic, group, n, partitions):
    lso, hw = t.settle(bootstrap, out_topic, partitions)
    t.expect(lso, hw, "output topic: last stable offsets = high watermarks (nothing left open)")
    rows = t.read_all(bootstrap, out_topic, partitions, t.READ_COMMITTED, timeout=120, quiet=1.0)
    t.emit("out", rows)
    counts = collections.Counter(v for _p, _o, _k, v in rows)
    want = {f"{i}:p" for i in range(n)}
    dup = sorted((v for v, c in counts.items() if c > 1), key=lambda v: int(v.split(":")[0]))
    missing = sorted((want - set(counts)), key=lambda v: int(v.split(":")[0]))
    extra = sorted(set(counts) - want)
    t.out(f"KV output_records {len(rows)}")
    t.out(f"KV duplicated {len(dup)}")
    t.out(f"KV missing {len(missing)}")
    if dup or missing or extra:
        t.fail(f"output vs input: {len(dup)} duplicated {dup[:10]}, {len(missing)} missing "
               f"{missing[:10]}, unexpected {extra[:10]}")
    by_p = collections.defaultdict(list)
    for p, o, k, v in sorted(rows, key=lambda r: (r[0], r[1])):
        i = int(v.split(":")[0])
        if p != i % partitions or k != f"k{i}":
            t.fail(f"output {v} in partition {p} with key {k}")
        by_p[p].append(i)
    for p in range(partitions):
        t.expect(by_p[p], list(range(p, n, partitions)), f"output partition {p} in input order")
    c = t.consumer(bootstrap, t.READ_COMMITTED, group=group)
    committed = c.committed([TopicPartition(in_topic, p) for p in range(partitions)], timeout=30)
    c.close()
    got = {tp.partition: tp.offset for tp in committed}
    ends = {p: len(range(p, n, partitions)) for p in range(partitions)}
    t.out(f"KV committed_offsets {','.join(str(got[p]) for p in range(partitions))}")
    t.expect(got, ends, "the group's committed offsets = the input's end offsets")
    t.out("DONE")


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == "produce":
        produce(a[0], a[1], int(a[2]), int(a[3]))
    elif cmd == "process":
        batch = int(a[6]) if len(a) > 6 else 20
        pause_ms = int(a[7]) if len(a) > 7 else 0
        try:
            process(a[0], a[1], a[2], a[3], a[4], int(a[5]), batch, pause_ms)
        except Fatal as e:
            t.out(f"KV fatal {str(e).replace(' ', '_')}")
            t.log(f"fatal: {e}; exiting with status 3")
            sys.stdout.flush()
            import os

            os._exit(3)
    elif cmd == "check":
        check(a[0], a[1], a[2], a[3], int(a[4]), int(a[5]))
    else:
        t.fail(f"unknown subcommand {cmd}")


if __name__ == "__main__":
    main()
