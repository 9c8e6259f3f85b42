# run-from: non-ascii
# The driver runs this from a directory and file name with non-ASCII characters.
# @gil none
import threading
import time

from _e2e import ready, settle, start

holding = threading.Event()


def hold():
    holding.set()
    time.sleep(1000)  # @stack worker 0


start(hold)
settle([holding])
ready()
while True:
    time.sleep(1000)  # @stack main 0
