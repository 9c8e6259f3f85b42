"""Recursion 10,000 frames deep, blocked at the bottom."""
import sys
import time

sys.setrecursionlimit(20000)


def down(n):
    if n:
        return down(n - 1)  # line 10
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    time.sleep(3600)  # line 13


down(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)
