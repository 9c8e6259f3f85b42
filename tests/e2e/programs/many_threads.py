# 32 threads, each sleeping in its own function; main sleeps too.
# Each worker_NN is its own code object, so each thread has a distinct frame 0.
# @gil none
import threading
import time

from _e2e import ready, settle, start


def worker_00(ev):
    ev.set()
    time.sleep(1000)  # @stack w00 0


def worker_01(ev):
    ev.set()
    time.sleep(1000)  # @stack w01 0


def worker_02(ev):
    ev.set()
    time.sleep(1000)  # @stack w02 0


def worker_03(ev):
    ev.set()
    time.sleep(1000)  # @stack w03 0


def worker_04(ev):
    ev.set()
    time.sleep(1000)  # @stack w04 0


def worker_05(ev):
    ev.set()
    time.sleep(1000)  # @stack w05 0


def worker_06(ev):
    ev.set()
    time.sleep(1000)  # @stack w06 0


def worker_07(ev):
    ev.set()
    time.sleep(1000)  # @stack w07 0


def worker_08(ev):
    ev.set()
    time.sleep(1000)  # @stack w08 0


def worker_09(ev):
    ev.set()
    time.sleep(1000)  # @stack w09 0


def worker_10(ev):
    ev.set()
    time.sleep(1000)  # @stack w10 0


def worker_11(ev):
    ev.set()
    time.sleep(1000)  # @stack w11 0


def worker_12(ev):
    ev.set()
    time.sleep(1000)  # @stack w12 0


def worker_13(ev):
    ev.set()
    time.sleep(1000)  # @stack w13 0


def worker_14(ev):
    ev.set()
    time.sleep(1000)  # @stack w14 0


def worker_15(ev):
    ev.set()
    time.sleep(1000)  # @stack w15 0


def worker_16(ev):
    ev.set()
    time.sleep(1000)  # @stack w16 0


def worker_17(ev):
    ev.set()
    time.sleep(1000)  # @stack w17 0


def worker_18(ev):
    ev.set()
    time.sleep(1000)  # @stack w18 0


def worker_19(ev):
    ev.set()
    time.sleep(1000)  # @stack w19 0


def worker_20(ev):
    ev.set()
    time.sleep(1000)  # @stack w20 0


def worker_21(ev):
    ev.set()
    time.sleep(1000)  # @stack w21 0


def worker_22(ev):
    ev.set()
    time.sleep(1000)  # @stack w22 0


def worker_23(ev):
    ev.set()
    time.sleep(1000)  # @stack w23 0


def worker_24(ev):
    ev.set()
    time.sleep(1000)  # @stack w24 0


def worker_25(ev):
    ev.set()
    time.sleep(1000)  # @stack w25 0


def worker_26(ev):
    ev.set()
    time.sleep(1000)  # @stack w26 0


def worker_27(ev):
    ev.set()
    time.sleep(1000)  # @stack w27 0


def worker_28(ev):
    ev.set()
    time.sleep(1000)  # @stack w28 0


def worker_29(ev):
    ev.set()
    time.sleep(1000)  # @stack w29 0


def worker_30(ev):
    ev.set()
    time.sleep(1000)  # @stack w30 0


def worker_31(ev):
    ev.set()
    time.sleep(1000)  # @stack w31 0


workers = [
    worker_00,
    worker_01,
    worker_02,
    worker_03,
    worker_04,
    worker_05,
    worker_06,
    worker_07,
    worker_08,
    worker_09,
    worker_10,
    worker_11,
    worker_12,
    worker_13,
    worker_14,
    worker_15,
    worker_16,
    worker_17,
    worker_18,
    worker_19,
    worker_20,
    worker_21,
    worker_22,
    worker_23,
    worker_24,
    worker_25,
    worker_26,
    worker_27,
    worker_28,
    worker_29,
    worker_30,
    worker_31,
]
events = []
for fn in workers:
    ev = threading.Event()
    events.append(ev)
    start(fn, ev)
settle(events)
ready()
while True:
    time.sleep(1000)  # @stack main 0
