"""Reads the Parquet archives of a Strata bucket the way a query engine would.

Usage: tier_parquet_read.py ENDPOINT BUCKET PREFIX OUT_DIR

Downloads every object under s3://BUCKET/PREFIX/parquet/ (boto3, against an S3-compatible
endpoint over plain http) into OUT_DIR, keeping the Hive-style key layout, then reads them
with pyarrow: once as a Hive-partitioned dataset (`topic=`/`partition=` directories, as
DuckDB's `read_parquet('s3://.../parquet/**/*.parquet', hive_partitioning=true)` does), and
file by file, checking the schema. Prints `MANIFEST <base offset>` per segment manifest,
`FILE <key> <rows>` per file, one
`ROW <offset> <timestamp ms> <timestamp_type> <partition> <key> <value> [<headers>]` per row
(a byte string as `=<hex>`, null as `-`; headers as `<hex key>:<value>` joined by commas),
`DATASET <rows> <topics>`, the same files through DuckDB's read_parquet (`DUCKDB ...`, see
duckdb_summary), then DONE.
"""

import os
import sys

import boto3
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

EXPECTED = pa.schema(
    [
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("timestamp", pa.timestamp("ms"), nullable=False),
        pa.field("timestamp_type", pa.int8(), nullable=False),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field(
            "headers",
            pa.list_(
                pa.field(
                    "item",
                    pa.struct(
                        [
                            pa.field("key", pa.string(), nullable=False),
                            pa.field("value", pa.binary()),
                        ]
                    ),
                    nullable=False,
                )
            ),
            nullable=False,
        ),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("producer_id", pa.int64(), nullable=False),
        pa.field("producer_epoch", pa.int16(), nullable=False),
    ]
)


DUCKDB_QUERY = """
SELECT count(*), coalesce(sum("offset"), 0), count(*) FILTER (WHERE key IS NULL),
       coalesce(sum(octet_length(value)), 0), coalesce(sum(len(headers)), 0),
       count(DISTINCT topic)
FROM read_parquet(?, hive_partitioning = true)
"""


def duckdb_summary(glob):
    """`DUCKDB <rows> <sum of offsets> <null keys> <value bytes> <headers> <topics>`: the files
    read by DuckDB as one Hive-partitioned table."""
    import duckdb

    row = duckdb.connect().execute(DUCKDB_QUERY, [glob]).fetchone()
    return "DUCKDB " + " ".join(str(int(v)) for v in row)


def hexed(b):
    return "-" if b is None else "=" + b.hex()


def main():
    endpoint, bucket, prefix, out = sys.argv[1:5]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    root = prefix.strip("/") + "/parquet/"
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    keys.sort()
    # The base offsets of the segments in the bucket (their manifests), to compare with.
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix.strip("/") + "/v1/"
    ):
        for o in page.get("Contents", []):
            if o["Key"].endswith(".manifest.json"):
                print("MANIFEST " + str(int(o["Key"].rsplit("/", 1)[1].split("-", 1)[0])))
    for key in keys:
        local = os.path.join(out, key[len(prefix.strip("/")) + 1 :])
        os.makedirs(os.path.dirname(local), exist_ok=True)
        s3.download_file(bucket, key, local)
        table = pq.read_table(local)
        if not table.schema.equals(EXPECTED, check_metadata=False):
            print(f"FAIL: {key}: schema {table.schema}")
            sys.exit(1)
        print(f"FILE {key} {table.num_rows}")
        # Timestamps as epoch milliseconds (no datetime round trip).
        millis = table.column("timestamp").cast(pa.int64()).to_pylist()
        for r, ms in zip(table.to_pylist(), millis):
            r["timestamp"] = ms
            headers = ",".join(
                h["key"].encode().hex() + ":" + hexed(h["value"]) for h in r["headers"]
            )
            print(
                f"ROW {r['offset']} {r['timestamp']} {r['timestamp_type']} {r['partition']} "
                f"{hexed(r['key'])} {hexed(r['value'])} [{headers}]"
            )
    if keys:
        dataset = ds.dataset(os.path.join(out, "parquet"), format="parquet", partitioning="hive")
        table = dataset.to_table()
        print(f"DATASET {table.num_rows} {sorted(set(table.column('topic').to_pylist()))}")
        print(duckdb_summary(os.path.join(out, "parquet", "**", "*.parquet")))
    else:
        print("DATASET 0 []")
    print("DONE")


if __name__ == "__main__":
    main()
