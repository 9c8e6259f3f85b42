"""CPython 3.12: threads that corrupt their own interpreter state through ctypes before they
block: a frame chain that loops back on itself, a frame chain into unmapped memory, a thread
list that loops, a thread list into unmapped memory. A reader must stop, not loop or crash.
frame-uffd: a frame chain into memory registered with a userfaultfd that is never served, so
that whoever reads it (process_vm_readv) blocks for as long as this process lives.
code-uffd: a thread that spins on a CPU (so that the BPF sampler takes its stack) while its
caller's frame names a code object in such memory: naming that frame blocks its reader."""
import ctypes
import sys
import threading
import time

assert sys.version_info[:2] == (3, 12), "offsets below are 3.12's"
P = ctypes.c_uint64
FRAME_F_FRAME = 24     # PyFrameObject: ob_refcnt, ob_type, f_back, f_frame
IFRAME_PREVIOUS = 8    # _PyInterpreterFrame: f_code, previous
TSTATE_NEXT = 8        # PyThreadState: prev, next
WILD = 0x10000         # never mapped (mmap_min_addr)
ready = []
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.syscall.restype = ctypes.c_long


def never_served():
    """A page whose first touch waits for a userfaultfd server that never answers."""
    uffd = libc.syscall(323, 0o2000000)            # userfaultfd(O_CLOEXEC): faults from the kernel too
    assert uffd >= 0, "userfaultfd: %s" % ctypes.get_errno()
    api = (P * 3)(0xAA, 0, 0)                       # struct uffdio_api
    assert libc.ioctl(uffd, ctypes.c_ulong(0xc018aa3f), api) == 0, "UFFDIO_API"
    page = libc.mmap(None, 4096, 3, 0x22, -1, 0)   # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
    reg = (P * 4)(page, 4096, 1, 0)                # struct uffdio_register: range, MODE_MISSING
    assert libc.ioctl(uffd, ctypes.c_ulong(0xc020aa00), reg) == 0, "UFFDIO_REGISTER %d" % ctypes.get_errno()
    never_served.keep = uffd
    return page
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
