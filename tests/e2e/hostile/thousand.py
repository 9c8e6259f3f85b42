"""1,000 threads, each blocked in its own Event.wait."""
import sys
import threading
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
threading.stack_size(256 * 1024)
started = threading.Semaphore(0)


def worker(ev):
    started.release()
    ev.wait()  # line 13


for _ in range(N):
    threading.Thread(target=worker, args=(threading.Event(),), daemon=True).start()
for _ in range(N):
    started.acquire()
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(3600)
