#!/usr/bin/env bash
# Idempotent: installs what the fixtures (fixtures/make-fixtures.sh, fixtures/extract.sh)
# and the tests need on Debian bookworm, as root. Quiet; exits 0 when all is already there.
set -euo pipefail
# sleuthkit: mactime for the timeline tests.
# rootlesskit, slirp4netns, uidmap, fuse-overlayfs: the rootless fixture's engine.
# apache2-utils: htpasswd -B (bcrypt) for the registry's Basic auth in registry_online; openssl: the token server's test key.
PKGS=(docker.io docker-registry busybox-static tar-split graphviz attr curl jq debootstrap strace chromium
      rootlesskit slirp4netns uidmap fuse-overlayfs apache2-utils openssl
      sleuthkit)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
# The containerd image store's churn test (tests/integration/churn_live.rs) needs an engine
# with the containerd-snapshotter feature, which bookworm's 20.10 lacks: sid's docker.io 28
# and containerd 2, unpacked beside the system's by fixtures/fetch-engine.sh (Debian's
# package archive only; nothing is installed).
fetch_sid_engine() {
    local dir=${STRATA_ENGINE_SID:-/var/tmp/strata-engine-sid}
    [ -x "$dir/usr/sbin/dockerd" ] && [ -x "$dir/usr/bin/containerd" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-docker.sh: need root to fetch sid's engine into $dir" >&2
        return 1
    fi
    bash "$(dirname "$0")/../fixtures/fetch-engine.sh" "$dir" sid >/dev/null
}
if [ ${#missing[@]} -eq 0 ]; then
    fetch_sid_engine
    exit 0
fi
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
fetch_sid_engine
