#!/usr/bin/env bash
# One file at -j1 and at -j2, alternated: the median wall time of each and their ratio (issue
# 22's scaling figure). Alternating the two keeps a slow minute of a shared machine from
# landing on one side only, as running all of one and then all of the other would.
#
#   benches/scaling.sh                       # the export corpus's single file, 5 pairs
#   PAIRS=7 PROFILE=callback-heavy benches/scaling.sh
#   benches/scaling.sh path/to/file.jsonl
#
# Environment: PAIRS (5), PROFILE (export), WORK (target/compare: where benches/compare.sh
# keeps its corpora; run it first to make them), CALLQA (target/release/callqa, built when
# missing), CEILING (0; 1 adds to each pair two -j1 runs side by side, nothing shared: what two
# cores give any program in that minute, against which the -j2 figure is read). Prints each
# run's wall time in seconds and CPU time (user + system), then medians.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-5}
PROFILE=${PROFILE:-export}
WORK=${WORK:-target/compare}
CALLQA=${CALLQA:-target/release/callqa}
FILE=${1:-$WORK/corpus-$PROFILE/single/part-000.jsonl}
if [ ! -f "$FILE" ]; then
  echo "scaling: $FILE is missing: run PROFILE=$PROFILE benches/compare.sh first, or name a file" >&2
  exit 2
fi
[ -x "$CALLQA" ] || cargo build --release --locked >&2
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for pair in $(seq "$PAIRS"); do
  for jobs in 1 2; do
    # bash's own `time`: wall, user and system seconds (no GNU time needed).
    TIMEFORMAT='%R %U %S'
    { time "$CALLQA" audit -q -j"$jobs" -o "$OUT/report" "$FILE" >/dev/null 2>"$OUT/stderr"; } 2>"$OUT/time" || {
      echo "scaling: callqa failed:" >&2
      cat "$OUT/stderr" >&2
      exit 1
    }
    read -r wall user system <"$OUT/time"
    cpu=$(awk -v u="$user" -v s="$system" 'BEGIN {printf "%.2f", u + s}')
    echo "pair $pair -j$jobs: wall $wall s, cpu $cpu s"
    echo "$wall" >>"$OUT/wall-$jobs"
  done
  if [ "${CEILING:-0}" = 1 ]; then
    # Two one-core runs at once: each one's wall over the -j1 run of this pair is the machine's
    # cost of keeping both cores busy; 2 x (-j1 alone) / (the slower of the two) is the ceiling.
    TIMEFORMAT='%R'
    { time "$CALLQA" audit -q -j1 -o "$OUT/side-a" "$FILE" >/dev/null 2>&1; } 2>"$OUT/side-a.time" &
    { time "$CALLQA" audit -q -j1 -o "$OUT/side-b" "$FILE" >/dev/null 2>&1; } 2>"$OUT/side-b.time"
    wait
    slower=$(cat "$OUT/side-a.time" "$OUT/side-b.time" | sort -n | tail -1)
    alone=$(tail -1 "$OUT/wall-1")
    echo "pair $pair two -j1 side by side: the slower $slower s (alone $alone s)"
    awk -v a="$alone" -v s="$slower" 'BEGIN {printf "%.4f\n", 2 * a / s}' >>"$OUT/ceiling"
  fi
done
median() { sort -n "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
j1=$(median "$OUT/wall-1")
j2=$(median "$OUT/wall-2")
echo "median -j1 $j1 s, -j2 $j2 s: -j2 is $(awk -v a="$j1" -v b="$j2" 'BEGIN {printf "%.2f", a / b}')x faster ($FILE)"
if [ "${CEILING:-0}" = 1 ]; then
  echo "median ceiling of two cores in these minutes: $(median "$OUT/ceiling" | awk '{printf "%.2f", $1}')x (two -j1 runs side by side)"
fi
