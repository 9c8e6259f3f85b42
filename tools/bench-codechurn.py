#!/usr/bin/python3
"""The collector's memory while the target keeps making new code.

  tools/bench-codechurn.py [--pyhang build/pyhang] [--seconds 600] [--every 30] [--rate 999]
                           [--interp LABEL]

A program that exec()s freshly generated functions in a loop (each generation's code objects
replace the last's, often at the same addresses) is recorded by `pyhang record --pid -r RATE`
for --seconds; pyhang's resident set size (VmRSS) and high-water mark (VmHWM) are printed
every --every seconds. The claim is a flat line: after the first minute, RSS stays within a
few MiB however long it runs. At the end the profile is checked: every generated function
it names must be one the program made (no name from a freed code object).
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import interpreters  # noqa: E402  (tests/lib: the one list of interpreters)

PROGRAM = """\
import sys
TEMPLATE = '''
def gen_%(k)d_%(i)d(n):
    x = 0
    for j in range(n):
        x += j * %(i)d
    return x
'''
sys.stdout.write("ready\\n")
sys.stdout.flush()
k = 0
while True:
    k += 1
    ns = {}
    for i in range(20):
        exec(TEMPLATE % {"k": k % 1000, "i": i}, ns)
    for i in range(20):
        ns["gen_%d_%d" % (k % 1000, i)](2000)
"""


def status(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) // 1024
    except OSError:
        pass
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyhang", default=os.path.join(ROOT, "build", "pyhang"))
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--every", type=float, default=30)
    ap.add_argument("--rate", type=int, default=999)
    ap.add_argument("--interp", default="3.12.1")
    args = ap.parse_args()
    pys = [p for l, p in interpreters.present() if l == args.interp]
    if not pys:
        print("bench-codechurn: %s is not installed" % args.interp, file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="pyhang-codechurn-")
    prog, out = os.path.join(tmp, "churn.py"), os.path.join(tmp, "p.folded")
    with open(prog, "w") as f:
        f.write(PROGRAM)
    target = subprocess.Popen([pys[0], prog], stdout=subprocess.PIPE, universal_newlines=True,
                              start_new_session=True)
    assert target.stdout.readline().strip() == "ready"
    rec = subprocess.Popen([args.pyhang, "record", "-r", str(args.rate), "-f", "folded", "-o", out,
                            "--pid", str(target.pid)], stderr=subprocess.PIPE,
                           universal_newlines=True)
    print("pyhang record -r %d of a program exec()ing 20 new functions per loop, %s (%.0f s)" % (
        args.rate, args.interp, args.seconds))
    print("t (s)   VmRSS (MiB)   VmHWM (MiB)")
    t0 = time.time()
    try:
        while time.time() - t0 < args.seconds:
            time.sleep(min(args.every, max(0.1, args.seconds - (time.time() - t0))))
            st = status(rec.pid)
            print("%5.0f   %11s   %11s" % (time.time() - t0, st.get("VmRSS", "-"), st.get("VmHWM", "-")))
            sys.stdout.flush()
    finally:
        rec.send_signal(signal.SIGINT)
        err = rec.communicate(timeout=120)[1]
        os.killpg(target.pid, signal.SIGKILL)
        target.wait()
    names = set()
    with open(out) as f:
        for line in f:
            names.update(re.findall(r"gen_(\d+)_(\d+)", line))
    bad = [n for n in names if not (0 <= int(n[0]) < 1000 and 0 <= int(n[1]) < 20)]
    print("profile: %d generated functions named, %d impossible names; %s" % (
        len(names), len(bad), err.strip().splitlines()[0] if err.strip() else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
