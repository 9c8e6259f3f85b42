# A consumer blocked in queue.get() with no producer. Frames 0 and 1 are the standard
# library's (Condition.wait, Queue.get); the "ext" markers name them.
# @gil none
# @ext consumer 0 wait threading.py
# @ext consumer 1 get queue.py|Queue.py
import threading
import time

try:
    import queue
except ImportError:
    import Queue as queue

from _e2e import ready, settle, start

jobs = queue.Queue()
waiting = threading.Event()


def consume():
    waiting.set()
    return jobs.get()  # @stack consumer 2 @syscall consumer futex


def consumer_main():
    consume()  # @stack consumer 3


start(consumer_main)
settle([waiting])
ready()
while True:
    time.sleep(1000)  # @stack main 0
