#!/usr/bin/env bash
# The CPU suite: every backend test on NumPy and array-api-strict (and PyTorch CPU
# when installed), the scikit-learn agreement and check_estimator, then the demo.
# Usage: bash ci/cpu.sh [pytest args...]   (run inside an environment with ".[test]")
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q "$@"
python -m gkmeans demo --n-samples 100000
