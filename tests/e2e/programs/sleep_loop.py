# The classic hang of the gdb tutorials: a loop in a function calling a function that sleeps.
# The marker comments are the expected stacks; ../run_e2e.py explains them.
# @gil none
import time

from _e2e import ready


def next_item(i):
    time.sleep(1)  # @stack main 0 @syscall main select|pselect6|clock_nanosleep|nanosleep
    return i + 1


def loop():
    i = 0
    ready()
    while True:
        i = next_item(i)  # @stack main 1


loop()  # @stack main 2
