"""What fuse_stall.py and fuse_serve.py share of the raw /dev/fuse protocol: the request and
reply headers, the mount, and the answer to INIT."""
import ctypes
import os
import struct
import sys

FUSE_INIT = 26
IN_HEADER = struct.Struct("<IIQQIIIHH")     # len opcode unique nodeid uid gid pid extlen pad
OUT_HEADER = struct.Struct("<IiQ")          # len error unique
MAX_WRITE = 65536


def mount(mnt, fsname):
    """Open /dev/fuse and mount it at mnt (exits on failure); prints "ready". Returns the fd."""
    fd = os.open("/dev/fuse", os.O_RDWR)
    libc = ctypes.CDLL(None, use_errno=True)
    opts = "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other" % fd
    if libc.mount(fsname.encode(), mnt.encode(), b"fuse", 0, opts.encode()) != 0:
        sys.exit("mount: %s" % os.strerror(ctypes.get_errno()))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    return fd


def init_body(arg):
    """The body of the reply to INIT, whose argument (after the header) is arg."""
    major, minor, readahead = struct.unpack_from("<III", arg)
    body = struct.pack("<IIIIHHIIHHI", 7, min(minor, 31), readahead, 0, 16, 12, MAX_WRITE, 1, 0, 0, 0)
    return body + bytes(64 - len(body))
