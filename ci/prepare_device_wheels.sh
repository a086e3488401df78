#!/usr/bin/env bash
# Run here, before a device call: copies the wheels the GPU image lacks (array-api-compat,
# array-api-strict, array-api-extra, and the GPU peers) into device_wheels/, which git ignores,
# so that `run` can carry it. Then: run(command="bash ci/gpu.sh", carry=["device_wheels"]).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p device_wheels
cp ../shared/wheels/*.whl device_wheels/
ls -1 device_wheels
