#!/usr/bin/env bash
# Installs what the scenario tests need beyond the Rust toolchain: kcat (Debian's build, which
# links librdkafka 2.0.2). Idempotent: does nothing when kcat is already there.
set -euo pipefail

if command -v kcat >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq kcat >/dev/null
command -v kcat >/dev/null
