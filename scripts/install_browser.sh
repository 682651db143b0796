#!/usr/bin/env bash
# Headless Chromium for the report tests (Debian's `chromium` package). A no-op when a
# Chromium is already on PATH; otherwise apt-get (as root, or through sudo).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install Chromium (the report tests render the HTML report in it) and re-run" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q --no-install-recommends chromium \
  || { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends chromium; }
