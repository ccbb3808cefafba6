#!/usr/bin/env bash
# The main job: the studio on the demo scene when a display exists, else the headless demo.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${DISPLAY:-}" ] && [ -f studio/app.py ]; then
  exec .venv/bin/anyrecon-studio --demo
fi
exec .venv/bin/anyrecon demo --out demo_output --overwrite   # the demo rebuilds its own folder each run
