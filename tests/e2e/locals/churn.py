# Threads that change their locals as fast as they can while pyhang reads them: every value
# read must be a repr or <unreadable>, never a crash, never a hang.
import threading
import time

from _report import ready


def mutate():
    d = {}
    items = []
    n = 0
    while True:
        n += 1
        d[n % 97] = [n] * (n % 7)
        items.append(str(n))
        if len(items) > 50:
            del items[:25]
        s = set(items[-10:])
        if n % 1000 == 0:
            d.clear()


def recurse(k):
    local = [k] * 3
    if k > 0:
        return recurse(k - 1) + len(local)
    return 0


def spin():
    while True:
        recurse(40)


for target in (mutate, spin):
    t = threading.Thread(target=target)
    t.daemon = True
    t.start()
ready()
time.sleep(1000)
