# Recursion DEPTH levels deep through rec(), then spin() burns CPU for SECONDS.
# Usage: python deep.py DEPTH SECONDS. Prints "ready", waits for a line on stdin.
# Runs on Python 2.7 and 3.x.
import sys
import time


def spin(seconds):
    end = time.time() + seconds
    x = 0
    while time.time() < end:
        for i in range(1000):
            x += i


def rec(n, seconds):
    if n <= 1:
        spin(seconds)
        return
    rec(n - 1, seconds)


def main():
    sys.setrecursionlimit(10000)
    depth = int(sys.argv[1])
    seconds = float(sys.argv[2])
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    rec(depth, seconds)


main()
