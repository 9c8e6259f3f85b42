# Healthy for ~3 s, then two threads take two RLocks in opposite orders (3.14: PyMutex-based).
# Expected: "deadlock" naming both threads, each at its @hang line.
import threading
import time

import _healthy

a = threading.RLock()
b = threading.RLock()


def first():
    with a:
        time.sleep(0.3)
        _healthy.hang_start()
        with b:  # @hang
            pass


def second():
    with b:
        time.sleep(0.3)
        with a:  # @hang
            pass


_healthy.start_background()
_healthy.ready()
_healthy.healthy()
x = threading.Thread(target=first)
y = threading.Thread(target=second)
x.daemon = y.daemon = True
x.start()
y.start()
while True:
    _healthy.healthy(1.0)
