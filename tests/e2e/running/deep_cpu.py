# CPU-bound, deep and fast-changing: the stack goes 20-60 frames down and back
# up thousands of times a second, through plain calls, a generator, a method
# and a closure. CALLS is the whole call graph by function name (co_name):
# which callers each function may have. The test checks every frame of every
# dump against it.
import json
import sys

CALLS = {
    "main": ["<module>"],
    "descend": ["main", "descend", "step"],
    "step": ["descend"],
    "numbers": ["descend"],
    "leaf": ["descend", "numbers", "inner"],
    "closure": ["descend"],
    "inner": ["descend"],
    "<genexpr>": ["leaf"],
}


class Walker(object):
    def step(self, n):
        return descend(n - 1, self)


def numbers(n):
    for i in range(n):
        yield leaf(i)


def leaf(i):
    return sum(j * j for j in range(i % 7 + 3))


def closure(k):
    def inner(n):
        return leaf(n + k)
    return inner


def descend(n, w):
    if n <= 0:
        return sum(numbers(5))
    if n % 7 == 0:
        return w.step(n)
    if n % 11 == 0:
        return descend(n - 1, w) + closure(n)(n)
    return descend(n - 1, w) + leaf(n)


def main():
    w = Walker()
    i = 0
    while True:
        descend(20 + i % 40, w)
        i += 1


sys.stdout.write("READY " + json.dumps(CALLS) + "\n")
sys.stdout.flush()
main()
