# Healthy for ~3 s, then one 3.5 s sleep that returns, then healthy again.
# Expected: "blocked" at the @hang line, then "returned" with at least 3.5 s and at most
# the sleep's length as the program measured it (SLEPT).
import sys
import time

import _healthy

CLOCK = getattr(time, "monotonic", time.time)  # the kernel's clock (2.7 has only time.time)

_healthy.start_background()
_healthy.ready()
_healthy.healthy()


def nap():
    _healthy.hang_start()
    t0 = CLOCK()
    time.sleep(3.5)  # @hang
    # how long the call took as the program saw it: the system call was inside it
    sys.stdout.write("SLEPT %.6f\n" % (CLOCK() - t0))
    sys.stdout.flush()


nap()
while True:
    _healthy.healthy(1.0)
