"""Memory that never answers: a page registered with a userfaultfd nobody serves. Whoever
touches it first (this process, or another reading it with process_vm_readv) waits for as
long as this process lives; a fatal signal still ends the waiter."""
import ctypes

P = ctypes.c_uint64
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.syscall.restype = ctypes.c_long
_keep = []


def never_served():
    """A page whose first touch waits for a userfaultfd server that never answers."""
    uffd = libc.syscall(323, 0o2000000)            # userfaultfd(O_CLOEXEC): faults from the kernel too
    assert uffd >= 0, "userfaultfd: %s" % ctypes.get_errno()
    api = (P * 3)(0xAA, 0, 0)                       # struct uffdio_api
    assert libc.ioctl(uffd, ctypes.c_ulong(0xc018aa3f), api) == 0, "UFFDIO_API"
    page = libc.mmap(None, 4096, 3, 0x22, -1, 0)   # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
    reg = (P * 4)(page, 4096, 1, 0)                # struct uffdio_register: range, MODE_MISSING
    assert libc.ioctl(uffd, ctypes.c_ulong(0xc020aa00), reg) == 0, "UFFDIO_REGISTER %d" % ctypes.get_errno()
    _keep.append(uffd)
    return page
