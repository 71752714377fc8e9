#!/usr/bin/env bash
# tree.sh - `strata tree` on a big host: what the collapsed views cost and how much
# shorter they are than the whole forest (issue 15: "tree and tree --format dot must stay
# useful at this size").
#
# Reads a data-root bighost.sh built (STRATA_BENCH_TREE_ROOT, default
# /var/tmp/strata-bench-big/root), read-only. For each view, default and --no-collapse:
# elapsed and CPU seconds, peak RSS (median of RUNS, page cache warm after one warming
# run), lines and bytes out; then how long Graphviz's `dot -Tsvg` takes to lay each DOT
# out (bounded by DOT_TIMEOUT seconds: the whole forest of 10,000 images did not finish
# in 300 s here). Exit 77 when it cannot run here.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${STRATA_BENCH_TREE_ROOT:-/var/tmp/strata-bench-big/root}
RUNS=${STRATA_BENCH_RUNS:-3}
DOT_TIMEOUT=${DOT_TIMEOUT:-120}
STRATA=${STRATA:-$HERE/target/release/strata}
me=tree.sh

[ "$(id -u)" -eq 0 ] || { echo "$me: needs root (the data-root is mode 0700)" >&2; exit 77; }
[ -d "$ROOT/image" ] || { echo "$me: no data-root at $ROOT (run benches/bighost.sh)" >&2; exit 77; }
for t in /usr/bin/time dot timeout; do
    command -v "$t" >/dev/null || { echo "$me: $t not installed" >&2; exit 77; }
done
[ -x "$STRATA" ] || { echo "$me: build first: cargo build --release" >&2; exit 77; }

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %9s %9s %10s %8s %9s\n' view elapsed cpu peak_KiB lines bytes
dots=()
for view in "tree" "tree --no-collapse" "tree --format dot" "tree --format dot --no-collapse" \
    "tree --format json"; do
    # shellcheck disable=SC2086 # the view is words
    "$STRATA" --root "$ROOT" $view >/dev/null
    rows=()
    for _ in $(seq "$RUNS"); do
        # shellcheck disable=SC2086
        /usr/bin/time -o "$OUT/t" -f '%e %U %S %M' "$STRATA" --root "$ROOT" $view >"$OUT/out"
        read -r e u s m <"$OUT/t"
        rows+=("$e $(printf "%.2f" "$(echo "$u + $s" | bc)") $m")
    done
    med=$(printf '%s\n' "${rows[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")
    read -r e c m <<<"$med"
    printf '%-44s %8ss %8ss %10s %8s %9s\n' "$view" "$e" "$c" "$m" \
        "$(wc -l <"$OUT/out")" "$(wc -c <"$OUT/out")"
    case $view in *dot*) dots+=("$view"); cp "$OUT/out" "$OUT/${#dots[@]}.dot" ;; esac
done
for i in "${!dots[@]}"; do
    name=${dots[$i]}
    start=$(date +%s.%N)
    if timeout "$DOT_TIMEOUT" dot -Tsvg "$OUT/$((i + 1)).dot" -o /dev/null; then
        printf '%-44s laid out by dot -Tsvg in %.1f s\n' "$name" "$(echo "$(date +%s.%N) - $start" | bc)"
    else
        printf '%-44s not laid out by dot -Tsvg within %s s\n' "$name" "$DOT_TIMEOUT"
    fi
done
