#!/usr/bin/python3
"""Two builds of pyhang's sampler against each other, run by run: what each run of the BPF
program took, as quantiles, with both builds recording one target at the same time.

  make RUN_HIST=1                     # build-hist/pyhang: the sampler counts its run times
  tools/bench-pair.py A/pyhang B/pyhang [--interp LABEL] [--shape recursive|distinct]
                      [--depth 60] [--rate 999] [--rounds 6] [--seconds 4]

Both binaries must be RUN_HIST=1 builds (bpf/sampler.bpf.c, PYH_RUN_HIST). Each round starts
tools/bench-depth.py's CPU-bound program at --depth frames, starts `pyhang record` from both
builds on it (which one first alternates from round to round), waits a second, and reads each
program's histogram of run times (25 ns buckets) over --seconds. Per build it prints the 10th,
50th and 90th percentiles of a run and the mean of the middle 80%; at the end the median of
each over the rounds, and of B minus A.

Why not kernel.bpf_stats_enabled's totals: on a shared machine a few runs that the hypervisor or
an interrupt stretches by a millisecond move a mean over thousands of runs by more than the
change being judged; a percentile does not move with them. Both builds see the same ticks,
target and moment, so what the machine does to one round it does to both. Figures are higher
than a single build's: two programs run at every tick. And one that runs just after the other (their
timers' phases are whatever they were started at) finds the target's memory warm: at 99 Hz, where
a run alone finds it cold, that decides a round, so there use --solo (each build alone, one after
the other on the round's target).
"""
import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import interpreters  # noqa: E402  (tests/lib: the one list of interpreters)

_spec = importlib.util.spec_from_file_location("bench_depth", os.path.join(ROOT, "tools", "bench-depth.py"))
bench_depth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_depth)

BUCKET_NS = 25  # PYH_RUN_HIST_NS
QUANTILES = (10, 50, 90)


def hist_map_id(pid):
    """The id of the run_hist map that process pid holds, None when it holds none."""
    mine = bench_depth.fdinfo_ids(pid, "map_id")
    out = subprocess.run(["bpftool", "map", "show", "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, timeout=30).stdout
    for m in json.loads(out or b"[]"):
        if m.get("name") == "run_hist" and m.get("id") in mine:
            return m["id"]
    return None


def read_hist(map_id):
    """Bucket -> runs so far, summed over the CPUs."""
    out = subprocess.run(["bpftool", "map", "dump", "id", str(map_id), "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30).stdout
    h = {}
    for e in json.loads(out or b"[]"):
        e = e.get("formatted", e)
        key = e["key"]
        if isinstance(key, list):  # raw bytes, little-endian
            key = int.from_bytes(bytes(int(b, 16) for b in key), "little")
        total = 0
        for v in e.get("values", []):
            val = v["value"]
            if isinstance(val, list):
                val = int.from_bytes(bytes(int(b, 16) for b in val), "little")
            total += int(val)
        h[int(key)] = total
    return h


def summary(before, after):
    """{n, p10, p50, p90, tmean80} in ns from two snapshots of a histogram."""
    counts = sorted((k, after.get(k, 0) - before.get(k, 0)) for k in after)
    counts = [(k, c) for k, c in counts if c > 0]
    n = sum(c for _, c in counts)
    res = {"n": n}
    if not n:
        return res
    for q in QUANTILES:
        want, acc = q * n / 100.0, 0
        for k, c in counts:
            acc += c
            if acc >= want:
                res["p%d" % q] = (k + 0.5) * BUCKET_NS
                break
    lo, hi, seen, total, m = n // 10, n - n // 10, 0, 0.0, 0
    for k, c in counts:
        take = max(0, min(seen + c, hi) - max(seen, lo))
        total += take * (k + 0.5) * BUCKET_NS
        m += take
        seen += c
    res["tmean80"] = total / m if m else 0.0
    return res


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2.0


def stop(profs):
    for p in profs.values():
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            pass
        p.wait()
    profs.clear()


def one_round(builds, order, python, prog, args):
    target = subprocess.Popen([python, prog, str(args.depth)] + (["distinct"] if args.shape == "distinct" else []),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True, start_new_session=True)
    profs = {}
    try:
        if target.stdout.readline().strip() != "ready":
            return None
        res = {}
        for group in ([[b] for b in order] if args.solo else [list(order)]):
            for b in group:
                profs[b] = subprocess.Popen([builds[b], "record", "-r", str(args.rate), "-f", "folded",
                                             "-o", os.devnull, "--pid", str(target.pid)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True)
                time.sleep(0.4)
            time.sleep(1.0)
            ids = {b: hist_map_id(profs[b].pid) for b in group}
            for b, i in ids.items():
                if i is None:
                    sys.exit("bench-pair: %s has no run_hist map: build it with make RUN_HIST=1" % builds[b])
            before = {b: read_hist(i) for b, i in ids.items()}
            time.sleep(args.seconds)
            after = {b: read_hist(i) for b, i in ids.items()}
            res.update({b: summary(before[b], after[b]) for b in group})
            stop(profs)
        return res
    finally:
        stop(profs)
        try:
            os.killpg(target.pid, signal.SIGKILL)
        except OSError:
            pass
        target.wait()


def fmt(s):
    if not s.get("n"):
        return "no runs"
    return "n=%d %s tmean80=%.0f" % (s["n"], " ".join("p%d=%.0f" % (q, s["p%d" % q]) for q in QUANTILES),
                                     s["tmean80"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", help="pyhang built with make RUN_HIST=1 (the build before)")
    ap.add_argument("b", help="pyhang built with make RUN_HIST=1 (the build after)")
    ap.add_argument("--interp", default="3.12.1")
    ap.add_argument("--shape", default="distinct", choices=("recursive", "distinct"))
    ap.add_argument("--depth", type=int, default=60)
    ap.add_argument("--rate", type=int, default=999)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--solo", action="store_true",
                    help="one build at a time on the round's target (alternating), not both at once: "
                         "at 99 Hz each program finds the target's memory as cold as it is, not as "
                         "the other's run just before left it")
    args = ap.parse_args()
    python = dict(interpreters.present()).get(args.interp)
    if os.geteuid() != 0 or not python:
        print("bench-pair: needs root and the interpreter %s" % args.interp, file=sys.stderr)
        return 2
    builds = {"A": os.path.abspath(args.a), "B": os.path.abspath(args.b)}
    for b in builds.values():
        if not os.access(b, os.X_OK):
            print("bench-pair: %s is not an executable" % b, file=sys.stderr)
            return 2
    tmp = tempfile.mkdtemp(prefix="pyhang-pair-")
    prog = os.path.join(tmp, "deep.py")
    with open(prog, "w") as f:
        f.write(bench_depth.PROGRAM)
    print("%s %s %d frames %d Hz%s: ns a run, A = %s, B = %s" % (args.interp, args.shape, args.depth, args.rate,
                                                                  ", solo" if args.solo else "",
                                                                  builds["A"], builds["B"]))
    rounds = []
    for r in range(args.rounds):
        order = ("A", "B") if r % 2 == 0 else ("B", "A")
        res = one_round(builds, order, python, prog, args)
        if not res or not all(res[b].get("n") for b in builds):
            print("round %d: no runs measured" % r)
            continue
        rounds.append(res)
        print("round %d (%s first): A %s | B %s" % (r, order[0], fmt(res["A"]), fmt(res["B"])), flush=True)
    os.unlink(prog)
    os.rmdir(tmp)
    if not rounds:
        return 1
    keys = ["p%d" % q for q in QUANTILES] + ["tmean80"]
    line = []
    for k in keys:
        a = median([r["A"][k] for r in rounds])
        b = median([r["B"][k] for r in rounds])
        d = median([r["B"][k] - r["A"][k] for r in rounds])
        line.append("%s %.0f -> %.0f (B-A %+.0f)" % (k, a, b, d))
    print("medians over %d rounds: %s" % (len(rounds), ", ".join(line)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
