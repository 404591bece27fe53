#!/usr/bin/env bash
# Runs fuzz targets for SECONDS each: bash fuzz/run.sh SECONDS [TARGET...] (all targets if none
# named). Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# Each target starts from its committed seeds (fuzz/corpus/<target>, read-only here) and the
# inputs earlier runs found (fuzz/target/corpus/<target>, where new ones go). The limits are
# explained in fuzz/README.md. Exits non-zero on the first target that crashes, leaks past the
# limits, or times out; the input that did it is under fuzz/artifacts/<target>/.
# JOBS=2 runs two targets at a time. Logs: fuzz/target/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
jobs=${JOBS:-1}
mkdir -p fuzz/target/logs
nice -n 10 cargo +nightly fuzz build
run_one() {
  local t=$1 log=fuzz/target/logs/$1.log
  mkdir -p "fuzz/target/corpus/$t" "fuzz/artifacts/$t"
  if nice -n 10 cargo +nightly fuzz run "$t" "fuzz/target/corpus/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=1024 -malloc_limit_mb=32 -max_len=65536 \
      -timeout=10 -print_final_stats=1 > "$log" 2>&1; then
    echo "fuzz $t: ok: $(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1)"
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$log" | sed "s/^/fuzz $t: /"
  else
    echo "fuzz $t: FAILED (log: $log)"; tail -40 "$log"; return 1
  fi
}
status=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" & pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1; pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
