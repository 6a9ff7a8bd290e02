"""Reads the files `strata export` wrote, the way a user's tools would.

Usage: export_read.py OUT_DIR FORMAT  (FORMAT: parquet or jsonl)

Walks OUT_DIR/topic=*/partition=*/ and reads every file of FORMAT in name order: Parquet with
pyarrow (checking the schema is the bucket archive's), JSON Lines with the json module (a
string is the UTF-8 bytes; {"base64": ...} the decoded bytes). Prints `FILE <relative path>
<rows>` per file, one `ROW <offset> <timestamp ms> <timestamp_type> <partition> <key> <value>
[<headers>]` per row (a byte string as `=<hex>`, null as `-`; headers as `<hex key>:<value>`
joined by commas), for Parquet `DATASET <rows>` (the directory read as one Hive-partitioned
dataset) and `DUCKDB ...` (DuckDB's read_parquet('OUT/**/*.parquet', hive_partitioning=true);
see tier_parquet_read.duckdb_summary), then DONE.
Files whose name starts with '.' (an unfinished export's temporaries) are listed as `TMP`.
"""

import base64
import json
import os
import sys

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from tier_parquet_read import EXPECTED, duckdb_summary, hexed


def json_bytes(v):
    if v is None:
        return None
    if isinstance(v, str):
        return v.encode("utf-8")
    return base64.b64decode(v["base64"])


def print_row(r):
    headers = ",".join(h["key"].encode().hex() + ":" + hexed(h["value"]) for h in r["headers"])
    print(
        f"ROW {r['offset']} {r['timestamp']} {r['timestamp_type']} {r['partition']} "
        f"{hexed(r['key'])} {hexed(r['value'])} [{headers}]"
    )


def main():
    out, fmt = sys.argv[1:3]
    files = []
    for root, _, names in os.walk(out):
        for name in names:
            path = os.path.join(root, name)
            if name.startswith("."):
                print(f"TMP {os.path.relpath(path, out)}")
            elif name.endswith("." + fmt):
                files.append(path)
    files.sort()
    for path in files:
        rel = os.path.relpath(path, out)
        if fmt == "parquet":
            table = pq.read_table(path)
            if not table.schema.equals(EXPECTED, check_metadata=False):
                print(f"FAIL: {rel}: schema {table.schema}")
                sys.exit(1)
            millis = table.column("timestamp").cast(pa.int64()).to_pylist()
            rows = table.to_pylist()
            for r, ms in zip(rows, millis):
                r["timestamp"] = ms
        else:
            rows = []
            with open(path, encoding="utf-8") as f:
                for line in f:
                    r = json.loads(line)
                    r["key"] = json_bytes(r["key"])
                    r["value"] = json_bytes(r["value"])
                    for h in r["headers"]:
                        h["value"] = json_bytes(h["value"])
                    rows.append(r)
        print(f"FILE {rel} {len(rows)}")
        for r in rows:
            print_row(r)
    if fmt == "parquet":
        n = 0
        if files:
            dataset = ds.dataset(files, format="parquet", partitioning="hive",
                                 partition_base_dir=out)
            n = dataset.to_table().num_rows
        print(f"DATASET {n}")
        if files:
            print(duckdb_summary(os.path.join(out, "**", "*.parquet")))
    print("DONE")


if __name__ == "__main__":
    main()
