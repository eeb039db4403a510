#!/usr/bin/env bash
# callqa against `cat` and ripgrep on one generated corpus: wall time (median of RUNS), MB/s,
# callqa's speed as a fraction of ripgrep's, and peak RSS; then a streaming memory check.
#
#   benches/compare.sh                  # 1 GiB in 16 JSON Lines files + one 1 GiB file, 5 runs
#   SIZE=200M RUNS=3 STREAM=1G benches/compare.sh
#   PROFILE=callback-heavy benches/compare.sh   # a promise in most conversations
#
# Environment: SIZE (corpus size, default 1G), FILES (16), RUNS (5), SEED (7), PROFILE (the
# generator's rates: export, the default, as real exports; or callback-heavy), STREAM (size of
# the streamed check, default 4G; 0 skips it), WORK (folder for the corpus and reports,
# default target/compare). The corpus is kept in WORK and reused while SIZE, FILES, SEED,
# PROFILE, the generator and the pack's phrases are unchanged. ripgrep searches the pack's phrases as exported by
# `callqa rules list --phrases` (case-insensitive, whole words, fixed strings): the same
# matching work without normalization, checks or reports, so the ratio says what callqa's
# extra work costs. Installs ripgrep and GNU time when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${SIZE:-1G}
FILES=${FILES:-16}
RUNS=${RUNS:-5}
SEED=${SEED:-7}
PROFILE=${PROFILE:-export}
STREAM=${STREAM:-4G}
WORK=${WORK:-target/compare}

apt_install() {
  if command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null && apt-get install -y -qq "$@" >/dev/null
  else
    return 1
  fi
}
if ! command -v rg >/dev/null; then
  echo "compare: installing ripgrep" >&2
  apt_install ripgrep || cargo install --locked ripgrep
fi
if [ ! -x /usr/bin/time ] || ! /usr/bin/time -v true 2>/dev/null; then
  echo "compare: installing GNU time" >&2
  apt_install time
fi

echo "compare: building" >&2
cargo build --release --locked --quiet --bin callqa --example gen_corpus
CALLQA=$PWD/target/release/callqa
GEN=$PWD/target/release/examples/gen_corpus

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
"$CALLQA" rules list --phrases >"$WORK/phrases.txt"
CORPUS=$WORK/corpus-$PROFILE
# The corpus is made again when the size, seed, phrases or the generator's code change.
STAMP="size=$SIZE files=$FILES seed=$SEED profile=$PROFILE phrases=$(sha256sum <"$WORK/phrases.txt" | cut -c1-16)"
STAMP="$STAMP generator=$(cat benches/corpus/mod.rs examples/gen_corpus.rs | sha256sum | cut -c1-16)"
if [ "$(cat "$CORPUS/stamp" 2>/dev/null)" != "$STAMP" ]; then
  echo "compare: generating the corpus ($STAMP)" >&2
  rm -rf "$CORPUS"
  mkdir -p "$CORPUS"
  GEN_ARGS=(--format jsonl --seed "$SEED" --profile "$PROFILE")
  "$GEN" --bytes "$SIZE" --files "$FILES" "${GEN_ARGS[@]}" --out "$CORPUS/multi"
  "$GEN" --bytes "$SIZE" --files "$FILES" "${GEN_ARGS[@]}" --gzip --out "$CORPUS/gz"
  "$GEN" --bytes "$SIZE" --files 1 "${GEN_ARGS[@]}" --out "$CORPUS/single"
  echo "$STAMP" >"$CORPUS/stamp"
fi
MULTI_BYTES=$(cat "$CORPUS"/multi/* | wc -c)
SINGLE_BYTES=$(wc -c <"$CORPUS/single/part-000.jsonl")
SINGLE=$CORPUS/single/part-000.jsonl
# Warm the page cache, so every row reads from memory.
cat "$CORPUS"/multi/* "$CORPUS"/gz/* "$SINGLE" >/dev/null

# run_once COMMAND...: runs it once under GNU time; prints "microseconds peak_rss_kib". ripgrep
# exits 1 when nothing matches: only >1 is a failure.
run_once() {
  local start end status=0
  start=$(date +%s%N)
  /usr/bin/time -v -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/stderr.txt" || status=$?
  end=$(date +%s%N)
  if [ "$status" -gt 1 ]; then
    echo "compare: failed ($status): $*" >&2
    cat "$WORK/stderr.txt" >&2
    exit 1
  fi
  echo "$(((end - start) / 1000)) $(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")"
}

# summarize BYTES: reads "microseconds rss" lines; prints "median_microseconds max_rss bytes".
summarize() {
  sort -n | awk -v bytes="$1" '{t[NR] = $1; if ($2 > rss) rss = $2} END {print t[int((NR + 1) / 2)], rss, bytes}'
}

# measure BYTES COMMAND...: prints "median_microseconds peak_rss_kib bytes" over RUNS runs (RSS:
# the largest of the runs).
measure() {
  local bytes=$1 run
  shift
  for ((run = 0; run < RUNS; run++)); do
    run_once "$@"
  done | summarize "$bytes"
}

ROWS=()
row() {
  local label=$1
  shift
  local result
  result=$(measure "$@")
  ROWS+=("$label|$result")
  echo "compare: $label: $result" >&2
}

# `--no-unicode` refuses a pattern that is not ASCII ("Unicode not allowed here"): ripgrep
# gets the pack's ASCII phrases (all but a handful of Spanish and German words).
LC_ALL=C grep -v '[^ -~]' "$WORK/phrases.txt" >"$WORK/phrases-ascii.txt" || true
RG=(rg --count-matches --no-unicode -i -w -F -f "$WORK/phrases-ascii.txt")
AUDIT=("$CALLQA" audit -q -o "$WORK/report")
MULTI=("$CORPUS"/multi/*)
GZ=("$CORPUS"/gz/*)

row "cat, $FILES files" "$MULTI_BYTES" cat "${MULTI[@]}"
row "rg -j1, $FILES files" "$MULTI_BYTES" "${RG[@]}" -j1 "${MULTI[@]}"
row "rg -j2, $FILES files" "$MULTI_BYTES" "${RG[@]}" -j2 "${MULTI[@]}"
row "callqa -j1, $FILES files" "$MULTI_BYTES" "${AUDIT[@]}" -j1 "$CORPUS/multi"
row "callqa -j2, $FILES files" "$MULTI_BYTES" "${AUDIT[@]}" -j2 "$CORPUS/multi"
row "cat, 1 file" "$SINGLE_BYTES" cat "$SINGLE"
row "rg -j1, 1 file" "$SINGLE_BYTES" "${RG[@]}" -j1 "$SINGLE"
row "rg -j2, 1 file" "$SINGLE_BYTES" "${RG[@]}" -j2 "$SINGLE"
# The one-file -j1 and -j2 runs in turn (-j1, -j2, -j1, …), so that a slow minute of a shared
# machine lands on both rather than on one row: their ratio is the scaling figure.
: >"$WORK/single-j1.txt"
: >"$WORK/single-j2.txt"
for ((run = 0; run < RUNS; run++)); do
  for jobs in 1 2; do
    run_once "${AUDIT[@]}" -j"$jobs" "$SINGLE" >>"$WORK/single-j$jobs.txt"
  done
done
for jobs in 1 2; do
  result=$(summarize "$SINGLE_BYTES" <"$WORK/single-j$jobs.txt")
  ROWS+=("callqa -j$jobs, 1 file|$result")
  echo "compare: callqa -j$jobs, 1 file (alternated): $result" >&2
done
row "rg -z -j2, $FILES gzip files" "$MULTI_BYTES" "${RG[@]}" -z -j2 "${GZ[@]}"
row "callqa -j2, $FILES gzip files" "$MULTI_BYTES" "${AUDIT[@]}" -j2 "$CORPUS/gz"

# The table: each callqa row is compared with the ripgrep row of the same input and -j.
echo
echo "corpus: $SIZE ($MULTI_BYTES bytes in $FILES files; $SINGLE_BYTES bytes in 1 file), seed $SEED, profile $PROFILE," \
  "$(wc -l <"$WORK/phrases.txt") phrases; median of $RUNS runs (callqa's one-file rows run in turn); $(nproc) cores," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| %-28s | %9s | %8s | %9s | %12s |\n' "command" "wall (s)" "MB/s" "wall/rg" "peak RSS MiB"
printf '|%s|%s|%s|%s|%s|\n' "------------------------------" "----------:" "---------:" "----------:" "-------------:"
declare -A RG_WALL=()
for entry in "${ROWS[@]}"; do
  label=${entry%%|*}
  read -r micros rss bytes <<<"${entry#*|}"
  speed=$(awk -v b="$bytes" -v u="$micros" 'BEGIN {printf "%.1f", b / u}')
  key=$(echo "$label" | sed -E 's/^(rg|callqa)( -z)? //')
  ratio=""
  case $label in
  rg*) RG_WALL[$key]=$micros ;;
  callqa*)
    if [ -n "${RG_WALL[$key]:-}" ]; then
      ratio=$(awk -v a="$micros" -v b="${RG_WALL[$key]}" 'BEGIN {printf "%.2f", a / b}')
    fi
    ;;
  esac
  printf '| %-28s | %9s | %8s | %9s | %12s |\n' "$label" \
    "$(awk -v u="$micros" 'BEGIN {printf "%.2f", u / 1e6}')" "$speed" "$ratio" \
    "$(awk -v k="$rss" 'BEGIN {printf "%.0f", k / 1024}')"
done
echo "(wall/rg: callqa's wall time over ripgrep's on the same input and -j, below 1 when callqa is faster; MB = 10^6 bytes)"

if [ "$STREAM" != "0" ]; then
  echo
  echo "compare: streaming $STREAM through callqa audit - (generated on the fly, not stored)" >&2
  start=$(date +%s%N)
  "$GEN" --bytes "$STREAM" --seed "$SEED" --profile "$PROFILE" --out - 2>"$WORK/gen.txt" |
    /usr/bin/time -v -o "$WORK/time.txt" "$CALLQA" audit -j2 -o "$WORK/report-stream" - 2>"$WORK/stream.txt"
  end=$(date +%s%N)
  kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
  echo "streaming check: $STREAM generated and piped into \`callqa audit -j2 -o DIR -\`:" \
    "peak RSS $((kib / 1024)) MiB, wall $(awk -v u="$(((end - start) / 1000))" 'BEGIN {printf "%.1f", u / 1e6}') s" \
    "(the generator shares the cores)"
  sed 's/^/  /' "$WORK/gen.txt" "$WORK/stream.txt"
fi
