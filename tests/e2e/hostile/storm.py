"""A thread storm: threads started and ended as fast as the interpreter can.

With `sleeps N S` the main thread, once it reads a line on stdin, sleeps N
times S seconds (each sleep a blocked call `watch` must report with this
file's frame, never as a thread without Python state), then says "done"."""
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
if len(sys.argv) > 3 and sys.argv[1] == "sleeps":
    sys.stdin.readline()
    for _ in range(int(sys.argv[2])):
        time.sleep(float(sys.argv[3]))  # @sleep
    sys.stdout.write("done\n")
    sys.stdout.flush()
while True:
    time.sleep(3600)
