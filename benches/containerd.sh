#!/usr/bin/env bash
# containerd.sh - time strata on Docker's containerd image store (Docker 29's default)
# against peer pipelines in the same run, and its image listing against the graphdriver's.
#
# Built once with real daemons and cached (STRATA_BENCH_CONTAINERD_CACHE, default
# /var/tmp/strata-bench-containerd; delete it, or a *.ready file in it, to rebuild):
#   ctd/var/lib/docker + ctd/var/lib/containerd   the containerd store, laid out as Docker 29's
#       packages run it: sid's containerd as its own service with its own root, and sid's
#       dockerd (28.5.2) with --containerd=SOCK, {"features":{"containerd-snapshotter":true}},
#       --storage-driver=overlayfs. strata finds lib/containerd beside lib/docker.
#   gd/var/lib/docker                             a graphdriver (overlay2) data-root made by the
#       same dockerd without the containerd feature (a throwaway containerd of its own).
# Both hold the same images: strata-bench/minbase:1 (a Debian bookworm minbase from debootstrap,
# imported), strata-bench/app:1 (classic builder, --network=none: one small RUN step, then a
# RUN writing a 1 GiB file of random data), and 1,000 distinct tiny images (docker import of
# 1,000 one-file tarballs) for the listing test. The daemons are stopped after building.
# The engine is sid's, unpacked by fixtures/fetch-engine.sh (STRATA_ENGINE, default
# /var/tmp/strata-engine-sid; fetched when missing).
#
# Timed in one run (page cache warmed first; one timed run each unless said):
#   strata verify strata-bench/app:1 on the containerd store, all cores and --jobs 1
#   peer       for each layer blob of that image: sha256sum BLOB; gzip -dc BLOB | sha256sum
#   peer-ossl  the same with openssl dgst -sha256
#   strata verify of the whole containerd store (every image), for information
#   peak RSS of strata verify (/usr/bin/time: maximum resident set size)
#   strata images on the containerd store vs on the graphdriver data-root, median of 5 runs
# Targets (issue 9): verify >= 4x faster than the best peer; peak RSS < 64 MiB; listing the
# containerd store within 1.5x of the graphdriver listing.
#
# Needs root (daemons, overlay mounts). Exit 77 when it cannot run here.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${STRATA_BENCH_CONTAINERD_CACHE:-/var/tmp/strata-bench-containerd}
ENGINE=${STRATA_ENGINE:-/var/tmp/strata-engine-sid}
BIG_MIB=${STRATA_BENCH_BIG_MIB:-1024}
N_TINY=${STRATA_BENCH_IMAGES:-1000}
RUNS=${STRATA_BENCH_RUNS:-5}
CTD_TOP=$CACHE/ctd
GD_TOP=$CACHE/gd
CTD_DATA=$CTD_TOP/var/lib/docker
CTD_ROOT=$CTD_TOP/var/lib/containerd
GD_DATA=$GD_TOP/var/lib/docker
B=$CACHE/build            # sockets, exec-root, state, logs while building; removed after

me=containerd.sh
[ "$(id -u)" -eq 0 ] || { echo "$me: needs root (dockerd, containerd, overlay mounts)" >&2; exit 77; }
for t in tar gzip openssl sha256sum python3 bc awk /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "$me: $t not installed" >&2; exit 77; }
done

log() { printf '== %s\n' "$*" >&2; }

# ------------------------------------------------------------ engine
engine_ok() { [ -x "$ENGINE/usr/sbin/dockerd" ] && [ -x "$ENGINE/usr/bin/containerd" ] &&
              [ -x "$ENGINE/usr/bin/ctr" ] && [ -x "$ENGINE/usr/bin/docker" ]; }
need_engine() {
    engine_ok && return 0
    log "fetching sid's engine into $ENGINE (fixtures/fetch-engine.sh)"
    "$HERE/fixtures/fetch-engine.sh" "$ENGINE" sid >&2 && engine_ok ||
        { echo "$me: no engine at $ENGINE and fixtures/fetch-engine.sh $ENGINE sid failed" >&2; exit 77; }
}

# ------------------------------------------------------------ base image
# A Debian bookworm minbase from debootstrap with the mirror apt uses here; without one, busybox
# plus a few hundred MB of real files from this machine's /usr.
apt_mirror() {
    local m
    m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1 | tr -d ' ')
    echo "${m:-http://deb.debian.org/debian}"
}
make_base() {
    [ -f "$CACHE/minbase.tar" ] && return 0
    # verify.sh's cache holds the same tarball
    if [ -f /var/tmp/strata-bench/minbase.tar ]; then
        cp /var/tmp/strata-bench/minbase.tar "$CACHE/minbase.tar"; return 0
    fi
    local mirror; mirror=$(apt_mirror)
    rm -rf "$CACHE/minbase"
    if command -v debootstrap >/dev/null; then
        log "debootstrap --variant=minbase bookworm from $mirror (once)"
        if debootstrap --variant=minbase bookworm "$CACHE/minbase" "$mirror" >"$CACHE/debootstrap.log" 2>&1; then
            tar --numeric-owner --xattrs -C "$CACHE/minbase" -cf "$CACHE/minbase.tar.tmp" .
            mv "$CACHE/minbase.tar.tmp" "$CACHE/minbase.tar"
            rm -rf "$CACHE/minbase"
            echo debootstrap >"$CACHE/minbase.kind"
            return 0
        fi
        log "debootstrap failed (tail of $CACHE/debootstrap.log below); busybox + /usr files instead"
        tail -5 "$CACHE/debootstrap.log" >&2
    fi
    [ -x /bin/busybox ] || { echo "$me: no debootstrap mirror and no /bin/busybox (busybox-static)" >&2; exit 77; }
    rm -rf "$CACHE/minbase"
    mkdir -p "$CACHE/minbase/bin" "$CACHE/minbase/etc" "$CACHE/minbase/tmp"
    cp /bin/busybox "$CACHE/minbase/bin/busybox"
    for a in $(/bin/busybox --list); do [ -e "$CACHE/minbase/bin/$a" ] || ln -s busybox "$CACHE/minbase/bin/$a"; done
    # ~300 MB of regular files and symlinks from /usr, in path order
    (cd / && find usr -xdev \( -type f -o -type l \) -printf '%s %p\n' 2>/dev/null | sort -k2 |
        awk '{ t += $1; if (t > 300 * 1048576) exit; sub(/^[0-9]+ /, ""); print }') >"$CACHE/usr.list"
    tar -C / --numeric-owner -cf - -T "$CACHE/usr.list" | tar -C "$CACHE/minbase" -xf -
    tar --numeric-owner -C "$CACHE/minbase" -cf "$CACHE/minbase.tar.tmp" .
    mv "$CACHE/minbase.tar.tmp" "$CACHE/minbase.tar"
    rm -rf "$CACHE/minbase" "$CACHE/usr.list"
    echo busybox+usr >"$CACHE/minbase.kind"
}

# 1,000 distinct one-file tarballs (file /n holds the number), fixed mtimes.
make_tiny() {
    [ -f "$B/tiny/$N_TINY.tar" ] && return 0
    mkdir -p "$B/tiny"
    python3 - "$B/tiny" "$N_TINY" <<'PY'
import io, sys, tarfile
d, n = sys.argv[1], int(sys.argv[2])
for i in range(1, n + 1):
    data = b"strata-bench tiny image %d\n" % i
    with tarfile.open("%s/%d.tar" % (d, i), "w", format=tarfile.GNU_FORMAT) as t:
        ti = tarfile.TarInfo("n"); ti.size = len(data); ti.mtime = 1700000000; ti.mode = 0o644
        t.addfile(ti, io.BytesIO(data))
PY
}

# ------------------------------------------------------------ daemons
DOCKERD_PID="" CONTAINERD_PID=""
stop_pid() { # pid name
    local pid=$1 i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "warning: $2 (pid $pid) did not exit after SIGTERM, sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
unmount_under() { # dir: every mount below it, deepest first
    local m
    for m in $(awk -v d="$1" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "warning: could not unmount $m" >&2
    done
}
stop_daemons() {
    stop_pid "$DOCKERD_PID" dockerd; DOCKERD_PID=""
    stop_pid "$CONTAINERD_PID" containerd; CONTAINERD_PID=""
    unmount_under "$CACHE/"
}
on_exit() {
    local rc=$?
    stop_daemons
    if [ "$rc" != 0 ] && [ -d "$B" ]; then
        for f in "$B"/*.log; do [ -f "$f" ] && { echo "---- tail of $f" >&2; tail -n 15 "$f" >&2; }; done
        echo "$me: build failed; $B kept for inspection" >&2
    fi
    return "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

setup_path() {
    mkdir -p "$B/bin" "$B/cli"
    local b
    for b in dockerd docker-proxy; do ln -sf "$ENGINE/usr/sbin/$b" "$B/bin/$b"; done
    for b in docker containerd containerd-shim-runc-v2 ctr; do ln -sf "$ENGINE/usr/bin/$b" "$B/bin/$b"; done
    [ -e "$ENGINE/usr/bin/tini-static" ] && ln -sf "$ENGINE/usr/bin/tini-static" "$B/bin/docker-init"
    # sid's engine ships no runc: this machine's (as fixtures/make-fixtures.sh does)
    local runc; runc=$(command -v runc) || { echo "$me: runc not installed" >&2; exit 77; }
    ln -sf "$runc" "$B/bin/runc"
    export PATH="$B/bin:$PATH" DOCKER_HOST="unix://$B/docker.sock" DOCKER_CONFIG="$B/cli" \
        DOCKER_BUILDKIT=0 DOCKER_CLI_HINTS=false
    unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH || true
}
start_containerd() { # root: containerd as its own service, own root/state/socket (config v3)
    mkdir -p "$1" "$B/containerd-state" "$B/containerd-opt"
    cat >"$B/containerd.toml" <<EOF
version = 3
root = "$1"
state = "$B/containerd-state"
[grpc]
  address = "$B/containerd.sock"
[ttrpc]
  address = ""
[debug]
  address = ""
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$B/containerd-opt"
EOF
    containerd --config "$B/containerd.toml" >>"$B/containerd.log" 2>&1 &
    CONTAINERD_PID=$!
    for _ in $(seq 1 60); do
        kill -0 "$CONTAINERD_PID" 2>/dev/null || break
        ctr -a "$B/containerd.sock" version >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "$me: containerd cannot start" >&2; exit 77
}
start_dockerd() { # data-root driver [extra args]
    local root=$1 driver=$2; shift 2
    mkdir -p "$root" "$B/exec"
    dockerd --data-root "$root" --exec-root "$B/exec" -H "$DOCKER_HOST" --pidfile "$B/docker.pid" \
        --iptables=false --ip6tables=false --bridge=none --userland-proxy=false \
        --containerd="$B/containerd.sock" --storage-driver="$driver" "$@" >>"$B/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 1 60); do
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        docker version >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "$me: dockerd cannot start" >&2; exit 77
}

# the same images in either store
fill_store() {
    docker import "$CACHE/minbase.tar" strata-bench/minbase:1 >/dev/null
    mkdir -p "$B/ctx"
    cat >"$B/ctx/Dockerfile" <<EOF
FROM strata-bench/minbase:1
RUN echo built > /etc/strata-bench && rm -rf /usr/share/doc/* && ln -s /etc/strata-bench /strata-link
RUN head -c ${BIG_MIB}M /dev/urandom > /big.bin
EOF
    log "docker build --network=none (one small step, then a ${BIG_MIB} MiB file)"
    docker build -q --network=none -t strata-bench/app:1 "$B/ctx" >/dev/null 2>>"$B/build.log"
    # docker import, a few at a time: quicker than docker create + commit + rm per image
    # (measured on this store: see benches/README.md)
    log "docker import of $N_TINY tiny images"
    local t0=$SECONDS
    seq 1 "$N_TINY" | xargs -P 4 -I{} docker import "$B/tiny/{}.tar" strata-bench/tiny:{} >/dev/null
    log "  $N_TINY imports in $((SECONDS - t0)) s"
    local n; n=$(docker image ls -q --no-trunc | sort -u | wc -l)
    [ "$n" -ge $((N_TINY + 2)) ] || { echo "$me: only $n images in the store" >&2; exit 1; }
}

# layer blobs (digest and media type) of strata-bench/app:1, read from containerd itself
record_layers() {
    python3 - "$B/containerd.sock" "$CACHE/ctd.app-id" >"$CACHE/ctd.layers" <<'PY'
import json, subprocess, sys
sock = sys.argv[1]
def ctr(*a):
    return subprocess.run(["ctr", "-a", sock, "-n", "moby", *a], check=True, capture_output=True).stdout
target = None
for line in ctr("images", "ls").decode().splitlines()[1:]:
    f = line.split()
    if f and f[0] == "docker.io/strata-bench/app:1":
        target = f[2]
assert target, "strata-bench/app:1 not in containerd's image list"
print(target, file=open(sys.argv[2], "w"))   # the image ID, on this store
doc = json.loads(ctr("content", "get", target))
if "manifests" in doc:
    m = [d for d in doc["manifests"] if d.get("platform", {}).get("os") == "linux"
         and d.get("platform", {}).get("architecture") != "unknown"]
    doc = json.loads(ctr("content", "get", m[0]["digest"]))
for l in doc["layers"]:
    print(l["digest"].split(":", 1)[1], l["mediaType"])
PY
}

build_gd() {
    log "graphdriver (overlay2) data-root $GD_DATA"
    rm -rf "$GD_TOP" "$B/gd-containerd"; mkdir -p "$GD_TOP"
    start_containerd "$B/gd-containerd"        # throwaway: runs the build steps only
    start_dockerd "$GD_DATA" overlay2
    fill_store
    stop_daemons
    rm -rf "$B/gd-containerd" "$B/containerd-state" "$B/exec"
    touch "$CACHE/gd.ready"
}
build_ctd() {
    log "containerd store $CTD_DATA + $CTD_ROOT"
    rm -rf "$CTD_TOP"; mkdir -p "$CTD_TOP"
    printf '{"features":{"containerd-snapshotter":true}}\n' >"$B/daemon.json"
    start_containerd "$CTD_ROOT"
    log "  $(containerd --version), $(dockerd --version)"
    start_dockerd "$CTD_DATA" overlayfs --config-file "$B/daemon.json"
    fill_store
    record_layers
    stop_daemons
    touch "$CACHE/ctd.ready"
}

if [ ! -f "$CACHE/ctd.ready" ] || [ ! -f "$CACHE/gd.ready" ]; then
    need_engine
    mkdir -p "$CACHE"
    rm -rf "$B"; mkdir -p "$B"
    setup_path
    make_base
    make_tiny
    [ -f "$CACHE/gd.ready" ] || build_gd
    [ -f "$CACHE/ctd.ready" ] || build_ctd
    rm -rf "$B"
fi

# ------------------------------------------------------------ strata binary
if [ -z "${STRATA_BIN:-}" ]; then
    (cd "$HERE" && cargo build -q --release --bin strata)
    STRATA_BIN=$HERE/target/release/strata
fi
# strata-bench/app:1 by name; by its ID where strata cannot resolve the name on this store
APP=strata-bench/app:1 NAME_NOTE="resolved by name"
if ! "$STRATA_BIN" -q verify --quick --root "$CTD_DATA" "$APP" >/dev/null 2>"$CACHE/err.name"; then
    APP_ID=$(cat "$CACHE/ctd.app-id" 2>/dev/null ||
        "$STRATA_BIN" -q images --root "$CTD_DATA" --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next(i["id"] for i in (d if isinstance(d, list) else d["images"]) if "strata-bench/app:1" in i["repo_tags"]))')
    NAME_NOTE="NOT resolved by name ($(head -1 "$CACHE/err.name")); verified by ID $APP_ID"
    APP=$APP_ID
fi
VERIFY=("$STRATA_BIN" verify --root "$CTD_DATA" --format json "$APP")
VERIFY_ALL=("$STRATA_BIN" verify --root "$CTD_DATA" --format json)
VERIFY_GD=("$STRATA_BIN" verify --root "$GD_DATA" --format json strata-bench/app:1)

# ------------------------------------------------------------ peers
BLOBS=$CTD_ROOT/io.containerd.content.v1.content/blobs/sha256
LAYERS_TEXT="" BLOB_BYTES=0
while read -r hex mt; do
    case "$mt" in
        *tar+gzip|*tar.gzip) dec="gzip -dc" ;;
        *tar+zstd|*tar.zstd) dec="zstd -dc" ;;
        *tar) dec="cat" ;;
        *) echo "$me: layer $hex has media type $mt" >&2; exit 1 ;;
    esac
    LAYERS_TEXT+="$BLOBS/$hex $dec"$'\n'
    BLOB_BYTES=$((BLOB_BYTES + $(stat -c %s "$BLOBS/$hex")))
done <"$CACHE/ctd.layers"
N_LAYERS=$(wc -l <"$CACHE/ctd.layers")
export LAYERS_TEXT
peer_sh() { # hasher... : per layer, the blob's digest and its DiffID (decompressed), in a child shell
    bash -c 'while read -r blob dec; do
        [ -n "$blob" ] || continue
        '"$*"' "$blob" >/dev/null
        $dec "$blob" | '"$*"' >/dev/null
    done <<<"$LAYERS_TEXT"'
}

declare -A WALL CPU RSS
measure() { # NAME CMD...: wall, user+sys CPU (children included), peak RSS, exit status
    local name=$1; shift
    local rc=0
    /usr/bin/time -f '%e %U %S %M' -o "$CACHE/time.$name" "$@" >"$CACHE/out.$name" 2>"$CACHE/err.$name" || rc=$?
    local w u s m
    read -r w u s m < <(tail -1 "$CACHE/time.$name")
    WALL[$name]=$w CPU[$name]=$(echo "$u + $s" | bc -l) RSS[$name]=$m
    echo "$rc" >"$CACHE/rc.$name"
}
median_ms() { # CMD...: median wall time of RUNS runs, in ms; output of the last run kept
    local i t0 t1 times=()
    for i in $(seq 1 "$RUNS"); do
        t0=$(date +%s%N)
        "$@" >"$CACHE/out.median" 2>/dev/null || true
        t1=$(date +%s%N)
        times+=($(( (t1 - t0) / 1000000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

log "warming the page cache"
cat $(cut -d' ' -f1 <<<"$LAYERS_TEXT") >/dev/null
"${VERIFY[@]}" >/dev/null 2>&1 || true
"$STRATA_BIN" images --root "$CTD_DATA" >/dev/null 2>&1 || true
"$STRATA_BIN" images --root "$GD_DATA" >/dev/null 2>&1 || true

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "timing ($N_LAYERS layers, $((BLOB_BYTES / 1048576)) MiB of blobs; load average $LOAD_BEFORE)"
measure strata "${VERIFY[@]}"
measure strata1 "${VERIFY[@]}" --jobs 1
measure peer bash -c "$(declare -f peer_sh); peer_sh sha256sum"
measure ossl bash -c "$(declare -f peer_sh); peer_sh openssl dgst -sha256"
measure all "${VERIFY_ALL[@]}"
measure gd "${VERIFY_GD[@]}"
BIG_BLOB=$(ls -S $(cut -d' ' -f1 <<<"$LAYERS_TEXT") | head -1)
measure floor_ossl openssl dgst -sha256 "$BIG_BLOB"
IMG_CTD=$(median_ms "$STRATA_BIN" images --root "$CTD_DATA")
ROWS_CTD=$(($(wc -l <"$CACHE/out.median") - 1))
IMG_GD=$(median_ms "$STRATA_BIN" images --root "$GD_DATA")
ROWS_GD=$(($(wc -l <"$CACHE/out.median") - 1))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Layer results are objects with "bytes" and "status" anywhere in the JSON document.
layer_stats() {
    python3 - "$1" <<'PY'
import collections, json, sys
try:
    doc = json.load(open(sys.argv[1]))
except ValueError:
    print(0, "{unparsable}"); sys.exit()
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
walk(doc)
print(sum(r["bytes"] for r in found), str(dict(collections.Counter(r["status"] for r in found))).replace(" ", ""))
PY
}
read -r stream statuses < <(layer_stats "$CACHE/out.strata")
read -r stream_all statuses_all < <(layer_stats "$CACHE/out.all")
read -r stream_gd statuses_gd < <(layer_stats "$CACHE/out.gd")
# a run that failed, or found anything but verified layers, gets no ratio
ok() { [ "$(cat "$CACHE/rc.$1")" = 0 ] && [[ $2 =~ ^\{\'verified\':[0-9]+\}$ ]]; }
bad() { echo "FAILED: exit $(cat "$CACHE/rc.$1"), statuses $2: $(head -c 300 "$CACHE/err.$1" | grep -v '^strata: reading' | tr '\n' ' ')"; }

best=peer; [ "$(echo "${WALL[ossl]} < ${WALL[peer]}" | bc -l)" = 1 ] && best=ossl
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
mibs() { printf '%.0f' "$(echo "$1 / 1048576 / $2" | bc -l)"; }
row() { printf '%-40s %7.2fs wall %7.2fs cpu %6s MiB/s  %s\n' "$1" "${WALL[$2]}" "${CPU[$2]}" "$(mibs "$stream" "${WALL[$2]}")" "$3"; }
echo "containerd store: $CTD_DATA + $CTD_ROOT (base: $(cat "$CACHE/minbase.kind" 2>/dev/null || echo '?'))"
echo "strata-bench/app:1: $N_LAYERS layers, $BLOB_BYTES blob bytes, $stream tar bytes; strata statuses $statuses (exit $(cat "$CACHE/rc.strata"))"
echo "strata-bench/app:1 on the containerd store: $NAME_NOTE"
echo "load average: $LOAD_BEFORE before, $LOAD_AFTER after ($(nproc) cores)"
if ok strata "$statuses"; then
    row "strata verify app:1 (all cores)" strata "peak RSS $((RSS[strata] / 1024)) MiB (target < 64)"
else
    row "strata verify app:1 (all cores)" strata "$(bad strata "$statuses")"
fi
row "strata verify app:1 (--jobs 1)" strata1 "peak RSS $((RSS[strata1] / 1024)) MiB, exit $(cat "$CACHE/rc.strata1")"
row "sha256sum + gzip -dc | sha256sum" peer "peer/strata: wall $(ratio "${WALL[peer]}" "${WALL[strata]}"), cpu $(ratio "${CPU[peer]}" "${CPU[strata]}")"
row "openssl dgst + gzip -dc | openssl dgst" ossl "peer/strata: wall $(ratio "${WALL[ossl]}" "${WALL[strata]}"), cpu $(ratio "${CPU[ossl]}" "${CPU[strata]}")"
row "openssl dgst of the largest blob alone" floor_ossl "strata takes $(ratio "${WALL[strata]}" "${WALL[floor_ossl]}")x of it"
if ok gd "$statuses_gd"; then
    row "strata verify app:1, graphdriver root" gd "the containerd store takes $(ratio "${WALL[strata]}" "${WALL[gd]}")x of it; $stream_gd tar bytes"
else
    row "strata verify app:1, graphdriver root" gd "$(bad gd "$statuses_gd")"
fi
if ok strata "$statuses"; then
    echo "strata vs the best peer ($best): $(ratio "${WALL[$best]}" "${WALL[strata]}")x faster by wall time (target >= 4); $(ratio "${CPU[$best]}" "${CPU[strata]}")x by CPU time"
else
    echo "strata vs the best peer ($best): no ratio, strata verify failed (see above)"
fi
printf '%-40s %7.2fs wall %7.2fs cpu  peak RSS %s MiB; %s tar bytes, statuses %s (exit %s)\n' \
    "strata verify, whole store" "${WALL[all]}" "${CPU[all]}" "$((RSS[all] / 1024))" "$stream_all" "$statuses_all" "$(cat "$CACHE/rc.all")"
printf '%-40s %7.3fs (median of %d, %d rows)\n' "strata images, containerd store" "$(echo "$IMG_CTD / 1000" | bc -l)" "$RUNS" "$ROWS_CTD"
printf '%-40s %7.3fs (median of %d, %d rows)\n' "strata images, graphdriver (overlay2)" "$(echo "$IMG_GD / 1000" | bc -l)" "$RUNS" "$ROWS_GD"
echo "containerd listing takes $(ratio "$IMG_CTD" "$IMG_GD")x the graphdriver's (target <= 1.5)"
