"""A thread storm: threads started and ended as fast as the interpreter can."""
import sys
import threading
import time


def short():
    pass


def storm():
    while True:
        ts = [threading.Thread(target=short) for _ in range(20)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


for _ in range(4):
    threading.Thread(target=storm, daemon=True).start()
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(3600)
