"""The gRPC admin API (strata.admin.v1.Admin) through a client that is not ours: grpcio with
the reflection client (grpcio-reflection). No generated stubs: every message class comes from
the descriptors the server's reflection service returns. Driven by
integration/tests/admin_grpc.rs.

Usage: admin_grpc.py GRPC_ADDR TOPIC GROUP WATCH_TOPIC WATCH_TARGET
       admin_grpc.py tier GRPC_ADDR TOPIC

Prints machine-checkable lines (as the txn_*.py scripts do): `KV <key> <value>`,
`STEP <name>`, `FAIL: <what>` then exit 1, and `DONE` last when every step passed.
Steps:
1. list the services through reflection;
2. ListTopics, DescribeTopic TOPIC (created and produced to by the test), ListGroups,
   DescribeGroup GROUP (offsets committed by the test), TierStatus TOPIC;
3. DescribeTopic of a missing topic: the status and its google.rpc.ErrorInfo;
4. CreateTopic / AlterTopicConfig / DeleteTopic round trip, and its errors;
5. WatchTopic WATCH_TOPIC: prints `STEP watching` after the first message, then waits for
   the test to produce; prints every high watermark it is pushed until WATCH_TARGET.
The `tier` mode prints, for a topic whose history is partly in the object store, the
partitions as DescribeTopic, TierStatus and the first WatchTopic message give them.
"""
import sys
import time

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status

SERVICE = "strata.admin.v1.Admin"


def fail(what):
    print(f"FAIL: {what}", flush=True)
    print(f"FAIL: {what}", file=sys.stderr, flush=True)
    sys.exit(1)


def kv(key, value):
    print(f"KV {key} {value}", flush=True)


class Admin:
    """Calls of the Admin service with message classes built from reflected descriptors."""

    def __init__(self, channel):
        self.channel = channel
        self.db = ProtoReflectionDescriptorDatabase(channel)
        self.pool = descriptor_pool.DescriptorPool(self.db)
        self.service = self.pool.FindServiceByName(SERVICE)

    def services(self):
        return sorted(self.db.get_services())

    def _method(self, method):
        m = self.service.FindMethodByName(method)
        if m is None:
            fail(f"reflection lists no method {method}")
        req = message_factory.GetMessageClass(m.input_type)
        resp = message_factory.GetMessageClass(m.output_type)
        return m, req, resp

    def call(self, method, **fields):
        m, req, resp = self._method(method)
        stub = self.channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=req.SerializeToString,
            response_deserializer=resp.FromString,
        )
        return stub(req(**fields), timeout=60)

    def stream(self, method, **fields):
        m, req, resp = self._method(method)
        stub = self.channel.unary_stream(
            f"/{SERVICE}/{method}",
            request_serializer=req.SerializeToString,
            response_deserializer=resp.FromString,
        )
        return stub(req(**fields))


def error_of(err):
    """(gRPC code name, ErrorInfo.reason, ErrorInfo.domain) of a failed call."""
    status = rpc_status.from_call(err)
    if status is None:
        fail(f"{err.code().name}: no grpc-status-details-bin in the trailers")
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return err.code().name, info.reason, info.domain
    fail(f"{err.code().name}: no ErrorInfo detail")


def expect_error(admin, method, **fields):
    try:
        admin.call(method, **fields)
    except grpc.RpcError as err:
        return error_of(err)
    fail(f"{method} {fields} succeeded; an error was expected")


def ranges(p):
    return ",".join(f"[{r.start_offset},{r.end_offset})" for r in p.remote_ranges)


def tier_main():
    addr, topic = sys.argv[2:4]
    channel = grpc.insecure_channel(addr)
    grpc.channel_ready_future(channel).result(timeout=30)
    admin = Admin(channel)
    for p in admin.call("DescribeTopic", name=topic).partitions:
        kv(
            f"describe_{p.partition}",
            f"log_start={p.log_start_offset} local_start={p.local_log_start_offset} "
            f"hw={p.high_watermark} remote={ranges(p)} segments={p.remote_segments} "
            f"bytes={p.remote_size_bytes}",
        )
    for p in admin.call("TierStatus", topic=topic).partitions:
        kv(
            f"tier_{p.topic}_{p.partition}",
            f"remote=[{p.remote_start_offset},{p.remote_end_offset}) "
            f"segments={p.remote_segments} bytes={p.remote_size_bytes} "
            f"log_start={p.log_start_offset} local_start={p.local_log_start_offset} "
            f"end={p.log_end_offset}",
        )
    stream = admin.stream("WatchTopic", name=topic)
    state = next(iter(stream))
    stream.cancel()
    for p in state.partitions:
        kv(f"watch_{p.partition}", f"hw={p.high_watermark} remote={ranges(p)}")
    print("DONE", flush=True)


def main():
    if sys.argv[1] == "tier":
        return tier_main()
    addr, topic, group, watch_topic, watch_target = sys.argv[1:6]
    watch_target = int(watch_target)
    channel = grpc.insecure_channel(addr)
    grpc.channel_ready_future(channel).result(timeout=30)
    admin = Admin(channel)

    # 1. Reflection.
    kv("services", ",".join(admin.services()))

    # 2. ListTopics and DescribeTopic.
    for t in admin.call("ListTopics").topics:
        kv(f"topic_{t.name}", t.partition_count)
    d = admin.call("DescribeTopic", name=topic)
    kv("describe_name", d.name)
    for p in d.partitions:
        kv(
            f"partition_{p.partition}",
            f"leader={p.leader} log_start={p.log_start_offset} "
            f"local_start={p.local_log_start_offset} hw={p.high_watermark} "
            f"remote_ranges={len(p.remote_ranges)} remote_bytes={p.remote_size_bytes}",
        )
    kv("describe_configs", ",".join(f"{k}={v}" for k, v in sorted(d.configs.items())))

    # Groups: the test committed offsets of GROUP for TOPIC partition 0 (no members).
    kv("groups", ",".join(g.group_id for g in admin.call("ListGroups").groups))
    g = admin.call("DescribeGroup", group_id=group)
    kv("group_state", f"{g.state} members={len(g.members)} total_lag={g.total_lag}")
    for p in g.partitions:
        kv(
            f"group_{p.topic}_{p.partition}",
            f"committed={p.committed_offset} end={p.log_end_offset} lag={p.lag}",
        )
    kv("group_missing", " ".join(expect_error(admin, "DescribeGroup", group_id="no-such-group")))
    tier = admin.call("TierStatus", topic=topic)
    kv("tier", f"partitions={len(tier.partitions)} store={tier.object_store.split(':')[0]}")

    # 3. A missing topic.
    kv("missing", " ".join(expect_error(admin, "DescribeTopic", name="no-such-topic")))

    # 4. Create, alter, delete.
    c = admin.call(
        "CreateTopic", name="admin-created", partitions=2, configs={"retention.ms": "3600000"}
    )
    kv("created", f"{c.name} {c.partition_count} {c.replication_factor}")
    listed = {t.name: t.partition_count for t in admin.call("ListTopics").topics}
    kv("created_listed", listed.get("admin-created", "absent"))
    kv("create_again", " ".join(expect_error(admin, "CreateTopic", name="admin-created")))
    a = admin.call(
        "AlterTopicConfig",
        name="admin-created",
        set={"retention.ms": "7200000", "cleanup.policy": "compact"},
    )
    kv("altered", ",".join(f"{k}={v}" for k, v in sorted(a.configs.items())))
    a = admin.call("AlterTopicConfig", name="admin-created", delete=["cleanup.policy"])
    kv("deleted_config", ",".join(f"{k}={v}" for k, v in sorted(a.configs.items())))
    kv(
        "alter_invalid",
        " ".join(
            expect_error(
                admin, "AlterTopicConfig", name="admin-created", set={"retention.ms": "soon"}
            )
        ),
    )
    admin.call("DeleteTopic", name="admin-created")
    deadline = time.time() + 20
    while True:
        try:
            admin.call("DescribeTopic", name="admin-created")
        except grpc.RpcError as err:
            kv("after_delete", " ".join(error_of(err)))
            break
        if time.time() > deadline:
            fail("admin-created still described 20 s after DeleteTopic")
        time.sleep(0.1)
    kv("delete_again", " ".join(expect_error(admin, "DeleteTopic", name="admin-created")))

    # 5. WatchTopic while the test produces.
    hws = []
    messages = 0
    stream = admin.stream("WatchTopic", name=watch_topic, interval_ms=50)
    for state in stream:
        messages += 1
        if len(state.partitions) != 1:
            fail(f"WatchTopic sent {len(state.partitions)} partitions")
        hw = state.partitions[0].high_watermark
        hws.append(hw)
        if messages == 1:
            print("STEP watching", flush=True)
        if hw >= watch_target:
            break
    stream.cancel()
    kv("watch_hw", " ".join(str(h) for h in hws))
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
