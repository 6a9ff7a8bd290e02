"""kafka-python (its own SASL/SCRAM, TLS and protocol code) as one principal, against ACLs.

Steps, in this order:
  --produce TOPIC   send one record (key `k0`, value --value), acks=all: `ACK <p> <o>`, or
                    `DENIED <error class>` when the client raises an authorization error.
  --describe-acls   DescribeAcls for every binding: `ACL <binding>` per binding (sorted, in
                    acl_common.py's form), or `DESCRIBE ERR <error class>`.
  --create-acl "<binding>"  CreateAcls: `CREATE OK` or `CREATE ERR <error class>`.
Then DONE.
"""

from kafka import KafkaProducer
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.errors import AuthorizationError

from acl_common import out, parser

p = parser(__doc__)
p.add_argument("--produce")
p.add_argument("--value", default="py")
p.add_argument("--describe-acls", action="store_true")
p.add_argument("--create-acl")
args = p.parse_args()

common = {
    "bootstrap_servers": args.bootstrap,
    "security_protocol": args.protocol,
    "request_timeout_ms": 20000,
}
if args.protocol.startswith("SASL"):
    common["sasl_mechanism"] = args.mechanism
    common["sasl_plain_username"] = args.user
    common["sasl_plain_password"] = args.password
if args.protocol.endswith("SSL"):
    common["ssl_cafile"] = args.ca
    common["ssl_check_hostname"] = True
    if args.cert:
        common["ssl_certfile"] = args.cert
        common["ssl_keyfile"] = args.key

if args.produce:
    producer = KafkaProducer(acks="all", max_block_ms=10000, **common)
    try:
        md = producer.send(args.produce, key=b"k0", value=args.value.encode()).get(timeout=20)
        out(f"ACK {md.partition} {md.offset}")
    except AuthorizationError as e:
        out(f"DENIED {type(e).__name__}")
    producer.close()


def show(acl):
    r = acl.resource_pattern
    return (
        f"{r.resource_type.name} {r.resource_name} {r.pattern_type.name} {acl.principal} "
        f"{acl.host} {acl.operation.name} {acl.permission_type.name}"
    )


if args.describe_acls or args.create_acl:
    admin = KafkaAdminClient(**common)
    if args.describe_acls:
        everything = ACLFilter(
            principal=None,
            host=None,
            operation=ACLOperation.ANY,
            permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(
                ResourceType.ANY, None, ACLResourcePatternType.ANY
            ),
        )
        try:
            acls, _error = admin.describe_acls(everything)
            for line in sorted(show(a) for a in acls):
                out(f"ACL {line}")
        except AuthorizationError as e:
            out(f"DESCRIBE ERR {type(e).__name__}")
    if args.create_acl:
        t, name, pattern, principal, host, op, perm = args.create_acl.split()
        acl = ACL(
            principal=principal,
            host=host,
            operation=ACLOperation[op],
            permission_type=ACLPermissionType[perm],
            resource_pattern=ResourcePattern(
                ResourceType[t], name, ACLResourcePatternType[pattern]
            ),
        )
        result = admin.create_acls([acl])
        if result["failed"]:
            # kafka-python lists the error classes of the failed creations.
            err = result["failed"][0]
            out(f"CREATE ERR {(err if isinstance(err, type) else type(err)).__name__}")
        else:
            out("CREATE OK")
    admin.close()

out("DONE")
