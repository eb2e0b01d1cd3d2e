#!/usr/bin/env bash
# 1 rank x 2 threads against 2 ranks x 1 thread, in one invocation, alternating, ROUNDS times (default 3).
# Nothing else may run on the machine meanwhile (docs/performance.md).
#   benchmarks/data_parallel.sh [extra bench-data-parallel flags, e.g. --arch vgg --depth 11]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
ROUNDS=${ROUNDS:-3}
export OMPI_MCA_rmaps_base_oversubscribe=1
for round in $(seq "$ROUNDS"); do
  echo "== round $round"
  "$BUILD_DIR/bench-data-parallel" --threads 2 "$@" | grep -v '^{'
  mpirun -np 2 --bind-to core "$BUILD_DIR/bench-data-parallel" --threads 1 "$@" | grep -v '^{'
done
