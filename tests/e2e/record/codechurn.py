# Code objects made and freed all the time, most at the address of one just freed: for
# the record tests of how a sampled frame's code object is told from one made later at
# its address (the sampler's fingerprints; on 3.12+ the code-version ceiling).
# Usage: python codechurn.py SECONDS [subinterp]. Prints "ready", waits for a line on
# stdin, then for SECONDS of wall time makes generation after generation: generation k
# exec()s six new functions g_K_0 .. g_K_5 (K = k % 50, file "<gen K>"), each calling the
# next, g_K_5 calling work(), which makes a W (its __init__ works); runs the chain; drops
# them (their code objects are freed). So every stack a sample can see is
# <module>;main;churn;g_K_0;...;g_K_j[;work[;__init__ shim;W.__init__]] with one K, in
# order. With "subinterp" a subinterpreter is made (and destroyed) first (3.12+). Prints
# "generations=N".
# Runs on Python 2.7 and 3.x.
import sys
import time

TEMPLATE = """
def g_%(k)d_%(i)d(n):
    x = 0
    for j in range(n):
        x += j * %(i)d
    return x + %(next)s(n)
"""


class W(object):
    def __init__(self, n):
        x = 0
        for j in range(n):
            x += j
        self.x = x


def work(n):
    return W(n).x   # 3.13+: a class call runs __init__ under a shim frame of a static code object


def churn(k):
    ns = {"work": work}
    src = "".join(TEMPLATE % {"k": k, "i": i, "next": "g_%d_%d" % (k, i + 1) if i < 5 else "work"}
                  for i in range(6))
    exec(compile(src, "<gen %d>" % k, "exec"), ns)
    return ns["g_%d_0" % k](300)


def main():
    seconds = float(sys.argv[1])
    if sys.argv[2:] == ["subinterp"]:
        try:
            import _interpreters as interpreters    # 3.13+
        except ImportError:
            import _xxsubinterpreters as interpreters   # 3.12
        interpreters.destroy(interpreters.create())
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    n = 0
    end = time.time() + seconds
    while time.time() < end:
        churn(n % 50)
        n += 1
    sys.stdout.write("generations=%d\n" % n)
    sys.stdout.flush()


main()
