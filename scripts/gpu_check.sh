#!/usr/bin/env bash
# The GPU checks in one go, most important first; each step writes its log to $OUT as it ends, so a
# run cut short still returns what it did. On a machine with a CUDA GPU:
#     OUT=/tmp/gpu bash scripts/gpu_check.sh
# It also runs on the CPU (the CUDA tests then skip), which is how it is checked before a GPU session.
set -u
OUT=${OUT:-./gpu_check_out}
mkdir -p "$OUT"
PY=${PYTHON:-python}
cd "$(dirname "$0")/.."
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
"$PY" -c "import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))" \
  > "$OUT/0-device.log" 2>&1

# 1. The CUDA tests, and every library test that exercises the fast paths and batching.
timeout 300 "$PY" -m pytest -q -p no:cacheprovider tests/test_train.py tests/test_ensemble.py tests/test_batching.py \
  tests/test_jobs.py tests/test_runners.py tests/test_store.py tests/test_scheduler.py -rs > "$OUT/1-cuda-tests.log" 2>&1; echo "exit $?" >> "$OUT/1-cuda-tests.log"

# 2. The CLI on the device for every built-in data set and mode (short runs).
for d in moons blobs digits; do for m in source_only dann no_reversal target_oracle; do
  timeout 120 "$PY" -m dann_demo train --dataset "$d" --mode "$m" --steps 300 --device auto 2>&1 | tail -1
done; done > "$OUT/2-cli.log" 2>&1

# 3. Every benchmark figure.
timeout 600 "$PY" -m dann_demo bench --json "$OUT/bench.json" > "$OUT/3-bench.log" 2>&1; echo "exit $?" >> "$OUT/3-bench.log"

# 4. MNIST -> MNIST-M at length, 3 seeds, where the MNIST files are in $DANN_DATA_DIR (no download here).
if "$PY" -c "from dann_demo.datasets import mnist; import sys; sys.exit(0 if mnist.locate().has_test else 1)"; then
  timeout 900 "$PY" -m dann_demo train --dataset mnist --n-samples 60000 --steps 12000 --seeds 0-2 \
    --json "$OUT/mnist.json" > "$OUT/4-mnist.log" 2>&1
else
  echo "no MNIST files in the data folder: skipped" > "$OUT/4-mnist.log"
fi
echo done > "$OUT/done"
