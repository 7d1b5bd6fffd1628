#!/usr/bin/env bash
# Benchmark of issue 5: assemble a 300-slice 200x200 PET and a 300-slice 512x512 CT (generated
# into a temp dir) and resample the CT onto the PET grid; prints time and peak memory.
# Release build. Usage: bench/volume.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release --test volume_bench -- --ignored --nocapture bench_assemble_and_resample
