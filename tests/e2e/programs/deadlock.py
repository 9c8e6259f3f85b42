# Two threads deadlocked on two locks taken in opposite orders; main sleeps.
# @gil none
import threading
import time

from _e2e import ready, settle, start

lock_a = threading.Lock()
lock_b = threading.Lock()
has_a = threading.Event()
has_b = threading.Event()
blocking = [threading.Event(), threading.Event()]


def transfer_ab():
    with lock_a:
        has_a.set()
        has_b.wait()
        blocking[0].set()
        lock_b.acquire()  # @stack ab 0 @syscall ab futex


def transfer_ba():
    lock_b.acquire()
    has_b.set()
    has_a.wait()
    blocking[1].set()
    with lock_a:  # @stack ba 0 @syscall ba futex
        pass


start(transfer_ab)
start(transfer_ba)
settle(blocking)
ready()
while True:
    time.sleep(1000)  # @stack main 0 @syscall main select|pselect6|clock_nanosleep|nanosleep
