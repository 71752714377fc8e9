#!/usr/bin/env bash
# seed.sh - build the seed corpus of every fuzz target from the real fixtures.
# Extracts only the metadata files (regular files, no root needed) of each
# fixtures/*/data-root.tar.gz (and registry.tar.gz) and puts each where the target that
# parses it will find it: fuzz/corpus/<target>/. Targets whose input starts with a
# selector byte (layerdb_files, v2metadata) get it prepended.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
corpus=$here/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

put() { # put TARGET NAME < bytes
    mkdir -p "$corpus/$1"
    cat > "$corpus/$1/$2"
}

# bbolt: every containerd meta.db and snapshotter metadata.db the fixtures hold, under
# a data-root (dockerd's own containerd) or in a containerd root of their own.
for archive in "$repo"/fixtures/*/data-root.tar.gz "$repo"/fixtures/*/containerd-root.tar.gz; do
    [ -f "$archive" ] || continue
    fx=$(basename "$(dirname "$archive")")-$(basename "$archive" .tar.gz)
    d=$tmp/bolt-$fx
    mkdir -p "$d"
    tar -xzf "$archive" -C "$d" --no-same-owner --no-same-permissions --wildcards \
        '*meta.db' '*metadata.db' 2>/dev/null || true
    find "$d" -name '*.db' -type f | while read -r f; do
        put bbolt "$fx-$(basename "$(dirname "$f")")-$(basename "$f")" < "$f"
    done
done

for archive in "$repo"/fixtures/*/data-root.tar.gz; do
    fx=$(basename "$(dirname "$archive")")
    d=$tmp/$fx
    mkdir -p "$d"
    # Metadata only: never the layer contents (they hold devices and are large).
    tar -xzf "$archive" -C "$d" --no-same-owner --no-same-permissions --wildcards \
        --exclude='./overlay2/*' --exclude='./containerd/*' --exclude='./buildkit/*' \
        './image/*' './containers/*' 2>/dev/null || true
    [ -d "$d/image" ] || continue
    for f in "$d"/image/*/imagedb/content/sha256/*; do
        [ -f "$f" ] && put image_config "$fx-$(basename "$f")" < "$f"
    done
    for f in "$d"/image/*/repositories.json; do
        [ -f "$f" ] || continue
        put repositories "$fx" < "$f"
        # Every key and value of repositories.json is a reference or an image ID.
        python3 - "$f" "$corpus" "$fx" <<'PY'
import json, os, sys, hashlib
f, corpus, fx = sys.argv[1:]
os.makedirs(f"{corpus}/reference", exist_ok=True)
os.makedirs(f"{corpus}/digest", exist_ok=True)
for repo, refs in json.load(open(f)).get("Repositories", {}).items():
    for k, v in refs.items():
        for target, s in (("reference", k), ("reference", repo), ("digest", v)):
            name = hashlib.sha1(s.encode()).hexdigest()[:16]
            open(f"{corpus}/{target}/{fx}-{name}", "w").write(s)
PY
    done
    for f in "$d"/image/*/distribution/v2metadata-by-diffid/sha256/*; do
        [ -f "$f" ] && { printf '\x00'; cat "$f"; } | put v2metadata "$fx-v2-$(basename "$f")"
    done
    for f in "$d"/image/*/distribution/diffid-by-digest/sha256/*; do
        [ -f "$f" ] && { printf '\x01'; cat "$f"; } | put v2metadata "$fx-dd-$(basename "$f")"
    done
    # layerdb_files: selector byte 0 diff, 1 size, 2 cache-id, 3 parent, 4 mount-id/init-id,
    # 5 overlay2 link, 6 overlay2 lower.
    i=0
    for l in "$d"/image/*/layerdb/sha256/*/; do
        i=$((i + 1))
        [ -f "$l/diff" ] && { printf '\x00'; cat "$l/diff"; } | put layerdb_files "$fx-$i-diff"
        [ -f "$l/size" ] && { printf '\x01'; cat "$l/size"; } | put layerdb_files "$fx-$i-size"
        [ -f "$l/cache-id" ] && { printf '\x02'; cat "$l/cache-id"; } | put layerdb_files "$fx-$i-cache-id"
        [ -f "$l/parent" ] && { printf '\x03'; cat "$l/parent"; } | put layerdb_files "$fx-$i-parent"
        [ -f "$l/diff" ] && put digest "$fx-$i-diff" < "$l/diff"
        if [ -f "$l/tar-split.json.gz" ]; then
            # tar_split: selector byte 1 + the gzip file, 0 + its NDJSON.
            { printf '\x01'; cat "$l/tar-split.json.gz"; } | put tar_split "$fx-$i-gz"
            { printf '\x00'; gzip -dc "$l/tar-split.json.gz"; } | put tar_split "$fx-$i-json"
        fi
    done
    for m in "$d"/image/*/layerdb/mounts/*/; do
        i=$((i + 1))
        [ -f "$m/mount-id" ] && { printf '\x04'; cat "$m/mount-id"; } | put layerdb_files "$fx-$i-mount-id"
        [ -f "$m/init-id" ] && { printf '\x04'; cat "$m/init-id"; } | put layerdb_files "$fx-$i-init-id"
        [ -f "$m/parent" ] && { printf '\x03'; cat "$m/parent"; } | put layerdb_files "$fx-$i-mparent"
    done
    # layerdb_files selectors 5 and 6: overlay2 link and lower files.
    tar -xzf "$archive" -C "$d" --no-same-owner --no-same-permissions --wildcards \
        './overlay2/*/link' './overlay2/*/lower' 2>/dev/null || true
    for l in "$d"/overlay2/*/; do
        i=$((i + 1))
        [ -f "$l/link" ] && { printf '\x05'; cat "$l/link"; } | put layerdb_files "$fx-$i-link"
        [ -f "$l/lower" ] && { printf '\x06'; cat "$l/lower"; } | put layerdb_files "$fx-$i-lower"
    done
    for f in "$d"/containers/*/config.v2.json; do
        [ -f "$f" ] && put container_config "$fx-$(basename "$(dirname "$f")")" < "$f"
        img=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("Config",{}).get("Image",""))' "$f")
        [ -n "$img" ] && printf '%s' "$img" | put reference "$fx-cimg-$(printf '%s' "$img" | sha1sum | cut -c1-16)"
    done
done

# Registry manifests and indexes (blobs of the fixture registries that are JSON).
for archive in "$repo"/fixtures/*/registry.tar.gz; do
    fx=$(basename "$(dirname "$archive")")
    d=$tmp/reg-$fx
    mkdir -p "$d"
    tar -xzf "$archive" -C "$d" --no-same-owner 2>/dev/null || continue
    find "$d" -type f -name data -size -64k | while read -r f; do
        if head -c 1 "$f" | grep -q '{'; then
            put registry_manifest "$fx-$(sha256sum "$f" | cut -c1-16)" < "$f"
        fi
    done
done

# A few hand-written spellings the fixtures lack.
for s in alpine alpine:3.19 docker.io/library/alpine:latest localhost:5000/x/y:1 \
    "127.0.0.1:5000/strata/app@sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef" \
    "Example.COM/a/b:tag" "a/b/c/d:e" "index.docker.io/user/app"; do
    printf '%s' "$s" | put reference "hand-$(printf '%s' "$s" | sha1sum | cut -c1-16)"
done
printf 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef' | put digest hand-empty
printf '\x01123' | put layerdb_files hand-size

for t in "$corpus"/*/; do
    printf '%-20s %5d files\n' "$(basename "$t")" "$(find "$t" -type f | wc -l)"
done
