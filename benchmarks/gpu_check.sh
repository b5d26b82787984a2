#!/usr/bin/env bash
# The lab's checks on a machine with an NVIDIA GPU, in one go: the CUDA tests, then the benchmarks on CUDA.
#
#   bash benchmarks/gpu_check.sh            # figures under $OUT (or ./gpu-check), a summary at the end
#
# It runs under the machine's own python3 (which must hold torch with CUDA); packages missing there
# (plotly, captum, streamlit) are installed from wheels in .whl/ when that folder exists, with no network.
# Steps: the test suite's engine tests on CUDA (GFL_TEST_DEVICE=cuda), probe overhead with ResNet-56 at batch
# 128 (probe on and off), the live twins' throughput in worker processes on CUDA, and a small depth sweep.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 GFL_STORE="$(mktemp -d)/runs.db"
status=0
step() {  # step NAME SECONDS COMMAND...: run one check with a time limit, its log in $OUT/NAME.log
  local name=$1 limit=$2; shift 2
  echo "== $name" | tee -a "$OUT/summary.txt"
  local start=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 15 "$OUT/$name.log" | tee -a "$OUT/summary.txt"
  echo "-- $name: exit $rc in $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
  [[ $rc == 0 ]] || status=1
}

if [[ -d .whl ]] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gfl-site .whl/*.whl \
    && export PYTHONPATH="/tmp/gfl-site${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no CUDA device is visible to $PY's torch: nothing to check here" | tee "$OUT/summary.txt"
  exit 2
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } | tee "$OUT/summary.txt"

step tests 240 "$PY" -m pytest -q -x -p no:cacheprovider tests/resnet/test_cuda.py
step probe_overhead 150 "$PY" -m benchmarks.probe_overhead --device cuda --rounds 20 --steps 10
if "$PY" -c "import plotly" 2>/dev/null; then
  step live_throughput 150 "$PY" -m benchmarks.live_throughput --device cuda --seconds 6
else
  echo "== live_throughput: skipped, plotly is missing (put its wheel in .whl/)" | tee -a "$OUT/summary.txt"
fi
step sweep 150 "$PY" -m resnet sweep --depths 20 56 --steps 200 --device cuda --backend local
exit $status
