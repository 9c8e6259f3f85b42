# A deep stack of distinct frames, each holding its own depth: pyhang dump --thread --frame N
# must show frame N's function, line and locals for every N.
import time

from _report import ready

DEPTH = 24


def level(n, label):
    here = n * 10
    if n == 0:
        ready()
        time.sleep(1000)
    level(n - 1, "level %d" % (n - 1))


level(DEPTH, "level %d" % DEPTH)
