"""kafka-python (pure Python: its own SASL/SCRAM and TLS code) over a SASL listener: create a
topic, produce --count keyed records (acks=all, each send's metadata awaited), then a consumer
group member reads the topic from the start, commits and closes.

Prints `ACK <p> <o> <key> <value>` per acknowledged record, `REC <p> <o> <key> <value>` per
record read (polling 2 s past the last expected one, so duplicates show), `COMMITTED <p> <o>`,
then DONE.
"""

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from sasl_common import fail, out, parser

p = parser(__doc__)
p.add_argument("--topic", required=True)
p.add_argument("--group", required=True)
p.add_argument("--partitions", type=int, default=2)
p.add_argument("--count", type=int, required=True)
args = p.parse_args()

common = {
    "bootstrap_servers": args.bootstrap,
    "security_protocol": args.protocol,
    "sasl_mechanism": args.mechanism,
    "sasl_plain_username": args.user,
    "sasl_plain_password": args.password,
}
if args.protocol.endswith("SSL"):
    common["ssl_cafile"] = args.ca
    common["ssl_check_hostname"] = True

admin = KafkaAdminClient(**common)
admin.create_topics([NewTopic(args.topic, args.partitions, 1)])
admin.close()

producer = KafkaProducer(acks="all", **common)
for i in range(args.count):
    key, value = f"k{i:03}", f"py{i}"
    md = producer.send(args.topic, key=key.encode(), value=value.encode()).get(timeout=20)
    out(f"ACK {md.partition} {md.offset} {key} {value}")
producer.close()

consumer = KafkaConsumer(
    args.topic,
    group_id=args.group,
    auto_offset_reset="earliest",
    enable_auto_commit=False,
    **common,
)
got = 0
deadline = time.time() + 40
stop_at = None
while time.time() < deadline:
    if got >= args.count and stop_at is None:
        stop_at = time.time() + 2
    if stop_at is not None and time.time() >= stop_at:
        break
    for records in consumer.poll(timeout_ms=200).values():
        for m in records:
            out(f"REC {m.partition} {m.offset} {m.key.decode()} {m.value.decode()}")
            got += 1
if got < args.count:
    fail(f"read {got} of {args.count} records")
consumer.commit()
for part in range(args.partitions):
    out(f"COMMITTED {part} {consumer.committed(TopicPartition(args.topic, part))}")
consumer.close()
out("DONE")
