# Python -> C -> Python: a sort key function (called by the C sorted()) that sleeps.
# @gil none
import time

from _e2e import ready


def slow_key(x):
    if x == 2:
        ready()
        time.sleep(1000)  # @stack main 0
    return x


def order(values):
    return sorted(values, key=slow_key)  # @stack main 1


order([3, 1, 2])  # @stack main 2
