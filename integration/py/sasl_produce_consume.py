"""confluent-kafka over a SASL listener: create a topic, produce --count keyed records, let
consumer A of --group read --first of them and commit exactly what it read, then consumer B of
the same group read the rest.

Prints `ACK <p> <o> <key> <value>` per delivery report, `REC A|B <p> <o> <key> <value>` per
record read, `COMMITTED A|B <p> <o>` per partition after each consumer's commit, then DONE.
B polls 2 s past its last expected record, so a duplicate or an extra record is printed too.
"""

import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from sasl_common import conf, fail, out, parser

p = parser(__doc__)
p.add_argument("--topic", required=True)
p.add_argument("--group", required=True)
p.add_argument("--partitions", type=int, default=3)
p.add_argument("--count", type=int, required=True)
p.add_argument("--first", type=int, required=True)
p.add_argument("--tag", default="x")
args = p.parse_args()

admin = AdminClient(conf(args))
fut = admin.create_topics([NewTopic(args.topic, args.partitions, 1)], operation_timeout=10)[args.topic]
fut.result(timeout=20)

producer = Producer(conf(args, **{"acks": "all", "linger.ms": 5}))
acks = []


def on_delivery(err, msg):
    if err is not None:
        fail(f"delivery of {msg.key()!r}: {err}")
    acks.append(msg)
    out(f"ACK {msg.partition()} {msg.offset()} {msg.key().decode()} {msg.value().decode()}")


for i in range(args.count):
    producer.produce(args.topic, key=f"k{i:03}", value=f"v{i}-{args.tag}", on_delivery=on_delivery)
    producer.poll(0)
left = producer.flush(30)
if left or len(acks) != args.count:
    fail(f"{len(acks)} of {args.count} acknowledged, {left} still queued")


def consume(label, want, linger):
    """Reads `want` records (then `linger` more seconds), commits what it read, closes."""
    c = Consumer(
        conf(
            args,
            **{
                "group.id": args.group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
            },
        )
    )
    c.subscribe([args.topic])
    last = {}
    count = 0
    deadline = time.time() + 40
    stop_at = None
    while time.time() < deadline:
        if count >= want and stop_at is None:
            stop_at = time.time() + linger
        if stop_at is not None and time.time() >= stop_at:
            break
        m = c.poll(0.1 if stop_at is None else 0.2)
        if m is None:
            continue
        if m.error():
            fail(f"consumer {label}: {m.error()}")
        out(f"REC {label} {m.partition()} {m.offset()} {m.key().decode()} {m.value().decode()}")
        last[m.partition()] = m.offset()
        count += 1
    commits = [TopicPartition(args.topic, p, o + 1) for p, o in sorted(last.items())]
    if commits:
        c.commit(offsets=commits, asynchronous=False)
    parts = [TopicPartition(args.topic, p) for p in range(args.partitions)]
    for tp in c.committed(parts, timeout=10):
        if tp.error:
            fail(f"committed {tp}: {tp.error}")
        out(f"COMMITTED {label} {tp.partition} {tp.offset}")
    c.close()


consume("A", args.first, 0)
consume("B", args.count - args.first, 2.0)
out("DONE")
