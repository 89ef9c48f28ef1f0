#!/usr/bin/env bash
# Installs everything, then runs the four DAGs end to end on the embedded default:
# the local SP-API sandbox, the sample Sage company and a local archive.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m sandbox.run_default "$@"
