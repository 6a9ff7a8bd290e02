#!/usr/bin/env bash
# Regenerates kafka-protocol.patch from the pristine copies in kafka-protocol-0.18.0.pristine/
# and the vendored tree. To patch one more file, first copy its published version into the
# pristine directory (its checksum must match kafka-protocol-0.18.0.sha256), edit the vendored
# copy, run this, then check-vendored.sh.
set -euo pipefail
cd "$(dirname "$0")"
PRISTINE=kafka-protocol-0.18.0.pristine
out=kafka-protocol.patch.new
: >"$out"
while read -r f; do
    f=${f#./}
    # diff exits 1 when the files differ, which is the point.
    diff -u --label "a/$f" --label "b/$f" "$PRISTINE/$f" "kafka-protocol/$f" >>"$out" || [ $? -eq 1 ]
done < <(cd "$PRISTINE" && find . -type f | LC_ALL=C sort)
mv "$out" kafka-protocol.patch
echo "wrote kafka-protocol.patch ($(wc -l <kafka-protocol.patch) lines)"
