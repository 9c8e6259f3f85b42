# One function's code object replaced by another's at the same address, the stack above
# it the same: for the record tests that a stack seen before is not counted for the
# new code (a profile keyed on code addresses and offsets alone would go on naming the old
# function). Usage: python codeswap.py SECONDS. Prints "ready", waits for a line on stdin,
# runs alpha() for SECONDS/2 of wall time, frees it, makes beta() (the same code but its
# name) until its code object lands at alpha's address (keeping the misses alive), runs
# beta() for SECONDS/2, and prints "reused=0|1".
# Runs on Python 2.7 and 3.x.
import sys
import time

TEMPLATE = """
def %s(n):
    x = 0
    for j in range(n):
        x += j
    return x
"""


def make(name):
    ns = {}
    exec(compile(TEMPLATE % name, "<%s>" % name, "exec"), ns)
    return ns[name]


def run(f, seconds):
    end = time.time() + seconds
    while time.time() < end:
        f(2000)


def main():
    seconds = float(sys.argv[1])
    f = make("alpha")
    where = id(f.__code__)
    reused = 0
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    for phase in (0, 1):
        if phase:
            f = None    # alpha's function and code object are freed
            misses = []
            for _ in range(200):
                f = make("beta")
                if id(f.__code__) == where:
                    reused = 1
                    break
                misses.append(f)
        run(f, seconds / 2)     # one call site: the frames above the swapped one are the same
    sys.stdout.write("reused=%d\n" % reused)
    sys.stdout.flush()

main()
