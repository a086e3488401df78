#!/usr/bin/env bash
# Run here, before a device call: copies the wheels the GPU image lacks (array-api-compat,
# array-api-strict, array-api-extra, and the GPU peers) into device_wheels/, which git ignores,
# and downloads Dask and distributed with the few of their needs the image lacks (the image has
# Python 3.12 and no network), so that the Dask tests run there with CuPy chunks too.
# Then: run(command="bash ci/gpu.sh", carry=["device_wheels"]).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf device_wheels
mkdir -p device_wheels
cp ../shared/wheels/*.whl device_wheels/
# The image has click, cloudpickle, fsspec, jinja2, msgpack, packaging, psutil, pyyaml,
# sortedcontainers, toolz, urllib3 (see the device tool's KINDS.md); these it lacks.
dask_set=(dask==2026.8.0 distributed==2026.8.0 partd locket tornado zict tblib)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d device_wheels "${dask_set[@]}" \
    || echo "could not download the Dask wheels: the Dask tests will be skipped on the GPU machine"
ls -1 device_wheels
du -sh device_wheels
