# A thread spinning on the CPU in a function (it holds the GIL); main sleeps.
import threading
import time

from _e2e import ready, settle, start

started = threading.Event()


def spin():
    n = 0
    started.set()
    while True: n += 1  # @stack spinner 0 @gil spinner @syscall spinner - @state spinner running


def spin_main():
    spin()  # @stack spinner 1


start(spin_main)
settle([started])
ready()
while True:
    time.sleep(1000)  # @stack main 0 @syscall main select|pselect6|clock_nanosleep|nanosleep
