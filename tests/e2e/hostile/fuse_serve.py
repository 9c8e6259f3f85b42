"""A FUSE file system that serves files and then stops answering: mounted at argv[1], it
serves each of argv[2:] read-only (by its base name, at the root) until it reads a line
"stall N [PID]" on stdin; from then on it answers N more requests (of process PID's threads
only, when given: others are answered and not counted) and never reads another. A line
"count" gets "answered K" on stdout: the requests answered so far, with their opcodes. The
callers of the requests after those wait for as long as this process lives, as with a server
that is stopped or deadlocked; since they stay queued (never read), a fatal signal still ends
a caller (see fuse_stall.py). The raw /dev/fuse protocol: no library needed. Prints "ready"
once mounted, and "stalled" when it stops reading. Files are served with FOPEN_KEEP_CACHE and
long attribute and entry timeouts: what the kernel has cached is not asked for again."""
import errno
import os
import re
import select
import stat
import struct
import sys

from fuseproto import FUSE_INIT, IN_HEADER, MAX_WRITE, OUT_HEADER, init_body, mount

FUSE_LOOKUP, FUSE_FORGET, FUSE_GETATTR = 1, 2, 3
FUSE_OPEN, FUSE_READ, FUSE_RELEASE = 14, 15, 18
FUSE_FLUSH, FUSE_OPENDIR, FUSE_READDIR, FUSE_RELEASEDIR = 25, 27, 28, 29
FUSE_STATFS, FUSE_INTERRUPT, FUSE_BATCH_FORGET = 17, 36, 42
NO_REPLY = (FUSE_FORGET, FUSE_INTERRUPT, FUSE_BATCH_FORGET)
FOPEN_KEEP_CACHE = 2
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")   # struct fuse_attr (88 bytes)
READ_IN = struct.Struct("<QQI")             # fh offset size (the rest unused)
VALID = 3600                                # seconds an entry or attribute stays cached

mnt = sys.argv[1]
files = {}                                  # nodeid -> (name, path, size)
names = {}
for i, path in enumerate(sys.argv[2:]):
    name = os.path.basename(path)
    files[i + 2] = (name, path, os.path.getsize(path))
    names[name.encode()] = i + 2
fds = {}

fd = mount(mnt, "pyhang-serve")


def attr(nodeid):
    if nodeid == 1:
        return ATTR.pack(1, 0, 0, 0, 0, 0, 0, 0, 0, stat.S_IFDIR | 0o755, 2, 0, 0, 0, 4096, 0)
    name, path, size = files[nodeid]
    return ATTR.pack(nodeid, size, (size + 511) // 512, 0, 0, 0, 0, 0, 0, stat.S_IFREG | 0o755, 1,
                     0, 0, 0, 4096, 0)


def tgid(tid):
    """The process of thread tid (a request names its caller's thread), or None."""
    try:
        with open("/proc/%d/status" % tid) as f:
            return int(re.search(r"^Tgid:\s*(\d+)", f.read(), re.M).group(1))
    except (OSError, AttributeError):
        return None


def reply(unique, body=b"", error=0):
    os.write(fd, OUT_HEADER.pack(OUT_HEADER.size + len(body), -error, unique) + body)


def answer(req):
    length, opcode, unique, nodeid = IN_HEADER.unpack_from(req)[:4]
    arg = req[IN_HEADER.size:length]
    if opcode in NO_REPLY:
        return
    if opcode == FUSE_INIT:
        reply(unique, init_body(arg))
    elif opcode == FUSE_LOOKUP:
        node = names.get(arg.split(b"\0", 1)[0]) if nodeid == 1 else None
        if node is None:
            reply(unique, error=errno.ENOENT)
        else:
            reply(unique, struct.pack("<QQQQII", node, 0, VALID, VALID, 0, 0) + attr(node))
    elif opcode == FUSE_GETATTR:
        reply(unique, struct.pack("<QII", VALID, 0, 0) + attr(nodeid))
    elif opcode == FUSE_OPEN and nodeid in files:
        fh = max(fds) + 1 if fds else 1
        fds[fh] = os.open(files[nodeid][1], os.O_RDONLY)
        reply(unique, struct.pack("<QII", fh, FOPEN_KEEP_CACHE, 0))
    elif opcode == FUSE_READ:
        fh, offset, size = READ_IN.unpack_from(arg)
        reply(unique, os.pread(fds[fh], size, offset))
    elif opcode == FUSE_RELEASE:
        fh = struct.unpack_from("<Q", arg)[0]
        if fh in fds:
            os.close(fds.pop(fh))
        reply(unique)
    elif opcode in (FUSE_FLUSH, FUSE_RELEASEDIR):
        reply(unique)
    elif opcode == FUSE_OPENDIR:
        reply(unique, struct.pack("<QII", 0, 0, 0))
    elif opcode == FUSE_READDIR:
        reply(unique)                       # empty: nothing is listed
    elif opcode == FUSE_STATFS:
        reply(unique, struct.pack("<QQQQQIIII", 0, 0, 0, 0, 0, 4096, 255, 4096, 0) + bytes(24))
    else:
        reply(unique, error=errno.ENOSYS)


left = None                                 # requests still answered once told to stall
counted = None                              # whose requests count (a pid), None: everyone's
answered = []                               # opcodes
stdin_open = True
while left is None or left > 0:
    r, _, _ = select.select([fd] + ([sys.stdin] if stdin_open else []), [], [])
    if sys.stdin in r:
        line = sys.stdin.readline()
        if not line:
            stdin_open = False
        elif line.startswith("stall"):
            words = line.split()
            left = int(words[1])
            counted = int(words[2]) if len(words) > 2 else None
        elif line.startswith("count"):
            sys.stdout.write("answered %d %s\n" % (len(answered), ",".join(map(str, answered))))
            sys.stdout.flush()
        continue
    if fd in r:
        req = os.read(fd, MAX_WRITE + 4096)
        hdr = IN_HEADER.unpack_from(req)
        answered.append(hdr[1])
        answer(req)
        if left is not None and (counted is None or tgid(hdr[6]) == counted):
            left -= 1
sys.stdout.write("stalled\n")
sys.stdout.flush()
while True:
    select.select([], [], [])                # hung: nothing more is read
