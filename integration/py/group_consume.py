"""A kafka-python group consumer for the scenario tests (driven by tests/groups_kafka_python.rs).

Usage: group_consume.py BOOTSTRAP GROUP TOPIC COUNT
Subscribes to TOPIC in GROUP, consumes until COUNT records arrived (or 30 s passed), committing
after each poll, prints `RECORD <partition> <offset> <value>` per record, then closes (which
commits and sends LeaveGroup) and prints `DONE`.
"""
import sys
import time

from kafka import KafkaConsumer


def main():
    bootstrap, group, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=100,
    )
    seen = 0
    deadline = time.time() + 30
    while seen < count and time.time() < deadline:
        batches = consumer.poll(timeout_ms=200)
        for _tp, messages in batches.items():
            for m in messages:
                print(f"RECORD {m.partition} {m.offset} {m.value.decode()}", flush=True)
                seen += 1
        if batches:
            consumer.commit()
    consumer.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
