"""Runs as /app/m.py inside a root of its own (pivot_root), then replaces its own file with a
symlink to argv[1], a path that exists only on the host. pyhang must never show that file."""
import os
import sys
import time

TARGET = sys.argv[1]


def wait_here():
    time.sleep(3600)  # line 11: the line a dump would show


os.unlink(__file__)
os.symlink(TARGET, __file__)
sys.stdout.write("ready\n")
sys.stdout.flush()
wait_here()
