# Healthy for ~3 s, then the main thread spins 40 calls deep in a loop that
# calls two helpers in turn: its stack changes at every instruction but goes
# round the same few stacks. Expected: "spinning", the whole stack: spin_loop
# at an @hang line (or a helper it calls), 40 descend() frames, <module>.
import _healthy


def step_a(x):  # @helper (a frame caught before its first instruction)
    return (x * 3 + 1) & 0xFFFF  # @helper


def step_b(x):  # @helper
    return x ^ 0x55  # @helper


def spin_loop():
    _healthy.hang_start()
    x = 0
    while True:  # @hang
        x = step_a(x)  # @hang
        x = step_b(x)  # @hang


def descend(n):
    if n == 0:
        return spin_loop()  # @descend
    return descend(n - 1)  # @descend


_healthy.start_background()
_healthy.ready()
_healthy.healthy()
descend(39)  # @module
