"""A FUSE file system whose server answers its INIT and then hangs (never reads another
request): every lookup, open or read of a file under it blocks the caller for as long as this
process lives, as with a server that is stopped or deadlocked. Mounted at argv[1] (the raw
/dev/fuse protocol: no library needed). The callers' requests stay queued, so a fatal signal
still ends a caller (a server that took a request and never answered would hold it until the
server dies: the kernel waits for that answer uninterruptibly)."""
import os
import sys
import time

from fuseproto import FUSE_INIT, IN_HEADER, MAX_WRITE, OUT_HEADER, init_body, mount

fd = mount(sys.argv[1], "pyhang-stall")
while True:
    req = os.read(fd, MAX_WRITE + 4096)
    length, opcode, unique = IN_HEADER.unpack_from(req)[:3]
    if opcode == FUSE_INIT:
        body = init_body(req[IN_HEADER.size:length])
        os.write(fd, OUT_HEADER.pack(OUT_HEADER.size + len(body), 0, unique) + body)
        break
while True:
    time.sleep(3600)                        # hung: nothing more is read
