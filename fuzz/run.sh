#!/usr/bin/env bash
# run.sh SECONDS [TARGET...] - run each fuzz target (all when none named) for SECONDS,
# one after the other, one process each (-jobs=1 -workers=1: the machine is shared),
# on the seed corpus (fuzz/seed.sh builds it). Prints executions per target and
# appends them to fuzz/campaign.log. A crash stops that target; its input is in
# fuzz/artifacts/<target>/ and the script exits 1 at the end.
# Extra libFuzzer flags can be given in FUZZ_ARGS (e.g. FUZZ_ARGS=-max_len=16384).
# Needs cargo-fuzz (cargo install cargo-fuzz); runs on stable via RUSTC_BOOTSTRAP=1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
secs=${1:?usage: run.sh SECONDS [TARGET...]}
shift
if [ $# -eq 0 ]; then
    mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list)
else
    targets=("$@")
fi
[ -d corpus ] || ./seed.sh
export RUSTC_BOOTSTRAP=1
mkdir -p "$here/logs"
if ! cargo fuzz build -O >"$here/logs/build.log" 2>&1; then
    cat "$here/logs/build.log" >&2
    exit 2
fi
bin=$here/target/x86_64-unknown-linux-gnu/release
logs=$here/logs
mkdir -p "$logs"
failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    work=$(mktemp -d "$logs/$t.XXXX")
    start=$(date +%s)
    # With -jobs the fuzzer runs in a child whose output is fuzz-0.log in the cwd.
    (cd "$work" && "$bin/$t" -jobs=1 -workers=1 -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$here/artifacts/$t/" ${FUZZ_ARGS:-} \
        "$here/corpus/$t" >"$work/driver.log" 2>&1)
    rc=$?
    end=$(date +%s)
    log=$work/fuzz-0.log
    [ -f "$log" ] || log=$work/driver.log
    execs=$(grep -a 'stat::number_of_executed_units' "$log" | tail -1 | awk '{print $2}')
    if [ -z "$execs" ]; then
        # Killed before the final stats: take the last progress line.
        execs=$(grep -aoE '#[0-9]+' "$log" | tail -1 | tr -d '#')
    fi
    cov=$(grep -aoE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    crash=$(grep -aE 'SUMMARY|panicked|Test unit written' "$log" | head -3)
    status=ok
    if [ -n "$crash" ] || { [ $rc -ne 0 ] && ! grep -aq 'Done [0-9]* runs' "$log"; }; then
        status=CRASH
        failed=1
    fi
    line=$(printf '%s %-18s %6ss %12s execs cov %-6s %s' "$(date -u +%FT%TZ)" "$t" "$((end - start))" "${execs:-?}" "${cov:-?}" "$status")
    echo "$line"
    echo "$line" >> "$here/campaign.log"
    if [ "$status" = CRASH ]; then
        echo "$crash" | sed 's/^/    /'
        ls "artifacts/$t" | sed 's/^/    artifact: /'
    fi
done
exit $failed
