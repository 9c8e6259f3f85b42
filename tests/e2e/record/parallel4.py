# Four threads burning CPU at once, each in its own function, each busy a
# different share of the time (100%, 75%, 50%, 25% of every 20 ms), for
# `pyhang record` tests of free-threaded builds, where they truly run in
# parallel. Usage: python parallel4.py SECONDS. Prints "ready", waits for a
# line on stdin, works for SECONDS of wall time, then prints each thread's own
# CPU time as "cpu_0=<s> cpu_1=<s> cpu_2=<s> cpu_3=<s>".
import ctypes
import sys
import threading
import time


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc = ctypes.CDLL(None)
_CLOCK_THREAD_CPUTIME_ID = 3
CYCLE = 0.020


def thread_cpu():
    ts = _Timespec()
    _libc.clock_gettime(_CLOCK_THREAD_CPUTIME_ID, ctypes.byref(ts))
    return ts.tv_sec + ts.tv_nsec * 1e-9


def work(end, duty, out, k):
    t0 = thread_cpu()
    while time.time() < end:
        busy_until = time.time() + CYCLE * duty
        x = 0
        while time.time() < busy_until:
            x += 1
        if duty < 1:
            time.sleep(CYCLE * (1 - duty))
    out[k] = thread_cpu() - t0


def burn_0(end, out):
    work(end, 1.0, out, 0)


def burn_1(end, out):
    work(end, 0.75, out, 1)


def burn_2(end, out):
    work(end, 0.5, out, 2)


def burn_3(end, out):
    work(end, 0.25, out, 3)


def main():
    seconds = float(sys.argv[1])
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    out = [0.0] * 4
    end = time.time() + seconds
    ths = [threading.Thread(target=f, args=(end, out)) for f in (burn_0, burn_1, burn_2, burn_3)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    sys.stdout.write(" ".join("cpu_%d=%.6f" % (k, out[k]) for k in range(4)) + "\n")
    sys.stdout.flush()


main()
