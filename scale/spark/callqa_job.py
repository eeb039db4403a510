"""A sharded callqa audit as a Spark job.

Runs ``callqa audit INPUTS --shard i/N --partial PARTIALS/part-i`` as N Spark tasks, then
``callqa merge`` of those N partials on the driver. The merged report is the one a single
``callqa audit INPUTS`` writes (byte for byte); the driver's exit code is the merge's.

    spark-submit [--files callqa] callqa_job.py --shards N --partials DIR
        [--callqa PATH] [--manifest FILE] [PATH...]
        [--audit FLAG...]        flags for every shard (--rules, --metadata, --as-of, ...)
        [--merge FLAG...]        flags for the merge (-o DIR, --format, --fail-on, ...)

PATHs, the manifest, the rule files and the partials' folder must be readable (the folder
writable) under the same names on the driver and on every executor: absolute paths on
shared storage (/dbfs/..., an NFS or EFS mount), or object-storage URLs callqa reads.

spark-submit merges the Python driver's standard error into its standard output, so the
merge's --format output is best taken with -o (or the job run as ``python callqa_job.py
--master ...``, where the two streams stay apart).

The binary: ``--callqa PATH`` (on the driver), else a ``callqa`` shipped with
``spark-submit --files``, else ``callqa`` on the driver's PATH. The job ships it to the
executors itself (SparkContext.addFile) unless ``--callqa-on-executors PATH`` names where
every executor already has it.

A task that fails is retried by Spark (spark.task.maxFailures; ``local[K,F]`` in local mode):
a partial is written through a temporary file and renamed into place, and a retry writes the
same bytes, so a retried or speculative attempt is harmless. A shard's usage error (exit 2:
a bad flag, rule file or PATH) is the same on every attempt: it is not retried, and it ends
the job with exit 2 before the merge. A shard that still fails after Spark's retries ends the
job with its last exit code (128 + the signal if it was killed; 3 if none is known).

For tests, ``CALLQA_SPARK_FAIL_ONCE=I`` (read on the driver) makes the first attempt of shard
I fail after it has written its partial, whose bytes it first copies to
``PARTIALS/part-I.failed-attempt``: the retry must then write the same bytes.
"""

import argparse
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import time

FAIL_ONCE_VARIABLE = "CALLQA_SPARK_FAIL_ONCE"
USAGE_ERROR = 2
UNKNOWN_FAILURE = 3
# How a failed task reports callqa's exit code in its exception, for the driver to find.
EXIT_MARK = "callqa audit exited with code"


def split_segments(argv):
    """Cuts argv into the job's own arguments, the shards' flags and the merge's flags."""
    segments = {"job": [], "audit": [], "merge": []}
    current = "job"
    for argument in argv:
        if argument in ("--audit", "--merge"):
            current = argument[2:]
        else:
            segments[current].append(argument)
    return segments


def parse_arguments(argv):
    segments = split_segments(argv)
    parser = argparse.ArgumentParser(
        prog="callqa_job.py",
        description="callqa audit cut into N Spark tasks, merged on the driver.",
        epilog="Flags after --audit go to every shard's `callqa audit`; flags after --merge "
        "go to `callqa merge` (-o DIR, --format, --fail-on, --fail-under, --baseline, ...).",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="input files or folders")
    parser.add_argument("--manifest", help="a file listing more inputs, one a line")
    parser.add_argument("--shards", type=int, required=True, metavar="N", help="number of tasks")
    parser.add_argument(
        "--partials",
        required=True,
        metavar="DIR",
        help="where the tasks write part-0 .. part-(N-1) (shared storage)",
    )
    parser.add_argument(
        "--master",
        help="the Spark master when run with python rather than spark-submit (local[2,3], ...)",
    )
    parser.add_argument("--callqa", metavar="PATH", help="the callqa binary on the driver")
    parser.add_argument(
        "--callqa-on-executors",
        metavar="PATH",
        help="where every executor already has callqa (then it is not shipped)",
    )
    options = parser.parse_args(segments["job"])
    if options.shards < 1:
        parser.error("--shards must be at least 1")
    if not options.paths and not options.manifest:
        parser.error("give the inputs: PATHs or --manifest FILE")
    options.audit_flags = segments["audit"]
    options.merge_flags = segments["merge"]
    return options


def driver_binary(options):
    """The callqa the driver runs (the merge) and ships to the executors."""
    from pyspark import SparkFiles

    candidates = [options.callqa] if options.callqa else []
    if not options.callqa:
        # spark-submit --files callqa: the working folder on YARN, SparkFiles elsewhere.
        candidates.append(os.path.join(os.getcwd(), "callqa"))
        try:
            candidates.append(SparkFiles.get("callqa"))
        except Exception:  # no SparkContext files root
            pass
        candidates.append(shutil.which("callqa"))
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            ensure_executable(candidate)
            return os.path.abspath(candidate)
    sys.exit("callqa_job.py: no callqa binary: give --callqa PATH or spark-submit --files callqa")


def ensure_executable(path):
    if not os.access(path, os.X_OK):
        mode = os.stat(path).st_mode
        os.chmod(path, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def executor_binary(shipped_name, fixed_path):
    """The callqa a task runs: the fixed path, else the shipped copy."""
    if fixed_path:
        return fixed_path
    from pyspark import SparkFiles

    for candidate in (SparkFiles.get(shipped_name), os.path.join(os.getcwd(), shipped_name)):
        if os.path.isfile(candidate):
            ensure_executable(candidate)
            return candidate
    raise RuntimeError("callqa was not shipped to this executor (%s)" % shipped_name)


def is_url(path):
    return re.match(r"^[a-z][a-z0-9+.-]*://", path) is not None


def partial_path(partials, index):
    return "%s/part-%d" % (partials.rstrip("/"), index)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_task(options, shipped_name, fail_once, task_cpus):
    """The function each task runs on its shard's index; it captures only plain values."""
    shards = options.shards
    partials = options.partials
    inputs = list(options.paths) + (["--manifest", options.manifest] if options.manifest else [])
    audit_flags = list(options.audit_flags)
    if not any(re.match(r"^(-j|--threads)(=?\d*)$", flag) for flag in audit_flags):
        audit_flags += ["-j", str(task_cpus)]  # the cores Spark gave the task
    fixed_path = options.callqa_on_executors

    def run_shard(index):
        from pyspark import TaskContext

        attempt = TaskContext.get().attemptNumber()
        binary = executor_binary(shipped_name, fixed_path)
        target = partial_path(partials, index)
        command = [binary, "audit"] + inputs + audit_flags
        command += ["--shard", "%d/%d" % (index, shards), "--partial", target]
        started = time.monotonic()
        run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seconds = time.monotonic() - started
        stderr = run.stderr.decode("utf-8", "replace").strip()
        code = run.returncode if run.returncode >= 0 else 128 - run.returncode
        if code == USAGE_ERROR:
            # The same flags fail the same way on every attempt: report, do not retry.
            return {"shard": index, "attempt": attempt, "exit": code, "stderr": stderr}
        if code != 0:
            raise RuntimeError(
                "shard %d/%d, attempt %d: %s %d: %s"
                % (index, shards, attempt, EXIT_MARK, code, stderr)
            )
        if fail_once == index and attempt == 0:
            shutil.copyfile(target, target + ".failed-attempt")
            raise RuntimeError(
                "shard %d/%d, attempt 0: failure injected by %s after writing %s"
                % (index, shards, FAIL_ONCE_VARIABLE, target)
            )
        local = not is_url(target)  # an object-storage partial is not opened here
        return {
            "shard": index,
            "attempt": attempt,
            "exit": 0,
            "stderr": stderr,
            "bytes": os.path.getsize(target) if local else -1,
            "sha256": sha256(target) if local else "-",
            "seconds": round(seconds, 2),
        }

    return run_shard


def failed_task_attempts(context, group):
    """Task attempts that failed in this job group (retried by Spark), from the status store."""
    tracker = context.statusTracker()
    failed = 0
    for job_id in tracker.getJobIdsForGroup(group):
        job = tracker.getJobInfo(job_id)
        for stage_id in job.stageIds if job else []:
            stage = tracker.getStageInfo(stage_id)
            failed += stage.numFailedTasks if stage else 0
    return failed


def stop(spark):
    """Stops Spark at the end; Databricks' shared context is left to Databricks."""
    if "DATABRICKS_RUNTIME_VERSION" not in os.environ:
        spark.stop()


def main(argv):
    options = parse_arguments(argv)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("callqa audit, %d shards" % options.shards)
    if options.master:
        builder = builder.master(options.master)
    spark = builder.getOrCreate()
    try:
        # Spark stops after the merge: a binary shipped with --files lives in Spark's
        # temporary folder, which stopping removes.
        return run_job(options, spark)
    finally:
        stop(spark)


def run_job(options, spark):
    context = spark.sparkContext
    binary = driver_binary(options)
    shipped_name = os.path.basename(binary)
    if not options.callqa_on_executors:
        try:
            context.addFile(binary)
        except Exception as error:  # already shipped under that name by --files
            if "already" not in str(error).lower():
                raise
    fail_once = os.environ.get(FAIL_ONCE_VARIABLE)
    fail_once = int(fail_once) if fail_once not in (None, "") else None
    task_cpus = int(context.getConf().get("spark.task.cpus", "1"))
    if not is_url(options.partials):
        os.makedirs(options.partials, exist_ok=True)

    group = "callqa-shards-%d" % os.getpid()
    context.setJobGroup(group, "callqa audit --shard i/%d" % options.shards)
    task = make_task(options, shipped_name, fail_once, task_cpus)
    started = time.monotonic()
    try:
        results = context.parallelize(range(options.shards), options.shards).map(task).collect()
    except Exception as error:  # retries exhausted
        message = str(error)
        found = re.findall(EXIT_MARK + r" (\d+)", message)
        code = int(found[-1]) if found else UNKNOWN_FAILURE
        lines = [line for line in message.splitlines() if EXIT_MARK in line or "injected" in line]
        print("callqa_job.py: the shards failed after Spark's retries:", file=sys.stderr)
        print("\n".join(lines[-3:]) or message[-2000:], file=sys.stderr)
        return code
    shard_seconds = time.monotonic() - started
    retried = failed_task_attempts(context, group)

    results.sort(key=lambda result: result["shard"])
    usage_errors = [result for result in results if result["exit"] != 0]
    for result in usage_errors:
        print(
            "callqa_job.py: shard %d/%d: %s" % (result["shard"], options.shards, result["stderr"]),
            file=sys.stderr,
        )
    if usage_errors:
        return USAGE_ERROR
    for result in results:
        print(
            "callqa_job.py: shard %d/%d: attempt %d, %d bytes, sha256 %s, %.2f s"
            % (
                result["shard"],
                options.shards,
                result["attempt"],
                result["bytes"],
                result["sha256"],
                result["seconds"],
            ),
            file=sys.stderr,
        )
    print(
        "callqa_job.py: %d shards in %.1f s, %d failed task attempt(s) retried"
        % (options.shards, shard_seconds, retried),
        file=sys.stderr,
    )

    # The merge: the exact list of this run's partials (not a glob, which could take a
    # stale part-K of an earlier run with more shards). Standard output passes through.
    merge = [binary, "merge"] + [partial_path(options.partials, i) for i in range(options.shards)]
    merge += options.merge_flags
    sys.stdout.flush()
    sys.stderr.flush()
    code = subprocess.run(merge).returncode
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
