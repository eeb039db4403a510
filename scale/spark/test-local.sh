#!/usr/bin/env bash
# The Spark job (scale/spark/callqa_job.py) in local mode on the bundled fixtures, checked
# against one `callqa audit` run: the six report files byte for byte, standard output and the
# exit code. local[2,3] runs 2 tasks at once and tries a task up to 3 times; the first attempt
# of shard 1 is made to fail (CALLQA_SPARK_FAIL_ONCE), after it has written its partial, and
# the retry must write the same bytes. The binary goes to the tasks both ways: with
# spark-submit --files, and shipped by the job itself (--callqa PATH).
#
# Installs what it lacks: Debian's openjdk-17-jre-headless (when there is no Java 17 or later)
# and pyspark in a venv ($CALLQA_SPARK_VENV, default /tmp/callqa-spark-venv-$PYSPARK_VERSION,
# kept between runs). Builds the release binary. Prints its own elapsed time.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

PYSPARK_VERSION=4.0.1 # Spark 4.0: Java 17 or 21, Python 3.9 or later
venv=${CALLQA_SPARK_VENV:-/tmp/callqa-spark-venv-$PYSPARK_VERSION}
work=$repo/target/spark-local
trap 'echo "== scale/spark/test-local.sh: ${SECONDS} s"' EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
fail() {
  echo "scale/spark/test-local.sh: FAILED: $*" >&2
  exit 1
}

java_major() {
  # "17.0.15" -> 17, "1.8.0_392" -> 8; nothing when there is no java
  java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == 1 ? v[2] : v[1]); exit }'
}

echo "== Java 17 or later"
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ]; then
  echo "   installing openjdk-17-jre-headless"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless
  java_home=$(dirname "$(dirname "$(readlink -f "$(dpkg -L openjdk-17-jre-headless | grep '/bin/java$' | head -n1)")")")
  export JAVA_HOME=$java_home PATH=$java_home/bin:$PATH
fi
java -version 2>&1 | head -n1

echo "== pyspark $PYSPARK_VERSION in $venv"
if [ "$(cat "$venv/.callqa-ready" 2>/dev/null)" != "$PYSPARK_VERSION" ]; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pyspark==$PYSPARK_VERSION"
  echo "$PYSPARK_VERSION" >"$venv/.callqa-ready"
fi
export PATH=$venv/bin:$PATH PYSPARK_PYTHON=$venv/bin/python PYSPARK_DRIVER_PYTHON=$venv/bin/python
export SPARK_LOCAL_IP=127.0.0.1 # no lookup of the host's name; local mode needs no network

echo "== cargo build --release --locked"
cargo build --release --locked --quiet
callqa=$repo/target/release/callqa

# The inputs as every task sees them (absolute: the report's sources are the paths as given).
inputs=("$repo/fixtures/demo")
if [ -d "$repo/fixtures/shards" ]; then inputs+=("$repo/fixtures/shards"); fi
options=(--fail-on major) # a gate that fails on these fixtures: the exit code must carry over
report_files=(scorecards.csv findings.csv summary.json promises.csv teams.csv report.html)

rm -rf "$work"
mkdir -p "$work"

echo "== one run: callqa audit ${inputs[*]} ${options[*]}"
t0=$(now)
set +e
"$callqa" audit "${inputs[@]}" "${options[@]}" -o "$work/single" -q 2>"$work/single.log"
single_exit=$?
single_seconds=$(elapsed "$t0" "$(now)")
printf '%s\n' "# the same inputs as a manifest" "${inputs[@]}" >"$work/manifest.txt"
"$callqa" audit --manifest "$work/manifest.txt" "${options[@]}" --format csv -q \
  >"$work/single.stdout" 2>/dev/null
single_stdout_exit=$?
set -e
echo "   exit $single_exit, $single_seconds s"
[ "$single_exit" -ne 0 ] || fail "the gate should fail on the fixtures (exit 1)"

echo "== spark-submit --master local[2,3] --files callqa: 3 shards, the first attempt of shard 1 fails"
t0=$(now)
set +e
CALLQA_SPARK_FAIL_ONCE=1 spark-submit --master 'local[2,3]' --files "$callqa" scale/spark/callqa_job.py \
  --shards 3 --partials "$work/parts-3" "${inputs[@]}" \
  --merge "${options[@]}" -o "$work/spark-3" -q >"$work/spark-3.log" 2>&1
spark_exit=$?
set -e
spark_seconds=$(elapsed "$t0" "$(now)")
grep '^callqa_job.py:' "$work/spark-3.log" | sed 's/^/   /' || true
echo "   exit $spark_exit, $spark_seconds s"
[ "$spark_exit" -eq "$single_exit" ] ||
  fail "exit $spark_exit, one run's is $single_exit (log: $work/spark-3.log)"
grep -q 'failure injected by CALLQA_SPARK_FAIL_ONCE' "$work/spark-3.log" ||
  fail "the injected failure did not happen"
grep -q '^callqa_job.py: shard 1/3: attempt 1,' "$work/spark-3.log" ||
  fail "shard 1 was not retried (attempt 1)"
grep -q '^callqa_job.py: 3 shards in .*, 1 failed task attempt(s) retried' "$work/spark-3.log" ||
  fail "Spark's status does not count the one failed attempt"
cmp "$work/parts-3/part-1.failed-attempt" "$work/parts-3/part-1" ||
  fail "the retried shard's partial differs from the failed attempt's"
for file in "${report_files[@]}"; do
  cmp "$work/single/$file" "$work/spark-3/$file" || fail "$file differs from one run's"
done
echo "   retried once; the retry's partial is the failed attempt's, byte for byte;"
echo "   the six report files are one run's, byte for byte"

echo "== python callqa_job.py --master local[2,3] --callqa PATH --manifest FILE: 7 shards, the merge's --format csv on stdout"
t0=$(now)
set +e
python scale/spark/callqa_job.py --master 'local[2,3]' \
  --shards 7 --partials "$work/parts-7" --callqa "$callqa" --manifest "$work/manifest.txt" \
  --merge "${options[@]}" --format csv -q >"$work/spark-7.stdout" 2>"$work/spark-7.log"
spark7_exit=$?
set -e
spark7_seconds=$(elapsed "$t0" "$(now)")
echo "   exit $spark7_exit, $spark7_seconds s"
[ "$spark7_exit" -eq "$single_stdout_exit" ] ||
  fail "exit $spark7_exit, one run's is $single_stdout_exit (log: $work/spark-7.log)"
cmp "$work/single.stdout" "$work/spark-7.stdout" ||
  fail "standard output differs from one run's (callqa audit --manifest)"
echo "   standard output is one run's, byte for byte"

echo "== passed: the Spark local run (3 shards, one retried) took $spark_seconds s, one run $single_seconds s"
