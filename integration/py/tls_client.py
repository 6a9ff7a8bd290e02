"""confluent-kafka (librdkafka bundled with OpenSSL) against a TLS listener, for
integration/tests/security_tls_*.rs. One subcommand per run:

  create  --topic T --partitions N            CreateTopics; prints CREATED T
  produce --topic T --count N [--start S] [--partitions P]
          records i = S..S+N, key k<i:03>, value tls_value(i), to partition i % P (acks=all);
          prints `ACK <p> <o> <key> <value length>` per delivery report
  consume --topic T --group G --want N [--linger SECONDS] [--label L]
          subscribes as a member of G, reads N records (then polls --linger seconds more, so a
          duplicate or extra record shows), commits exactly what it read, prints
          `REC <label> <p> <o> <key> <value>` per record and `COMMITTED <label> <p> <o>` for
          every partition of T
  meta    [--group G]
          Metadata: `BROKER <id> <host> <port>`; DescribeCluster: `NODE <id> <host> <port>`;
          with --group, the coordinator DescribeGroups found: `COORDINATOR <id> <host> <port>`
  bigframes --topic T --count N --size BYTES
          produces N records of BYTES each (big_value(i)) to partition 0 in produce requests of
          about 1 MB (batch.size 1000000, linger.ms 200), then one small record; prints
          `BIGACK <o> <length>` per delivery report, then reads the topic back from offset 0
          over the same listener and prints `BIG <o> <length> <ok|MISMATCH>` per record
  probe   [--wait SECONDS]
          one client tries to fetch metadata for --wait seconds: `META OK` or `META FAIL`,
          then `ERR <code name> <text>` for every distinct error librdkafka reported

Connection flags: --bootstrap HOST:PORT [--protocol SSL|PLAINTEXT] [--ca CA.pem]
[--cert client.pem --key client.key].

Output conventions: one fact per line, `FAIL: <message>` and exit status 1 for a failed
check, `DONE` as the last line of a run that finished.
"""

import argparse
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# The same generator as `tls_value` in integration/src/tls_records.rs.
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def tls_value(i):
    """Printable, no spaces or newlines; every tenth record (i % 10 == 7) is 150-160 KB, so
    its fetch spans many TLS records."""
    size = 150_000 + 13 * i if i % 10 == 7 else (i * 1237) % 3000
    return f"v{i}:" + "".join(ALPHABET[(i * 31 + j * 7) % 64] for j in range(size))


def out(line):
    print(line, flush=True)


def fail(message):
    out("FAIL: " + message)
    sys.exit(1)


p = argparse.ArgumentParser(description=__doc__)
p.add_argument("command", choices=["create", "produce", "consume", "meta", "probe", "bigframes"])
p.add_argument("--bootstrap", required=True)
p.add_argument("--protocol", default="SSL")
p.add_argument("--ca")
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--topic")
p.add_argument("--partitions", type=int, default=1)
p.add_argument("--count", type=int, default=0)
p.add_argument("--start", type=int, default=0)
p.add_argument("--group")
p.add_argument("--want", type=int, default=0)
p.add_argument("--linger", type=float, default=0.0)
p.add_argument("--label", default="C")
p.add_argument("--wait", type=float, default=5.0)
p.add_argument("--size", type=int, default=100_000)
args = p.parse_args()


def conf(**extra):
    c = {
        "bootstrap.servers": args.bootstrap,
        "security.protocol": args.protocol,
        # `localhost` may resolve to ::1 first; the broker listens on 127.0.0.1 only.
        "broker.address.family": "v4",
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 500,
    }
    if args.ca:
        c["ssl.ca.location"] = args.ca
    if args.cert:
        c["ssl.certificate.location"] = args.cert
        c["ssl.key.location"] = args.key
    c.update(extra)
    return c


def create():
    admin = AdminClient(conf())
    fut = admin.create_topics(
        [NewTopic(args.topic, args.partitions, 1)], operation_timeout=10
    )[args.topic]
    fut.result(timeout=20)
    out(f"CREATED {args.topic}")


def produce():
    producer = Producer(conf(**{"acks": "all", "linger.ms": 5}))
    acks = []

    def on_delivery(err, msg):
        if err is not None:
            fail(f"delivery of {msg.key()!r}: {err}")
        acks.append(msg)
        out(f"ACK {msg.partition()} {msg.offset()} {msg.key().decode()} {len(msg.value())}")

    for i in range(args.start, args.start + args.count):
        while True:
            try:
                producer.produce(
                    args.topic,
                    key=f"k{i:03}",
                    value=tls_value(i).encode(),
                    partition=i % args.partitions,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(30)
    if left or len(acks) != args.count:
        fail(f"{len(acks)} of {args.count} acknowledged, {left} still queued")


def consume():
    c = Consumer(
        conf(
            **{
                "group.id": args.group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
            }
        )
    )
    c.subscribe([args.topic])
    last = {}
    count = 0
    deadline = time.time() + 40
    stop_at = None
    while time.time() < deadline:
        if count >= args.want and stop_at is None:
            stop_at = time.time() + args.linger
        if stop_at is not None and time.time() >= stop_at:
            break
        m = c.poll(0.1 if stop_at is None else 0.2)
        if m is None:
            continue
        if m.error():
            fail(f"consumer {args.label}: {m.error()}")
        value = m.value().decode() if m.value() is not None else "<null>"
        out(f"REC {args.label} {m.partition()} {m.offset()} {m.key().decode()} {value}")
        last[m.partition()] = m.offset()
        count += 1
    if count < args.want:
        fail(f"consumer {args.label}: {count} of {args.want} records within 40 s")
    commits = [TopicPartition(args.topic, p, o + 1) for p, o in sorted(last.items())]
    if commits:
        c.commit(offsets=commits, asynchronous=False)
    parts = [TopicPartition(args.topic, p) for p in range(args.partitions)]
    for tp in c.committed(parts, timeout=10):
        if tp.error:
            fail(f"committed {tp}: {tp.error}")
        out(f"COMMITTED {args.label} {tp.partition} {tp.offset}")
    c.close()


def big_value(i, size):
    """Deterministic bytes that differ per record and per position."""
    block = bytes((i * 131 + j * 7) % 256 for j in range(4096))
    return (block * (size // 4096 + 1))[:size]


def bigframes():
    producer = Producer(conf(**{"acks": "all", "linger.ms": 200, "batch.size": 1_000_000}))
    acked = []

    def on_delivery(err, msg):
        if err is not None:
            fail(f"delivery failed: {err}")
        acked.append((msg.offset(), len(msg.value())))

    sizes = [args.size] * args.count + [10]
    for i, size in enumerate(sizes):
        producer.produce(args.topic, value=big_value(i, size), partition=0, on_delivery=on_delivery)
        producer.poll(0)
    if producer.flush(60) != 0:
        fail("records left unacknowledged after 60 s")
    for o, n in sorted(acked):
        out(f"BIGACK {o} {n}")
    consumer = Consumer(conf(**{"group.id": "bigframes", "enable.auto.commit": False,
                                "fetch.max.bytes": 4_000_000}))
    consumer.assign([TopicPartition(args.topic, 0, 0)])
    seen = 0
    deadline = time.time() + 60
    while seen < len(sizes) and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            fail(f"consume: {msg.error()}")
        o = msg.offset()
        want = big_value(o, sizes[o]) if o < len(sizes) else None
        out(f"BIG {o} {len(msg.value())} {'ok' if msg.value() == want else 'MISMATCH'}")
        seen += 1
    consumer.close()


def meta():
    admin = AdminClient(conf())
    md = admin.list_topics(timeout=10)
    for b in sorted(md.brokers.values(), key=lambda b: b.id):
        out(f"BROKER {b.id} {b.host} {b.port}")
    cluster = admin.describe_cluster(request_timeout=10).result(timeout=20)
    for n in cluster.nodes:
        out(f"NODE {n.id} {n.host} {n.port}")
    if args.group:
        desc = admin.describe_consumer_groups([args.group], request_timeout=10)[args.group]
        d = desc.result(timeout=20)
        out(f"COORDINATOR {d.coordinator.id} {d.coordinator.host} {d.coordinator.port}")


def probe():
    errors = []

    def note(err):
        key = (err.name(), err.str())
        if key not in errors:
            errors.append(key)

    producer = Producer(conf(error_cb=note))
    md = None
    deadline = time.time() + args.wait
    while time.time() < deadline:
        try:
            md = producer.list_topics(timeout=1.0)
            break
        except KafkaException as e:
            note(e.args[0])
        producer.poll(0.1)
    producer.poll(0.1)
    out("META OK" if md is not None else "META FAIL")
    for name, text in errors:
        out(f"ERR {name} {text}")


{
    "create": create,
    "produce": produce,
    "consume": consume,
    "meta": meta,
    "probe": probe,
    "bigframes": bigframes,
}[args.command]()
out("DONE")
