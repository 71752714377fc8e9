#!/usr/bin/env bash
# verify.sh - time strata's layer verification against the peer tool on a
# realistic data-root, layer by layer, and report speed and peak memory.
#
# The data-root is built once by a real dockerd and cached (STRATA_BENCH_CACHE,
# default /var/tmp/strata-bench): a Debian bookworm minbase (debootstrap) imported
# as an image, one RUN step on it, and a layer holding a 1 GiB file.
#
# Compared, over the same layers (page cache warmed first, one timed run each):
#   strata      every layer, in parallel on all cores (and again with --jobs 1)
#   peer        for each layer: tar-split asm --input L/tar-split.json.gz --path DIR --output - | sha256sum
#   peer-ossl   the same piped into `openssl dgst -sha256`
#   sha256sum   of the largest layer's big file alone (the floor for one stream),
#               and `openssl dgst -sha256` of it (which uses the SHA extensions)
#
# `verify.sh cold` times from a cold page cache instead (issue 15, cold evidence),
# dropping caches (sync; echo 3 > /proc/sys/vm/drop_caches) before every timed run,
# in turn, STRATA_BENCH_RUNS times (default 5), and prints the median of each:
#   strata      verify, all cores (the tar-splits and metadata read cold too)
#   floor       every layer file read once: find DIRS -type f -print0 | xargs -0 cat
#   peer        tar-split asm ... | openssl dgst -sha256, layer by layer
# and the ratio strata / floor (target <= 1.0). STRATA_BASELINE_BIN=OLD also times that
# binary in the same turns (before/after a change, under the same load). Then, warm, the
# hashing floor: `openssl dgst -sha256` of the largest layer's big file alone. SHA-256 is
# one sequential stream, so no verifier finishes before that layer's DiffID is hashed,
# however fast the disk: strata is also shown against the larger of the two floors.
#
# Needs root (dockerd, overlay mounts). Exit 77 when it cannot run here.
set -euo pipefail
MODE=${1:-warm}

HERE=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${STRATA_BENCH_CACHE:-/var/tmp/strata-bench}
ROOT=$CACHE/root
BIG_MIB=${STRATA_BENCH_BIG_MIB:-1024}

[ "$(id -u)" -eq 0 ] || { echo "verify.sh: needs root (dockerd, overlay mounts)" >&2; exit 77; }
for t in dockerd docker debootstrap tar-split openssl sha256sum /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "verify.sh: $t not installed" >&2; exit 77; }
done

log() { printf '== %s\n' "$*" >&2; }

# ------------------------------------------------------------ data-root
build_root() {
    local D=$CACHE/build
    rm -rf "$D" "$ROOT"
    mkdir -p "$D/exec" "$ROOT"
    if [ ! -f "$CACHE/minbase.tar" ]; then
        log "debootstrap --variant=minbase bookworm (once)"
        rm -rf "$CACHE/minbase"
        debootstrap --variant=minbase bookworm "$CACHE/minbase" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1
        tar --numeric-owner --xattrs -C "$CACHE/minbase" -cf "$CACHE/minbase.tar.tmp" .
        mv "$CACHE/minbase.tar.tmp" "$CACHE/minbase.tar"
        rm -rf "$CACHE/minbase"
    fi
    log "dockerd in $D"
    export DOCKER_HOST="unix://$D/sock" DOCKER_BUILDKIT=0 DOCKER_CONFIG="$D/cli"
    mkdir -p "$DOCKER_CONFIG"
    dockerd --data-root "$ROOT" --exec-root "$D/exec" -H "$DOCKER_HOST" --pidfile "$D/pid" \
        --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 >"$D/dockerd.log" 2>&1 &
    local pid=$!
    # shellcheck disable=SC2064
    trap "kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true" EXIT
    for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
    docker version >/dev/null 2>&1 || { tail -20 "$D/dockerd.log" >&2; exit 77; }

    docker import "$CACHE/minbase.tar" strata-bench/minbase:1 >/dev/null
    mkdir -p "$D/ctx"
    cat >"$D/ctx/Dockerfile" <<EOF
FROM strata-bench/minbase:1
RUN echo built > /etc/strata-bench && rm -rf /usr/share/doc/* && ln -s /etc/strata-bench /strata-link
RUN head -c ${BIG_MIB}M /dev/urandom > /big.bin
EOF
    log "docker build (one step, then a ${BIG_MIB} MiB file)"
    docker build -q -t strata-bench/app:1 "$D/ctx" >/dev/null
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    trap - EXIT
    awk -v d="$CACHE" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l
    rm -rf "$D"
    touch "$CACHE/ready"
}
[ -f "$CACHE/ready" ] || build_root
# benches/save.sh builds the same data-root through this script, then times save itself.
[ -z "${STRATA_BENCH_BUILD_ONLY:-}" ] || exit 0

# ------------------------------------------------------------ strata binary
if [ -z "${STRATA_BIN:-}" ]; then
    (cd "$HERE" && cargo build -q --release --bin strata)
    STRATA=("$HERE/target/release/strata" verify --root "$ROOT" --format json)
else
    STRATA=("$STRATA_BIN" verify --root "$ROOT" --format json)
fi

# ------------------------------------------------------------ layers
DB=$ROOT/image/overlay2/layerdb/sha256
LAYERS=()      # "tar-split dir"
BIG_DIR="" BIG_SIZE=0 TOTAL=0
for l in "$DB"/*/; do
    l=${l%/}
    [[ $(basename "$l") =~ ^[0-9a-f]{64}$ ]] || continue
    dir=$ROOT/overlay2/$(cat "$l/cache-id")/diff
    LAYERS+=("$l/tar-split.json.gz $dir")
    size=$(du -sb "$dir" | cut -f1)
    TOTAL=$((TOTAL + size))
    if [ "$size" -gt "$BIG_SIZE" ]; then BIG_SIZE=$size BIG_DIR=$dir; fi
done
BIG_FILE=$(find "$BIG_DIR" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)

# ------------------------------------------------------------ cold mode
if [ "$MODE" = cold ]; then
    RUNS=${STRATA_BENCH_RUNS:-5}
    DIRS=()
    for pair in "${LAYERS[@]}"; do DIRS+=("${pair#* }"); done
    drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
    # cold NAME CMD...: one run from a dropped cache, wall seconds appended to T_NAME.
    declare -A T
    cold() {
        local name=$1; shift
        drop
        local t0=$EPOCHREALTIME
        "$@" >"$CACHE/out.cold.$name" 2>/dev/null || true
        local t1=$EPOCHREALTIME dt
        dt=$(printf '%.2f' "$(echo "$t1 - $t0" | bc -l)")
        T[$name]+="$dt "
        log "$name $dt s"
    }
    floor() { find "${DIRS[@]}" -type f -print0 | xargs -0 -r cat >/dev/null; }
    peer_ossl() {
        local ts dir
        for pair in "${LAYERS[@]}"; do
            read -r ts dir <<<"$pair"
            tar-split asm --input "$ts" --path "$dir" --output - 2>/dev/null | openssl dgst -sha256 >/dev/null
        done
    }
    log "cold: $RUNS runs of each, caches dropped before every run (load $(cut -d' ' -f1 /proc/loadavg))"
    for i in $(seq 1 "$RUNS"); do
        cold strata "${STRATA[@]}"
        [ -z "${STRATA_BASELINE_BIN:-}" ] || cold baseline "$STRATA_BASELINE_BIN" "${STRATA[@]:1}"
        cold floor floor
        cold peer peer_ossl
    done
    # The hashing floor, page cache warm: openssl picks the CPU's fastest SHA-256 (SHA-NI,
    # else AVX2), the best any reader of this file can do.
    cat "$BIG_FILE" >/dev/null
    for i in $(seq 1 "$RUNS"); do
        t0=$EPOCHREALTIME
        openssl dgst -sha256 "$BIG_FILE" >/dev/null
        T[hash]+="$(printf '%.2f' "$(echo "$EPOCHREALTIME - $t0" | bc -l)") "
    done
    median() { printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m }'; }
    S=$(median "${T[strata]}") F=$(median "${T[floor]}") P=$(median "${T[peer]}") H=$(median "${T[hash]}")
    # The strata run must have verified every layer, or its time means nothing.
    grep -q '"status": *"verified"' "$CACHE/out.cold.strata" || echo "strata verify did not report verified layers: see $CACHE/out.cold.strata"
    echo "cold page cache, median of $RUNS (load now $(cut -d' ' -f1-3 /proc/loadavg)):"
    printf '%-44s %6.2fs   runs: %s\n' "strata verify (all cores)" "$S" "${T[strata]}"
    if [ -n "${STRATA_BASELINE_BIN:-}" ]; then
        B=$(median "${T[baseline]}")
        printf '%-44s %6.2fs   runs: %s (baseline / floor %.2f)\n' "strata verify, baseline $(basename "$STRATA_BASELINE_BIN")" \
            "$B" "${T[baseline]}" "$(echo "$B / $F" | bc -l)"
    fi
    printf '%-44s %6.2fs   runs: %s\n' "floor: find | xargs cat (every layer file)" "$F" "${T[floor]}"
    printf '%-44s %6.2fs   runs: %s\n' "peer: tar-split asm | openssl dgst" "$P" "${T[peer]}"
    printf '%-44s %6.2fs   runs: %s\n' "hash floor: openssl dgst of the largest file, warm" "$H" "${T[hash]}"
    M=$(echo "if ($H > $F) $H else $F" | bc -l)
    printf 'strata / floor: %.2f (target <= 1.0)   strata / max(floor, hash floor): %.2f   peer / strata: %.2f\n' \
        "$(echo "$S / $F" | bc -l)" "$(echo "$S / $M" | bc -l)" "$(echo "$P / $S" | bc -l)"
    exit 0
fi

peer() { # hasher...
    local ts dir
    for pair in "${LAYERS[@]}"; do
        read -r ts dir <<<"$pair"
        tar-split asm --input "$ts" --path "$dir" --output - 2>/dev/null | "$@" >/dev/null
    done
}
# measure NAME CMD...: wall, user+sys CPU (children included) and peak RSS of CMD.
declare -A WALL CPU RSS
measure() {
    local name=$1; shift
    /usr/bin/time -f '%e %U %S %M' -o "$CACHE/time.$name" "$@" >"$CACHE/out.$name" 2>/dev/null || true
    read -r w u s m <"$CACHE/time.$name"
    WALL[$name]=$w CPU[$name]=$(echo "$u + $s" | bc -l) RSS[$name]=$m
}
export LAYERS_TEXT
LAYERS_TEXT=$(printf '%s\n' "${LAYERS[@]}")
peer_sh() { # hasher... (in a child shell, so /usr/bin/time sees the whole pipeline)
    bash -c 'while read -r ts dir; do tar-split asm --input "$ts" --path "$dir" --output - 2>/dev/null | '"$*"' >/dev/null; done <<<"$LAYERS_TEXT"'
}

log "warming the page cache"
peer cat
"${STRATA[@]}" >/dev/null 2>&1 || true

log "timing (${#LAYERS[@]} layers, $((TOTAL / 1048576)) MiB on disk; load average $(cut -d' ' -f1 /proc/loadavg))"
measure strata "${STRATA[@]}"
measure strata1 "${STRATA[@]}" --jobs 1
measure peer bash -c "$(declare -f peer_sh); peer_sh sha256sum"
measure ossl bash -c "$(declare -f peer_sh); peer_sh openssl dgst -sha256"
measure floor sha256sum "$BIG_FILE"
# coreutils' sha256sum does not use the CPU's SHA extensions; openssl does, so it is
# the honest floor for hashing that file.
measure floor_ossl openssl dgst -sha256 "$BIG_FILE"

# Layer results are objects with "bytes" and "status", one per line (driver) or
# anywhere inside one JSON document (the CLI).
layer_stats() {
    python3 - "$1" <<'PY'
import collections, json, sys
text = open(sys.argv[1]).read()
try:
    docs = [json.loads(text)]
except ValueError:
    docs = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
found = []
def walk(v):
    if isinstance(v, dict):
        if "bytes" in v and "status" in v:
            found.append(v)
        else:
            for x in v.values():
                walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
for d in docs:
    walk(d)
print(sum(r["bytes"] for r in found), dict(collections.Counter(r["status"] for r in found)))
PY
}
read -r stream statuses < <(layer_stats "$CACHE/out.strata")

ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
mibs() { printf '%.0f' "$(echo "$stream / 1048576 / $1" | bc -l)"; }
row() { printf '%-32s %6.2fs wall %6.2fs cpu %6s MiB/s  %s\n' "$1" "${WALL[$2]}" "${CPU[$2]}" "$(mibs "${WALL[$2]}")" "$3"; }
echo "layers: ${#LAYERS[@]}   stream bytes: $stream   strata statuses: $statuses   load: $(cut -d' ' -f1-3 /proc/loadavg)"
row "strata (all cores)" strata ""
row "strata (--jobs 1)" strata1 ""
row "tar-split asm | sha256sum" peer "strata $(ratio "${WALL[peer]}" "${WALL[strata]}")x faster (target >= 4)"
row "tar-split asm | openssl dgst" ossl "strata $(ratio "${WALL[ossl]}" "${WALL[strata]}")x faster (target >= 2)"
row "sha256sum of the largest file" floor "strata takes $(ratio "${WALL[strata]}" "${WALL[floor]}")x of it (target <= 1.5)"
row "openssl dgst of the largest file" floor_ossl "strata takes $(ratio "${WALL[strata]}" "${WALL[floor_ossl]}")x of it (target <= 1.5)"
echo "largest file: $BIG_FILE"
echo "strata peak RSS: $((RSS[strata] / 1024)) MiB (target < 64)"
