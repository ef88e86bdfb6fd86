#!/usr/bin/env bash
# Regenerate the main image benchmarks from scratch (CPU: about an hour on 2 cores),
# then the conformance streams and the tables of the README and docs/.  Run from the repository root:
#   bash benchmarks/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
run() { echo "== $*"; local t0=$SECONDS; "$PY" "$@"; echo "== done in $((SECONDS - t0)) s"; }
run benchmarks/kodak_checks.py --codec hyperprior
run benchmarks/kodak_checks.py --codec s2lic
run benchmarks/kodak_rd.py --jobs 2
run benchmarks/speed.py --json benchmarks/results/speed_cpu.json
run benchmarks/speed.py --codec s2lic --json benchmarks/results/speed_cpu_s2lic.json
run benchmarks/exactness_price.py
run benchmarks/device_consistency.py
run benchmarks/device_consistency.py --codec s2lic
run benchmarks/fuzz_decoder.py --count 10000
run benchmarks/fuzz_decoder.py --codec s2lic --count 2000
run benchmarks/max_bytes_sweep.py
run benchmarks/decoder_memory.py --json benchmarks/results/decoder_memory.json
run benchmarks/mpq_imagenette.py --jobs 2
run bitstreams/make_conformance.py
run benchmarks/measured_summary.py  # what ncodec list shows: neuralcodecs/assets/measured.json
run benchmarks/update_docs.py
