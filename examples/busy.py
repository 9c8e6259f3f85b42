# A CPU-bound program with a known split: about 3/4 of its time in parse(),
# 1/4 in render(). `make demo` records it into a flamegraph.
import sys
import time


def parse(n):
    total = 0
    for k in range(n):
        total += k * k % 7
    return total


def render(n):
    out = []
    for k in range(n):
        out.append(str(k))
    return len(out)


def main(seconds):
    end = time.time() + seconds
    while time.time() < end:
        parse(300000)
        render(60000)


main(float(sys.argv[1]) if len(sys.argv) > 1 else 5)
