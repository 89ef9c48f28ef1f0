#!/usr/bin/env bash
# Installs everything, then runs the test suite (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --with-test-tools
exec .venv/bin/python -m pytest "$@"
