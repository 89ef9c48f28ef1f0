#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: unixODBC with the SQLite3 ODBC
# driver (apt), a virtualenv in .venv with the pinned runtime (requirements.txt), and the project
# itself as an editable Airflow provider (so Airflow shows its connection form). Safe to rerun.
# --with-test-tools adds what the tests use: requirements-dev.txt (pytest, moto, selenium, ruff,
# ...), headless Chromium and its driver, psqlODBC (the racing-import tests run against
# PostgreSQL through it), and docker-compose (only as a validator of docker-compose.yaml: no
# Docker engine is needed).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(unixodbc libsqliteodbc)
if [ "${1:-}" = "--with-test-tools" ]; then APT_PACKAGES+=(chromium chromium-driver odbc-postgresql docker-compose); fi
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
# Runs "pip install ARGS..." unless the files it reads are unchanged since it last succeeded.
# Usage: install_once STAMP "FILES..." ARGS...; the stamp holds the SHA-256 of the files' contents.
install_once() {
  local stamp=.venv/.$1.sha256 files=$2 wanted
  shift 2
  # shellcheck disable=SC2086  # FILES is a word list
  wanted=$(cat $files | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "Installing into .venv: pip install $*"
    .venv/bin/pip install -q --disable-pip-version-check "$@"
    echo "$wanted" > "$stamp"
  fi
}
# requirements-dev.txt includes requirements.txt, so its stamp covers both files.
install_once requirements requirements.txt -r requirements.txt
if [ "${1:-}" = "--with-test-tools" ]; then
  install_once requirements-dev "requirements.txt requirements-dev.txt" -r requirements-dev.txt
fi
# Editable: the code stays in plugins/ (Airflow's plugins folder); the install adds the provider's entry point.
install_once provider pyproject.toml --no-deps --editable .
