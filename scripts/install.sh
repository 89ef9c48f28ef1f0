#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: unixODBC with the SQLite3 ODBC
# driver (apt), and a virtualenv in .venv with the pinned requirements. Safe to rerun.
# --with-test-tools adds what the tests drive: headless Chromium and its driver, and
# docker-compose (only as a validator of docker-compose.yaml: no Docker engine is needed).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(unixodbc libsqliteodbc)
if [ "${1:-}" = "--with-test-tools" ]; then APT_PACKAGES+=(chromium chromium-driver docker-compose); fi
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing apt packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.requirements.sha256
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "Installing Python packages from requirements.txt into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  echo "$wanted" > "$stamp"
fi
