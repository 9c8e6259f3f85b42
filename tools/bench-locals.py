#!/usr/bin/python3
"""The cost of `pyhang dump --locals` on a 33-thread Python program, beside `dump` without it.

  tools/bench-locals.py [--pyhang build/pyhang] [--runs 20] [--interp LABEL ...]

For each interpreter it starts tests/e2e/locals/threads32.py (32 sleeping threads, each four
frames deep with 4 - 5 locals per frame: strings, a 100-item list, a 20-item dict, a big int,
sets, tuples), then times `dump --json --pid PID` and `dump --json --locals --pid PID`
alternately RUNS times each (wall clock of the whole process, after one warm-up of each),
and prints the medians, the difference, and how many locals were read.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAM = os.path.join(ROOT, "tests", "e2e", "locals", "threads32.py")
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import interpreters  # noqa: E402  (tests/lib: the one list of interpreters)
DEFAULT = ("2.7.18", "3.12.1", "debian-3.11", "3.14.7")


def timed(argv):
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    ms = (time.perf_counter() - t0) * 1000
    if r.returncode:
        sys.exit("bench-locals: %s failed: %s" % (" ".join(argv), r.stderr.decode()[:200]))
    return ms, r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyhang", default=os.path.join(ROOT, "build", "pyhang"))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--interp", action="append")
    args = ap.parse_args()
    want = args.interp or DEFAULT
    print("%-12s %8s %8s %8s %8s %8s" % ("python", "dump ms", "+locals", "diff", "locals",
                                          "per local"))
    for label, interp in interpreters.present():
        if label not in want:
            continue
        proc = subprocess.Popen([interp, PROGRAM], cwd=os.path.dirname(PROGRAM),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            if proc.stdout.readline().strip() != b"READY":
                print("%-12s did not start" % label)
                continue
            pid = str(proc.pid)
            plain = [args.pyhang, "dump", "--json", "--pid", pid]
            loc = plain + ["--locals"]
            timed(plain)
            _, out = timed(loc)
            doc = json.loads(out)
            nlocals = sum(len(f.get("locals") or []) for t in doc["threads"]
                          for f in t["frames"])
            a, b = [], []
            for _ in range(args.runs):
                a.append(timed(plain)[0])
                b.append(timed(loc)[0])
            ma, mb = statistics.median(a), statistics.median(b)
            print("%-12s %8.1f %8.1f %8.1f %8d %7.0fus" % (label, ma, mb, mb - ma, nlocals,
                                                           (mb - ma) * 1000 / max(1, nlocals)))
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


if __name__ == "__main__":
    main()
