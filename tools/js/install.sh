#!/usr/bin/env bash
# Install the npm test readers (PlayCanvas splat-transform, Khronos gltf-validator) into .node/
# at the repository root (ignored by git), with Node.js from apt when it is missing (as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "node/npm missing and cannot apt-get install them"; exit 1
  fi
fi
mkdir -p .node
if [ -d .node/node_modules ] && cmp -s tools/js/package-lock.json .node/package-lock.json; then
  exit 0                                        # already installed from this lock file
fi
cp tools/js/package.json tools/js/package-lock.json .node/
(cd .node && npm ci --no-audit --no-fund --loglevel=error)
