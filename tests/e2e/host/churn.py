"""Keeps the memory pyhang walks changing under it: threads start and end,
each compiling fresh functions, recursing deep, then dropping the code objects
(ns.clear() breaks the function/globals cycle, so they are freed at once),
and large buffers are mapped and unmapped. Prints "ready" once running.
Runs on 2.7 and 3.x. Used by tests/e2e/run_host.py."""
import random
import sys
import threading
import time

SRC = """
def churn_%(n)d(depth):
    if depth:
        return churn_%(n)d(depth - 1) + 1
    x = 0
    for i in range(300):
        x += i
    return x
"""


def one(n):
    ns = {}
    code = compile(SRC % {"n": n}, "<churn %d>" % n, "exec")
    exec(code, ns)
    ns["churn_%d" % n](random.randrange(50, 400))
    buf = bytearray(1 << 20)
    buf[-1] = 1
    del buf
    ns.clear()
    del code


def thread_body(base):
    for i in range(20):
        one(base + i)


def main():
    counter = [0]
    sys.setrecursionlimit(2000)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    threads = []
    while True:
        threads = [t for t in threads if t.is_alive()]
        while len(threads) < 4:
            counter[0] += 100
            t = threading.Thread(target=thread_body, args=(counter[0],))
            t.daemon = True
            t.start()
            threads.append(t)
        counter[0] += 1
        one(counter[0])
        time.sleep(0.001)


main()
