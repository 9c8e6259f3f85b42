"""argv[1] Python processes at once: this one forks them after start-up (so they share its
pages) and they sleep; each dies with this one (PR_SET_PDEATHSIG). Prints their pids, then ready."""
import ctypes
import os
import signal
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
kids = []
for _ in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        libc.prctl(1, signal.SIGKILL)       # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(0)
        while True:
            time.sleep(3600)
    kids.append(pid)
sys.stdout.write(" ".join(map(str, kids)) + "\nready\n")
sys.stdout.flush()
while True:
    time.sleep(3600)
