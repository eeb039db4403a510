"""A sharded callqa audit on Ray: N tasks of ``callqa audit --shard i/N --partial``, then
``callqa merge`` on the driver. The alternative to scale/spark/callqa_job.py, with the same
arguments:

    python callqa_ray.py --shards N --partials DIR [--callqa PATH] [--manifest FILE]
        [PATH...] [--audit FLAG...] [--merge FLAG...]

RAY_ADDRESS picks the cluster (none: a local Ray). The binary travels in Ray's object store
(no shared path needed for it); the PATHs, the manifest, the rule files and the partials'
folder must be seen under the same names by every node. A task that fails (a non-zero exit
other than a usage error, or a lost node) is retried up to --retries times: partials are
written atomically and a retry writes the same bytes. Exit code: the merge's, or a shard's
exit code when it still fails (2 for a usage error, which is not retried).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import ray

USAGE_ERROR = 2


class ShardFailed(Exception):
    """A shard's non-zero exit; args (code, message) keep it picklable."""

    @property
    def code(self):
        return self.args[0]

    def __str__(self):
        return self.args[1]


def parse_arguments(argv):
    segments = {"job": [], "audit": [], "merge": []}
    current = "job"
    for argument in argv:
        if argument in ("--audit", "--merge"):
            current = argument[2:]
        else:
            segments[current].append(argument)
    parser = argparse.ArgumentParser(prog="callqa_ray.py")
    parser.add_argument("paths", nargs="*", metavar="PATH")
    parser.add_argument("--manifest")
    parser.add_argument("--shards", type=int, required=True, metavar="N")
    parser.add_argument("--partials", required=True, metavar="DIR")
    parser.add_argument("--callqa", default=shutil.which("callqa"), metavar="PATH")
    parser.add_argument("--retries", type=int, default=3)
    options = parser.parse_args(segments["job"])
    if options.shards < 1 or not (options.paths or options.manifest) or not options.callqa:
        parser.error("needs --shards N >= 1, the inputs (PATHs or --manifest) and callqa")
    options.audit_flags, options.merge_flags = segments["audit"], segments["merge"]
    return options


def run_shard(binary_bytes, command):
    """Writes the shipped binary to a private file and runs one shard with it."""
    with tempfile.TemporaryDirectory(prefix="callqa-") as folder:
        binary = os.path.join(folder, "callqa")
        with open(binary, "wb") as file:
            file.write(binary_bytes)
        os.chmod(binary, 0o755)
        run = subprocess.run([binary] + command, stderr=subprocess.PIPE)
    code = run.returncode if run.returncode >= 0 else 128 - run.returncode
    message = run.stderr.decode("utf-8", "replace").strip()
    if code == USAGE_ERROR:
        return code, message  # the same on every attempt: not retried
    if code != 0:
        raise ShardFailed(code, "callqa audit exited with code %d: %s" % (code, message))
    return 0, message


def main(argv):
    options = parse_arguments(argv)
    os.makedirs(options.partials, exist_ok=True)
    ray.init(address=os.environ.get("RAY_ADDRESS"))
    with open(options.callqa, "rb") as file:
        binary_bytes = ray.put(file.read())
    shard = ray.remote(max_retries=options.retries, retry_exceptions=[ShardFailed])(run_shard)
    inputs = options.paths + (["--manifest", options.manifest] if options.manifest else [])
    partials = ["%s/part-%d" % (options.partials.rstrip("/"), i) for i in range(options.shards)]
    futures = [
        shard.remote(
            binary_bytes,
            ["audit"]
            + inputs
            + options.audit_flags
            + ["--shard", "%d/%d" % (i, options.shards), "--partial", partials[i]],
        )
        for i in range(options.shards)
    ]
    try:
        results = ray.get(futures)
    except ray.exceptions.RayError as error:  # a shard's error or a lost node, retries spent
        cause = getattr(error, "cause", None) or error
        print("callqa_ray.py: a shard failed after its retries: %s" % cause, file=sys.stderr)
        return cause.code if isinstance(cause, ShardFailed) else 3
    finally:
        ray.shutdown()
    usage_errors = [message for code, message in results if code != 0]
    if usage_errors:
        print("\n".join(usage_errors), file=sys.stderr)
        return USAGE_ERROR
    # This run's partials, by name (a glob could take a stale part-K of an earlier run).
    code = subprocess.run([options.callqa, "merge"] + partials + options.merge_flags).returncode
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
