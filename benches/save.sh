#!/usr/bin/env bash
# save.sh - time `strata save` of the perf image next to `docker save` of the same
# image by a running dockerd on the same data-root, and print both and the ratio
# (target: strata takes at most 0.7x of docker's time), with strata's peak RSS.
#
# The data-root is verify.sh's (built once and cached, STRATA_BENCH_CACHE, default
# /var/tmp/strata-bench): a Debian bookworm minbase imported as an image, one RUN
# step, and a layer holding a 1 GiB file (`strata-bench/app:1`).
#
# Both write an uncompressed archive to the same directory (STRATA_BENCH_OUT, default
# the cache), page cache warmed first; each is run STRATA_BENCH_RUNS times (2) in
# turn and the fastest run is kept. The two archives' layers are checked to be the
# same bytes. The daemon is bookworm's dockerd unless STRATA_DOCKERD names another.
#
# Needs root (dockerd). Exit 77 when it cannot run here.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${STRATA_BENCH_CACHE:-/var/tmp/strata-bench}
ROOT=$CACHE/root
OUT=${STRATA_BENCH_OUT:-$CACHE/save-out}
RUNS=${STRATA_BENCH_RUNS:-2}
DOCKERD=${STRATA_DOCKERD:-dockerd}
IMAGE=strata-bench/app:1

[ "$(id -u)" -eq 0 ] || { echo "save.sh: needs root (dockerd)" >&2; exit 77; }
for t in "$DOCKERD" docker /usr/bin/time python3; do
    command -v "$t" >/dev/null || { echo "save.sh: $t not installed" >&2; exit 77; }
done
log() { printf '== %s\n' "$*" >&2; }

STRATA_BENCH_BUILD_ONLY=1 bash "$HERE/benches/verify.sh"

if [ -z "${STRATA_BIN:-}" ]; then
    (cd "$HERE" && cargo build -q --release --bin strata)
    STRATA_BIN=$HERE/target/release/strata
fi

D=$(mktemp -d "$CACHE/save-run.XXXXXX")
mkdir -p "$D/exec" "$OUT"
export DOCKER_HOST="unix://$D/sock" DOCKER_CONFIG="$D/cli"
log "dockerd ($DOCKERD) in $D on $ROOT"
"$DOCKERD" --data-root "$ROOT" --exec-root "$D/exec" -H "$DOCKER_HOST" --pidfile "$D/pid" \
    --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 >"$D/dockerd.log" 2>&1 &
pid=$!
cleanup() {
    kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    awk -v d="$D" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l
    rm -rf "$D" "$OUT/docker.tar" "$OUT/strata.tar"
}
trap cleanup EXIT
for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
docker version >/dev/null 2>&1 || { tail -20 "$D/dockerd.log" >&2; exit 77; }
ENGINE=$(docker version --format '{{.Server.Version}}')

log "warming the page cache"
"$STRATA_BIN" --root "$ROOT" -q verify "$IMAGE" --format json >/dev/null 2>&1 || true

declare -A BEST RSS
measure() { # NAME CMD...: keeps the fastest wall time, and the peak RSS of that run
    local name=$1; shift
    /usr/bin/time -f '%e %M' -o "$D/time.$name" "$@" >/dev/null 2>"$D/err.$name" || {
        cat "$D/err.$name" >&2; echo "save.sh: $name failed" >&2; exit 1; }
    read -r w m <"$D/time.$name"
    if [ -z "${BEST[$name]:-}" ] || [ "$(echo "$w < ${BEST[$name]}" | bc -l)" = 1 ]; then
        BEST[$name]=$w RSS[$name]=$m
    fi
}
log "timing ($RUNS runs each, in turn; load average $(cut -d' ' -f1 /proc/loadavg))"
for _ in $(seq 1 "$RUNS"); do
    rm -f "$OUT/docker.tar" "$OUT/strata.tar"; sync
    measure docker docker save -o "$OUT/docker.tar" "$IMAGE"
    rm -f "$OUT/docker.tar"; sync
    measure strata "$STRATA_BIN" --root "$ROOT" -q save "$IMAGE" -o "$OUT/strata.tar"
done
docker save -o "$OUT/docker.tar" "$IMAGE"

# Same layers, byte for byte: every blob named in manifest.json, by digest.
python3 - "$OUT/docker.tar" "$OUT/strata.tar" <<'PY'
import hashlib, json, sys, tarfile
def layers(path):
    t = tarfile.open(path)
    m = json.load(t.extractfile("manifest.json"))
    out = []
    for l in m[0]["Layers"]:
        h = hashlib.sha256()
        f = t.extractfile(l)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
        out.append(h.hexdigest())
    return out
d, s = layers(sys.argv[1]), layers(sys.argv[2])
print(f"layers: {len(s)}, the same bytes in both archives: {d == s}")
sys.exit(0 if d == s else 1)
PY
size=$(stat -c %s "$OUT/strata.tar")
ratio=$(printf '%.2f' "$(echo "${BEST[strata]} / ${BEST[docker]}" | bc -l)")
mibs() { printf '%.0f' "$(echo "$size / 1048576 / $1" | bc -l)"; }
echo "archive: $size bytes   engine: $ENGINE   load: $(cut -d' ' -f1-3 /proc/loadavg)"
# The docker CLI's RSS says nothing of the daemon's, which does the work: not shown.
printf '%-28s %7.2fs wall %6s MiB/s\n' "docker save ($ENGINE)" "${BEST[docker]}" "$(mibs "${BEST[docker]}")"
printf '%-28s %7.2fs wall %6s MiB/s  peak RSS %4d MiB\n' "strata save" "${BEST[strata]}" "$(mibs "${BEST[strata]}")" "$((RSS[strata] / 1024))"
echo "strata takes ${ratio}x docker save's time (target <= 0.7); strata peak RSS $((RSS[strata] / 1024)) MiB (target < 64)"
