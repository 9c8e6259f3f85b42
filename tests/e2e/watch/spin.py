# Healthy for ~3 s, then the main thread spins in one function forever.
# Expected: "spinning" with spin_forever innermost, at an @hang line.
import _healthy


def spin_forever():
    _healthy.hang_start()
    x = 0
    while True:  # @hang
        x += 1  # @hang


_healthy.start_background()
_healthy.ready()
_healthy.healthy()
spin_forever()
