"""A FUSE file system whose server answers its INIT and then hangs (never reads another
request): every lookup, open or read of a file under it blocks the caller for as long as this
process lives, as with a server that is stopped or deadlocked. Mounted at argv[1] (the raw
/dev/fuse protocol: no library needed). The callers' requests stay queued, so a fatal signal
still ends a caller (a server that took a request and never answered would hold it until the
server dies: the kernel waits for that answer uninterruptibly)."""
import ctypes
import os
import struct
import sys
import time

FUSE_INIT = 26
IN_HEADER = struct.Struct("<IIQQIIIHH")     # len opcode unique nodeid uid gid pid extlen pad
OUT_HEADER = struct.Struct("<IiQ")          # len error unique
MAX_WRITE = 65536

mnt = sys.argv[1]
fd = os.open("/dev/fuse", os.O_RDWR)
libc = ctypes.CDLL(None, use_errno=True)
opts = "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other" % fd
if libc.mount(b"pyhang-stall", mnt.encode(), b"fuse", 0, opts.encode()) != 0:
    sys.exit("mount: %s" % os.strerror(ctypes.get_errno()))
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    req = os.read(fd, MAX_WRITE + 4096)
    length, opcode, unique = IN_HEADER.unpack_from(req)[:3]
    if opcode == FUSE_INIT:
        major, minor, readahead = struct.unpack_from("<III", req, IN_HEADER.size)
        body = struct.pack("<IIIIHHIIHHI", 7, min(minor, 31), readahead, 0, 16, 12, MAX_WRITE, 1, 0, 0, 0)
        body += bytes(64 - len(body))
        os.write(fd, OUT_HEADER.pack(OUT_HEADER.size + len(body), 0, unique) + body)
        break
while True:
    time.sleep(3600)                        # hung: nothing more is read
