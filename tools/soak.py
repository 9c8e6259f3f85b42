#!/usr/bin/env python3
"""Soak: `pyhang watch --all` and `pyhang record --all` through a churn of short-lived Python
processes, with their RSS and open descriptors sampled over time.

Usage: tools/soak.py [--pyhang build/pyhang] [--seconds 600] [--rate 8] [--every 30]
                     [--check]
(root). Starts both pyhang commands, then keeps starting Python processes (every installed
interpreter in turn, `--rate` a second), each living 0.2 to 1.5 s, some with many threads,
some blocked long enough to be reported, each running functions whose names and files are
its own (fresh code objects, fresh source files: the caches must evict). Every `--every`
seconds it prints one line per pyhang: time, RSS (KiB), descriptors. At the end a summary:
RSS after warm-up (the first sample after 10% of the run) and at the end, and the growth.

With --check it exits non-zero when either pyhang's RSS grew by more than 20% + 16 MiB from
warm-up to the end, its descriptors by more than 16 over the most seen from warm-up to
half-way, or it died. `make soak` runs 10 minutes;
tests/e2e/run_hostile.py runs a short one.
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import interpreters  # noqa: E402

PROGRAM = """\
import sys, threading, time
def %(fn)s(n):
    if n:
        return %(fn)s(n - 1)
    time.sleep(%(life)s)
ts = [threading.Thread(target=%(fn)s, args=(%(depth)d,)) for _ in range(%(threads)d)]
for t in ts:
    t.start()
%(fn)s(%(depth)d)
for t in ts:
    t.join()
"""


def rss_fds(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = int([l for l in f if l.startswith("VmRSS:")][0].split()[1])
        fds = len(os.listdir("/proc/%d/fd" % pid))
        return rss, fds
    except (OSError, IndexError, ValueError):
        return None, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyhang", default=os.path.join(ROOT, "build", "pyhang"))
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--rate", type=float, default=8)
    ap.add_argument("--every", type=float, default=30)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    pythons = [p for _, p in interpreters.present()]
    if not pythons:
        print("soak: no interpreter")
        return 2
    tmp = tempfile.mkdtemp(prefix="pyhang-soak-")
    watch = subprocess.Popen([a.pyhang, "watch", "--all", "--json", "--threshold", "1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    record_err = open(os.path.join(tmp, "record.err"), "w+")
    record = subprocess.Popen([a.pyhang, "record", "--all", "-v", "-r", "49", "-f", "folded",
                               "-o", os.path.join(tmp, "soak.folded")],
                              stdout=subprocess.DEVNULL, stderr=record_err)
    who = {"watch": watch, "record": record}
    samples = {k: [] for k in who}
    kids, started, n = [], time.time(), 0
    next_sample = started + min(a.every, 5)
    try:
        while time.time() - started < a.seconds:
            n += 1
            path = os.path.join(tmp, "p%06d.py" % n)
            with open(path, "w") as f:
                f.write(PROGRAM % {"fn": "soak_%06d" % n, "life": round(random.uniform(0.2, 1.5), 2),
                                   "depth": random.randrange(1, 60),
                                   "threads": random.choice([0, 0, 1, 4, 16])})
            kids.append((subprocess.Popen([pythons[n % len(pythons)], path], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL), path))
            alive = []
            for k, p in kids:
                if k.poll() is None:
                    alive.append((k, p))
                else:
                    os.unlink(p)
            kids = alive
            if time.time() >= next_sample:
                t = time.time() - started
                line = ["%6.0fs" % t, "%4d started" % n]
                for name, p in who.items():
                    rss, fds = rss_fds(p.pid)
                    samples[name].append((t, rss, fds))
                    line.append("%s rss %s KiB fds %s" % (name, rss, fds))
                print("  ".join(line))
                sys.stdout.flush()
                next_sample += a.every
            time.sleep(1.0 / a.rate)
    finally:
        for k, p in kids:
            k.kill()
            k.wait()
        for p in who.values():
            p.send_signal(signal.SIGINT)
        for p in who.values():
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
    bad = 0
    print("soak: %d processes in %.0f s" % (n, time.time() - started))
    record_err.seek(0)
    for l in record_err:
        if "the profile:" in l:     # what of record's RSS is its profile (-v's summary)
            print("soak: record: " + l.strip())
    record_err.close()
    for name, s in samples.items():
        good = [x for x in s if x[1] is not None]
        if len(good) < 2:
            print("soak: %s: died or never sampled" % name)
            bad += 1
            continue
        warm = next((x for x in good if x[0] >= a.seconds * 0.1), good[0])
        end = good[-1]
        # Descriptors are held per thing followed (watch: its probes, per interpreter binary
        # some process runs at that moment), so one sample is an instant of a moving count
        # (a run here read 154 after warm-up, 214 at the end, 215 and 214 in the next run):
        # the end is held against the most seen from warm-up to half-way, which a leak
        # outgrows and a fluctuation does not.
        base_fds = max(x[2] for x in good if warm[0] <= x[0] <= max(warm[0], a.seconds / 2))
        grew, fds = end[1] - warm[1], end[2] - base_fds
        print("soak: %s: RSS %d KiB after warm-up, %d KiB at the end (%+d KiB); descriptors %d "
              "(the most to half-way) -> %d; peak %d KiB" % (name, warm[1], end[1], grew, base_fds,
                                                            end[2], max(x[1] for x in good)))
        if len(good) < len(s):
            print("soak: %s: exited during the run" % name)
            bad += 1
        if grew > warm[1] * 0.2 + 16 * 1024 or fds > 16:
            print("soak: %s: grew" % name)
            bad += 1
    return 1 if a.check and bad else 0


if __name__ == "__main__":
    sys.exit(main())
