"""A confluent-kafka producer over a SASL listener that keeps producing past the broker's
session lifetime (connections.max.reauth.ms): one record every --interval seconds for
--seconds, value `r<i>`, acks=all, each one flushed before the next so every record needs the
connection as it is at that moment. Then a consumer (same connection settings) reads the
partition back from the start.

Prints `ACK <p> <o> <value>` per delivery report, `ERR <code name> <text>` per client error,
`REAUTH <n>` (how many times librdkafka's debug log says a connection re-authenticated),
`REC <p> <o> <value>` per record read back, then DONE. A delivery error, or a record not acknowledged within 10 s, is a FAIL.
"""

import logging
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from sasl_common import conf, fail, out, parser

p = parser(__doc__)
p.add_argument("--topic", required=True)
p.add_argument("--seconds", type=float, default=8.0)
p.add_argument("--interval", type=float, default=0.2)
args = p.parse_args()

errors = []
admin = AdminClient(conf(args))
admin.create_topics([NewTopic(args.topic, 1, 1)], operation_timeout=10)[args.topic].result(timeout=20)



class Count(logging.Handler):
    """Counts librdkafka's debug lines about re-authentication."""

    def __init__(self):
        super().__init__()
        self.reauth = 0

    def emit(self, record):
        if "Broker changed state UP -> REAUTH" in record.getMessage():
            self.reauth += 1


counter = Count()
log = logging.getLogger("rdkafka")
log.setLevel(logging.DEBUG)
log.addHandler(counter)
log.propagate = False

# retries=0: a record that needed a new connection fails instead of being retried unseen.
producer = Producer(
    conf(
        args,
        acks="all",
        error_cb=lambda e: errors.append(e),
        logger=log,
        debug="security,broker",
        **{"linger.ms": 0, "retries": 0},
    )
)
acked = []


def on_delivery(err, msg):
    if err is not None:
        fail(f"delivery of {msg.value()!r}: {err}")
    acked.append(msg)
    out(f"ACK {msg.partition()} {msg.offset()} {msg.value().decode()}")


start = time.time()
i = 0
while time.time() - start < args.seconds:
    producer.produce(args.topic, value=f"r{i}", on_delivery=on_delivery)
    if producer.flush(10) != 0:
        fail(f"record r{i} not acknowledged within 10 s")
    i += 1
    time.sleep(max(0.0, start + i * args.interval - time.time()))
out(f"SENT {i} in {time.time() - start:.1f} s")
producer.flush(1)
for e in errors:
    out(f"ERR {e.name()} {e.str()}")
out(f"REAUTH {counter.reauth}")

c = Consumer(conf(args, **{"group.id": "reauth-check", "enable.auto.commit": False}))
c.assign([TopicPartition(args.topic, 0, 0)])
got = 0
deadline = time.time() + 20
while got < i and time.time() < deadline:
    m = c.poll(0.2)
    if m is None:
        continue
    if m.error():
        fail(f"consumer: {m.error()}")
    out(f"REC {m.partition()} {m.offset()} {m.value().decode()}")
    got += 1
c.close()
out("DONE")
