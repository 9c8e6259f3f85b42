# Healthy for ~3 s, then one 3.5 s sleep that returns, then healthy again.
# Expected: "blocked" at the @hang line, then "returned" with ~3.5 s.
import time

import _healthy

_healthy.start_background()
_healthy.ready()
_healthy.healthy()


def nap():
    _healthy.hang_start()
    time.sleep(3.5)  # @hang


nap()
while True:
    _healthy.healthy(1.0)
