#!/usr/bin/env bash
# Idempotent: installs what the fixtures (fixtures/make-fixtures.sh, fixtures/extract.sh)
# and the tests need on Debian bookworm, as root. Quiet; exits 0 when all is already there.
set -euo pipefail
PKGS=(docker.io docker-registry busybox-static tar-split graphviz attr curl jq debootstrap strace chromium sleuthkit)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "install-docker.sh: need root to install: ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "install-docker.sh: failed to install: ${missing[*]}" >&2
    exit 1
fi
rm -f "$log"
