# Healthy for ~3 s, then one thread holds the GIL in C (sum over a range, no
# bytecode runs) for ~10 s while another wants it after each short sleep.
# Expected: "gil" for the ticker (at @gilwait) with the holder at @hang.
import threading
import time

import _healthy

try:
    xrange
except NameError:  # 3.x
    xrange = range

stop = []


def ticker():
    while not stop:
        time.sleep(0.05)  # @gilwait


def calibrate():
    n = 2000000
    t0 = time.time()
    sum(xrange(n))
    return n / max(time.time() - t0, 1e-6)


def hold_gil(n):
    _healthy.hang_start()
    return sum(xrange(n))  # @hang


_healthy.start_background()
_healthy.ready()
t = threading.Thread(target=ticker)
t.daemon = True
t.start()
rate = calibrate()
_healthy.healthy()
while True:
    hold_gil(int(rate * 10))
    time.sleep(0.5)
