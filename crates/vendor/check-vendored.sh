#!/usr/bin/env bash
# Checks that crates/vendor/kafka-protocol is exactly the published kafka-protocol 0.18.0 plus
# kafka-protocol.patch, so the patch stays the whole story (see STRATA-PATCH.md):
#  1. the pristine copies of the patched files match the published crate's checksums
#     (kafka-protocol-0.18.0.sha256 lists every file of the published crate);
#  2. pristine + patch == the vendored copies of those files, byte for byte;
#  3. every other vendored file matches the published crate's checksum;
#  4. every published file is vendored, except OMITTED (tests and toolchain files cargo does not
#     build for a dependency);
#  5. no file is vendored that the published crate lacks, except ADDED (the patch notes).
# Exit status 0 and one line "vendored kafka-protocol = pristine 0.18.0 + patch" when all hold.
set -euo pipefail
cd "$(dirname "$0")"

VENDORED=kafka-protocol
PRISTINE=kafka-protocol-0.18.0.pristine
MANIFEST=kafka-protocol-0.18.0.sha256
PATCH=kafka-protocol.patch
OMITTED='^(tests/.*|Cargo\.lock|\.cargo_vcs_info\.json|rust-toolchain\.toml)$'
ADDED='^STRATA-PATCH\.md$'

fail() {
    echo "check-vendored: $*" >&2
    exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mapfile -t patched < <(sed -n 's|^+++ b/||p' "$PATCH" | cut -f1)
[ "${#patched[@]}" -gt 0 ] || fail "$PATCH names no files"
is_patched() {
    local p
    for p in "${patched[@]}"; do [ "$p" = "$1" ] && return 0; done
    return 1
}

# 1. Pristine copies are the published bytes.
for f in "${patched[@]}"; do
    want=$(awk -v f="$f" '$2 == f { print $1 }' "$MANIFEST")
    [ -n "$want" ] || fail "$f is patched but is not a file of the published crate ($MANIFEST)"
    [ -f "$PRISTINE/$f" ] || fail "$PRISTINE/$f is missing"
    got=$(sha256sum "$PRISTINE/$f" | cut -d' ' -f1)
    [ "$got" = "$want" ] || fail "$PRISTINE/$f differs from the published crate"
    mkdir -p "$work/tree/$(dirname "$f")"
    cp "$PRISTINE/$f" "$work/tree/$f"
done

# 2. Pristine + patch is what is vendored.
patch -d "$work/tree" -p1 --quiet --forward --no-backup-if-mismatch \
    --reject-file="$work/rejects" <"$PATCH" || fail "$PATCH does not apply to $PRISTINE"
for f in "${patched[@]}"; do
    cmp -s "$work/tree/$f" "$VENDORED/$f" ||
        fail "$VENDORED/$f is not $PRISTINE/$f + $PATCH; regenerate the patch (see STRATA-PATCH.md)"
done

# 3 and 4. Every other published file is vendored unchanged (or deliberately omitted).
: >"$work/unchanged.sha256"
while read -r sum f; do
    is_patched "$f" && continue
    if [ -e "$VENDORED/$f" ]; then
        printf '%s  %s\n' "$sum" "$VENDORED/$f" >>"$work/unchanged.sha256"
    elif ! [[ $f =~ $OMITTED ]]; then
        fail "$VENDORED/$f is missing (published file, not in OMITTED)"
    fi
done <"$MANIFEST"
sha256sum --quiet --strict -c "$work/unchanged.sha256" >&2 ||
    fail "vendored files differ from the published crate outside $PATCH"

# 5. Nothing vendored that was not published.
while read -r f; do
    f=${f#./}
    [[ $f =~ $ADDED ]] && continue
    awk -v f="$f" '$2 == f { found = 1 } END { exit !found }' "$MANIFEST" ||
        fail "$VENDORED/$f is not a file of the published crate; put changes in $PATCH"
done < <(cd "$VENDORED" && find . -type f)

echo "vendored kafka-protocol = pristine 0.18.0 + patch (${#patched[@]} files patched)"
