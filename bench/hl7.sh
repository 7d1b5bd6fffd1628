#!/usr/bin/env bash
# HL7 listener throughput with a durable (fsynced) ACK, one connection and eight.
# Usage: bench/hl7.sh [messages]   (env HL7_BENCH_DIR: where the fsynced files go; default $TMPDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
export HL7_BENCH_MESSAGES="${1:-2000}"
exec cargo test --release --test hl7_bench -- --ignored --nocapture --test-threads=1
