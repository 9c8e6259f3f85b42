# A known CPU split for `pyhang record` tests: ~75% of the CPU in a(), ~25% in b().
# Usage: python cpu_split.py SECONDS. Prints "ready", waits for a line on stdin,
# works for SECONDS of wall time, then prints the thread CPU time spent in each
# function (measured around every call) as "cpu_a=<s> cpu_b=<s>".
# Runs on Python 2.7 and 3.x.
import ctypes
import sys
import time


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc = ctypes.CDLL(None)
_ts = _Timespec()
_CLOCK_THREAD_CPUTIME_ID = 3


def thread_cpu():
    _libc.clock_gettime(_CLOCK_THREAD_CPUTIME_ID, ctypes.byref(_ts))
    return _ts.tv_sec + _ts.tv_nsec * 1e-9


def a(n=30000):
    x = 0
    for i in range(n):
        x += i * i
    return x


def b(n=10000):
    x = 0
    for i in range(n):
        x += i * i
    return x


# Each call's length varies (half to one and a half times its mean, from an LCG): with a
# fixed a/b cycle, ~2 ms where the tests record at 500 Hz, the sampler's fixed period
# could lock onto one phase of it and see a() 5-10 points too often, run after run.
_seed = [12345]


def jitter(n):
    _seed[0] = (_seed[0] * 1103515245 + 12345) & 0x7fffffff
    return n // 2 + _seed[0] % (n + 1)


def main():
    seconds = float(sys.argv[1])
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    cpu_a = cpu_b = 0.0
    end = time.time() + seconds
    while time.time() < end:
        na, nb = jitter(30000), jitter(10000)
        t0 = thread_cpu()
        a(na)
        t1 = thread_cpu()
        b(nb)
        t2 = thread_cpu()
        cpu_a += t1 - t0
        cpu_b += t2 - t1
    sys.stdout.write("cpu_a=%.6f cpu_b=%.6f\n" % (cpu_a, cpu_b))
    sys.stdout.flush()


main()
