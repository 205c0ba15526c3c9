#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests (Playwright drives /usr/bin/chromium;
# Playwright's own browser download is not used). Idempotent: does nothing when it is already there.
# Usage: scripts/browser.sh   (prints the browser's path)
set -euo pipefail
BROWSER="${CVM_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$BROWSER" ]; then
  echo "Chromium not found at $BROWSER; installing it from Debian's packages" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
fi
[ -x "$BROWSER" ] || { echo "Chromium is still missing at $BROWSER" >&2; exit 1; }
echo "$BROWSER"
