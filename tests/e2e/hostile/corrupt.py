"""CPython 3.12: threads that corrupt their own interpreter state through ctypes before they
block: a frame chain that loops back on itself, a frame chain into unmapped memory, a thread
list that loops, a thread list into unmapped memory. A reader must stop, not loop or crash.
frame-uffd: a frame chain into memory registered with a userfaultfd that is never served, so
that whoever reads it (process_vm_readv) blocks for as long as this process lives.
code-uffd: a thread that spins on a CPU (so that the BPF sampler takes its stack) while its
caller's frame names a code object in such memory: naming that frame blocks its reader."""
import ctypes
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from uffd import never_served  # noqa: E402

assert sys.version_info[:2] == (3, 12), "offsets below are 3.12's"
P = ctypes.c_uint64
FRAME_F_FRAME = 24     # PyFrameObject: ob_refcnt, ob_type, f_back, f_frame
IFRAME_PREVIOUS = 8    # _PyInterpreterFrame: f_code, previous
TSTATE_NEXT = 8        # PyThreadState: prev, next
WILD = 0x10000         # never mapped (mmap_min_addr)
ready = []
lock = threading.Lock()
ctypes.pythonapi.PyThreadState_Get.restype = ctypes.c_void_p


def iframe_of(frame):
    return P.from_address(id(frame) + FRAME_F_FRAME).value


def inner(how):
    me = sys._getframe()           # inner's frame; its previous is outer's
    outer = P.from_address(iframe_of(me) + IFRAME_PREVIOUS).value
    if how == "frame-cycle":
        P.from_address(outer + IFRAME_PREVIOUS).value = outer
    elif how == "frame-wild":
        P.from_address(outer + IFRAME_PREVIOUS).value = WILD
    elif how == "frame-uffd":
        P.from_address(outer + IFRAME_PREVIOUS).value = never_served()
    elif how == "code-uffd":
        P.from_address(outer + 0).value = never_served()    # _PyInterpreterFrame.f_code
        with lock:
            ready.append(how)
        n = 0
        while True:                # never returns to outer, whose code object this no longer is
            n += 1
    elif how == "tstate-cycle":
        ts = ctypes.pythonapi.PyThreadState_Get()
        P.from_address(ts + TSTATE_NEXT).value = ts
    elif how == "tstate-wild":
        ts = ctypes.pythonapi.PyThreadState_Get()
        P.from_address(ts + TSTATE_NEXT).value = WILD
    with lock:
        ready.append(how)
    while True:
        time.sleep(3600)


def outer(how):
    inner(how)


hows = sys.argv[1:] or ["frame-cycle", "frame-wild"]
for how in hows:
    threading.Thread(target=outer, args=(how,), daemon=True).start()
    while how not in ready:
        time.sleep(0.01)
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(3600)
