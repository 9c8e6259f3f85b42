# 32 sleeping threads, each four frames deep with a handful of locals of every kind: the
# program tools/bench-locals.py times `dump --locals` on.
import threading
import time

from _report import ready

THREADS = 32


def leaf(n, ev):
    name = "worker-%d" % n
    numbers = list(range(100))
    table = dict(("k%d" % i, i * 1.5) for i in range(20))
    big = 2 ** 200 + n
    ev.set()
    time.sleep(1000)
    return name, numbers, table, big


def middle(n, ev):
    words = ("alpha", "beta", u"\u03b3amma", b"delta")
    seen = set(range(n, n + 10))
    return leaf(n, ev)


def top(n, ev):
    depth = 3
    ratio = n / 7.0
    flags = [True, False, None]
    return middle(n, ev)


def run(n, ev):
    started = time.time()
    return top(n, ev)


events = []
for i in range(THREADS):
    ev = threading.Event()
    events.append(ev)
    t = threading.Thread(target=run, args=(i, ev))
    t.daemon = True
    t.start()
for ev in events:
    ev.wait(30)
time.sleep(0.3)
ready()
time.sleep(1000)
