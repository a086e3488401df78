#!/usr/bin/env bash
# The GPU suite, for a GPU machine with no network:
#   bash ci/gpu.sh [OUT_DIR] [PART]    OUT_DIR default: $OUT (as the device tool sets it), else ./gpu-out
# PART: "tests" (the whole test suite with CuPy arrays, and PyTorch CPU and CUDA tensors when PyTorch
# sees the GPU, as backends),
# "bench" (the GPU benchmark grid, the issue's target point n=10^7, d=128, k=1024 first: gkmeans on
# CuPy with the array-path, graph-replayed and fused assignments, the sorted update, exact and TF32,
# against the GPU peers; results rewritten after every peer, no new point after 170 s, no new convergence
# run after 270 s, so that it ends cleanly inside the 380 s it is given; then the bound-based rows,
# python -m benchmarks.bounds --device gpu: time to convergence of gkmeans' lloyd, hamerly, elkan,
# yinyang and auto on CuPy against flash-kmeans and fast-pytorch-kmeans from the same k-means++ start,
# on the photos, the digits and blobs up to 10^7 x 32 at k = 256, no new problem after 120 s, inside
# 170 s; the two steps and the set-up stay within the device tool's 600 s a command, which is why the
# grid has 380 s and not the 540 s it had alone; all but the Markdown reports and device.txt bundled
# into bench-more.tgz), "extra" (batched restarts, and the
# CPU-against-GPU crossover that sets device="auto"), "first" (one call of at most 600 s with what
# matters most, for a session that may get only one: the benchmark at the issue's point alone, the
# GPU-specific tests, single passes timed alone (GEMM floors, Triton configurations, updates), then
# the restarts benchmark in the time left; all but the Markdown reports, device.txt and the tests'
# log bundled into first-more.tgz), or "all" (default). The device tool allows 10 minutes a command
# and 30 minutes a session, start-up included, and gives a machine back 30 s after a call: a
# session gets two or three calls. Run "first", then "bench" (the whole grid), then "tests" or "extra".
# Installs the carried wheels (ci/prepare_device_wheels.sh) and records the GPU and the install
# in device.txt first. Logs and results land in OUT_DIR, at most 7 files a part (the device
# tool brings back 8); the exit status is the tests' (0 when they were not run).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu-out}}"
part="${2:-all}"
mkdir -p "$out"
{ date -u; python3 -m pip install -q --no-index --no-deps --upgrade --target .device-site device_wheels/*.whl \
    || echo "installing the carried wheels failed (status $?)"; } > "$out/device.txt" 2>&1
export PYTHONPATH="$PWD/.device-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -m gkmeans devices;
  python3 -c "import torch, triton, cupy; print(\"torch\", torch.__version__, \"triton\", triton.__version__, \"cupy\", cupy.__version__)"; } \
    >> "$out/device.txt" 2>&1
tests=0
parallel=()
if python3 -c "import xdist" 2>/dev/null; then
    parallel=(-n "${GKMEANS_TEST_WORKERS:-8}")
fi
if [[ "$part" == first ]]; then
    # The issue's point only (--max-seconds 0), every peer's time per iteration before any
    # convergence run, no convergence run started after 230 s.
    timeout 320 python3 -m benchmarks run --device gpu --out "$out" --max-seconds 0 --stop-seconds 230 \
        > "$out/gpu-bench.log" 2>&1 || echo "benchmarks ended with status $? (see gpu-bench.log)"
    tail -n 5 "$out/gpu-bench.log"
    GKMEANS_TEST_BACKENDS="${GKMEANS_TEST_BACKENDS:-numpy,cupy}" OMP_NUM_THREADS=2 timeout 120 python3 -m pytest \
        -q -rs -p no:cacheprovider "${parallel[@]}" --durations=15 --junitxml="$out/gpu-tests.xml" \
        tests/test_gpu.py tests/test_triton_assign.py tests/test_precision.py tests/test_cuda_graph_pass.py \
        tests/test_cuda_sources.py \
        > "$out/gpu-tests.log" 2>&1
    tests=$?
    tail -n 3 "$out/gpu-tests.log"
    timeout 80 python3 -m benchmarks gpu-passes --out "$out" > "$out/gpu-passes.log" 2>&1 \
        || echo "gpu-passes ended with status $? (see gpu-passes.log)"
    left=$((575 - SECONDS))
    if ((left > 30)); then
        timeout "$left" python3 -m benchmarks restarts --device gpu --out "$out" > "$out/gpu-restarts.log" 2>&1 \
            || echo "restarts benchmark ended with status $? (see gpu-restarts.log)"
    fi
    # At most 8 files come back: device.txt, the Markdown reports and the tests' log stay; every
    # other file (JSON, logs, plots, JUnit XML) travels in one archive.
    (cd "$out" && ls -1 | grep -v -x -e device.txt -e gpu-tests.log -e '.*\.md' \
        | tar czf first-more.tgz --remove-files -T - 2>/dev/null)
    ls -1 "$out"
    exit $tests
fi
if [[ "$part" == all || "$part" == tests ]]; then
    # GKMEANS_TEST_BACKENDS, when set, chooses the backends (a dry run on a machine without a GPU:
    # GKMEANS_TEST_BACKENDS=numpy bash ci/gpu.sh out tests)
    backends="${GKMEANS_TEST_BACKENDS:-numpy,array_api_strict,cupy}"
    if [[ -z "${GKMEANS_TEST_BACKENDS:-}" ]] \
        && python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        backends="$backends,torch,torch_cuda"  # PyTorch CPU tensors and CUDA tensors
    fi
    # The device allows 10 minutes a command: spread the suite over worker processes where
    # pytest-xdist is installed (the device image has it), stop it before the tool would, and
    # list the slowest tests for the next session's planning.
    GKMEANS_TEST_BACKENDS="$backends" OMP_NUM_THREADS=2 timeout 560 python3 -m pytest -q -rs -p no:cacheprovider \
        "${parallel[@]}" --durations=30 --junitxml="$out/gpu-tests.xml" > "$out/gpu-tests.log" 2>&1
    tests=$?
    [[ $tests == 124 ]] && echo "the GPU tests ran out of time (560 s); see gpu-tests.log" | tee -a "$out/gpu-tests.log"
    tail -n 3 "$out/gpu-tests.log"
fi
if [[ "$part" == all || "$part" == bench ]]; then
    timeout 380 python3 -m benchmarks run --device gpu --out "$out" --max-seconds 170 --stop-seconds 270 \
        > "$out/gpu-bench.log" 2>&1 \
        || echo "benchmarks ended with status $? (see gpu-bench.log)"
    tail -n 5 "$out/gpu-bench.log"
    # The bound-based rows: reports rewritten after every problem, no new problem after 120 s.
    timeout 170 python3 -m benchmarks.bounds --device gpu --repeats 2 --max-seconds 120 --out "$out" \
        > "$out/gpu-bounds.log" 2>&1 \
        || echo "bounds benchmark ended with status $? (see gpu-bounds.log)"
    tail -n 5 "$out/gpu-bounds.log"
    if [[ "$part" == bench ]]; then
        # At most 8 files come back: device.txt and the Markdown reports stay; the logs, JSON and
        # plots travel in one archive.
        (cd "$out" && ls -1 | grep -v -x -e device.txt -e '.*\.md' \
            | tar czf bench-more.tgz --remove-files -T - 2>/dev/null)
        ls -1 "$out"
    fi
fi
if [[ "$part" == all || "$part" == extra ]]; then
    timeout 240 python3 -m benchmarks restarts --device gpu --out "$out" > "$out/gpu-restarts.log" 2>&1 \
        || echo "restarts benchmark ended with status $? (see gpu-restarts.log)"
    tail -n 12 "$out/gpu-restarts.log"
    timeout 300 python3 -m benchmarks dispatch --out "$out" > "$out/gpu-dispatch.log" 2>&1 \
        || echo "dispatch benchmark ended with status $? (see gpu-dispatch.log)"
    tail -n 3 "$out/gpu-dispatch.log"
fi
exit $tests
