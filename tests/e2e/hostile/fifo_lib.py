"""In a mount namespace of its own: after libpython is mapped, hide its folder under a tmpfs
and leave a FIFO at the library's name. Reading that path would block forever."""
import ctypes
import os
import sys
import time

libdir = sys.argv[1]
libname = sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b"none", libdir.encode(), b"tmpfs", 0, None) != 0:
    sys.exit("mount: %s" % os.strerror(ctypes.get_errno()))
os.mkfifo(os.path.join(libdir, libname))


def blocked_behind_fifo():
    time.sleep(3600)  # line 17


sys.stdout.write("ready\n")
sys.stdout.flush()
blocked_behind_fifo()
