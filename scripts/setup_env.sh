#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian 12 machine: system packages (as root) and .venv.
# Used by `make run`, `make test` and .ci/run. Re-running it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES="xvfb xauth libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 \
libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 \
libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libxcb-xkb1 libusb-1.0-0 binutils"

missing=""
for p in $SYSTEM_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "[setup] installing system packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "[setup] missing system packages (run as root to install):$missing" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "[setup] installing Python packages into .venv"
  # torch first, pinned to the local CPU wheel so nothing pulls the CUDA build.
  quiet() { { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
  .venv/bin/pip install -q torch==2.13.0 2>&1 | quiet
  .venv/bin/pip install -q -e ".[dev]" 2>&1 | quiet
  rm -f .venv/.installed-*
  touch "$stamp"
fi
