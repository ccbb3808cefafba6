#!/usr/bin/env bash
# Build the PyInstaller one-folder bundle (studio.spec) and check that it starts, shows the
# demo and writes a screenshot of the main window. Slow (~1-2 min): not in the default tests.
#   bash scripts/check_bundle.sh            build + check
#   SKIP_BUILD=1 bash scripts/check_bundle.sh   check an existing dist/anyrecon-studio
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SKIP_BUILD:-}" ]; then
  .venv/bin/pyinstaller --noconfirm --log-level WARN studio.spec
fi
BIN=dist/anyrecon-studio/anyrecon-studio
test -x "$BIN" || { echo "check_bundle: $BIN missing" >&2; exit 1; }
echo "bundle size: $(du -sh dist/anyrecon-studio | cut -f1)"
OUT=$(mktemp -d)
RUN=(env -u PYTHONPATH QT_API=pyside6 "$BIN" --demo --screenshot "$OUT/bundle.png" --exit-when-idle
     --settings "$OUT/settings.ini" --autosave-dir "$OUT/autosave" --timeout 300)
if [ -n "${DISPLAY:-}" ]; then "${RUN[@]}" | tee "$OUT/summary.json"
else xvfb-run -a -s '-screen 0 1280x800x24' "${RUN[@]}" | tee "$OUT/summary.json"; fi
test -s "$OUT/bundle.png" || { echo "check_bundle: no screenshot" >&2; exit 1; }
python3 - "$OUT/summary.json" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert s["points"] > 1000 and s["views"] > 0, s
print("check_bundle: OK", s)
PY
echo "screenshot: $OUT/bundle.png"
