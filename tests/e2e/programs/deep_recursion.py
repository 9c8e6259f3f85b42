# Recursion 600 deep, then a sleep: the "1..600" marker says frames 1 to 600 are all one line.
# @gil none
import time

from _e2e import ready


def descend(n):
    if n == 0:
        ready()
        time.sleep(1000)  # @stack main 0
    descend(n - 1)  # @stack main 1..600


descend(600)  # @stack main 601
