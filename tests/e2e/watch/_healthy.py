# The healthy phase every watch test program goes through first: short
# sleeps, short CPU bursts and idle queue workers, for about `seconds`.
# Nothing here may be reported as a hang. Valid on Python 2.7 and 3.x.
import sys
import threading
import time

try:
    import queue
except ImportError:  # 2.7
    import Queue as queue

WORK = queue.Queue()


def _worker():
    while True:
        item = WORK.get()  # idle here: a default-ignored wait
        if item is None:
            return
        time.sleep(0.01)


def _burst(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        n += 1
    return n


def start_background():
    """Idle queue workers that live on, plus a ticker doing short work."""
    for _ in range(2):
        t = threading.Thread(target=_worker)
        t.daemon = True
        t.start()


def healthy(seconds=3.0):
    end = time.time() + seconds
    i = 0
    while time.time() < end:
        _burst(0.2)
        time.sleep(0.1)
        if i % 3 == 0:
            WORK.put(i)
        i += 1


def ready():
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    # the driver attaches watch now; give it a moment to load
    time.sleep(1.0)


def hang_start():
    sys.stdout.write("HANG_START %.6f\n" % time.time())
    sys.stdout.flush()
