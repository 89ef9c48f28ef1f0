#!/usr/bin/env bash
# Installs everything, then runs the test suite (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --with-test-tools
# Two processes, each test file kept on one (its module fixtures, its Airflow home): most of the suite waits on
# subprocesses and servers, so two cores run it in about two thirds of the time.
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
