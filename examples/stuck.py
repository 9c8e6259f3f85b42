# The classic stuck program from the gdb + python-dbg tutorials: a loop that
# spends its life in time.sleep() inside a function. `make demo` runs pyhang on it.
import time


def next(i):
    time.sleep(10)
    i = 1 - i


i = 1
while True:
    next(i)
