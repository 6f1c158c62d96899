#!/usr/bin/env bash
# Fuzz every target (or the ones named) for SECONDS each, one after the other, with
# libFuzzer via cargo-fuzz on nightly Rust. Installs nightly and cargo-fuzz if absent.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]        default: 60 s per target, all targets
#   scripts/fuzz.sh --runs N [TARGET...]         stop each target after N executions or
#                                                FUZZ_MAX_TIME seconds (default 1800)
#   FUZZ_MINIMIZE=1 scripts/fuzz.sh ...          afterwards merge what was found into the
#                                                committed corpus with `cargo fuzz cmin`
#   FUZZ_NICE=19 (default) FUZZ_RSS_MB=2048 (default)
#
# New inputs go to fuzz/corpus-work/<target>/ (not committed; fuzz/corpus/<target>/ is read
# as well). Logs: fuzz/logs/<target>.log; one line per target with executions, time,
# exec/s, coverage (cov = edges, ft = features) and crashes is appended to
# fuzz/logs/summary.tsv and printed. A crash leaves its input in fuzz/artifacts/<target>/
# and makes the script exit 1 after the remaining targets ran. Why the build flags:
# `-s none` because the fuzzed crates contain no `unsafe` (AddressSanitizer would halve
# the speed and find nothing the Rust bounds checks do not), `-a` for debug assertions
# and overflow checks, which turn silent wrap-arounds into findings.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

limit=(-max_total_time=60)
if [[ "${1:-}" == "--runs" ]]; then
  limit=(-runs="$2" -max_total_time="${FUZZ_MAX_TIME:-1800}"); shift 2
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  limit=(-max_total_time="$1"); shift
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

nice_level="${FUZZ_NICE:-19}"
flags=(-s none -a)
nice -n "$nice_level" cargo +nightly fuzz build "${flags[@]}"

mkdir -p logs
failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus-work/$t" "corpus/$t"
  log="logs/$t.log"
  start=$(date +%s)
  status=0
  nice -n "$nice_level" cargo +nightly fuzz run "${flags[@]}" "$t" "corpus-work/$t" "corpus/$t" -- \
    "${limit[@]}" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout=10 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 | tr -d ':' || true)
  crashes=0
  if [[ $status -ne 0 ]]; then
    crashes=1
    failed+=("$t")
    grep -E 'panicked|ERROR: libFuzzer|Test unit written' "$log" | head -5 >&2 || true
  fi
  line=$(printf '%s\t%s\texecs=%s\twall=%ss\texec/s=%s\t%s\tcrashes=%s' \
    "$(date -u +%FT%TZ)" "$t" "${execs:-?}" "$secs" "${rate:-?}" "${cov:-cov ?}" "$crashes")
  echo "$line" | tee -a logs/summary.tsv
done

if [[ "${FUZZ_MINIMIZE:-0}" == 1 ]]; then
  for t in "${targets[@]}"; do
    cp -n "corpus-work/$t/"* "corpus/$t/" 2>/dev/null || true
    nice -n "$nice_level" cargo +nightly fuzz cmin "${flags[@]}" "$t" "corpus/$t" >"logs/$t.cmin.log" 2>&1
    echo "$t: corpus/$t minimised to $(find "corpus/$t" -type f | wc -l) files, $(du -sh "corpus/$t" | cut -f1)"
  done
fi

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
