# SPDX-License-Identifier: MIT
"""aiolayout-probe.py - helper of tools/gen-aiolayouts.sh, not part of pyhang.

Run by one CPython 3.6+ interpreter; prints the body of one `struct pyh_aiolayout`
designated initialiser (src/asyncio/aiolayout.h): where the C accelerator `_asyncio`
keeps the fields of its Future and Task objects, and where a FutureIter, an async
generator's asend object and a coroutine wrapper keep what they wrap.

Those structs are private to Modules/_asynciomodule.c and Objects/genobject.c (no
installed header declares them), so they are measured on live objects of this very
interpreter: objects whose addresses are known (a loop, a coroutine, a result, a name)
are planted in a Future or Task, and the probe finds where their addresses sit in the
object's memory (ctypes.string_at). Each field must be found at exactly one offset, or
the probe fails (exit status 1) rather than guess.
"""
import asyncio
import ctypes
import sys

WORD = ctypes.sizeof(ctypes.c_void_p)
VERSION = sys.version_info[:2]
FAILED = []


def raw(obj):
    return ctypes.string_at(id(obj), type(obj).__basicsize__)


def words_at(obj):
    b = raw(obj)
    return [(i, int.from_bytes(b[i:i + WORD], "little")) for i in range(0, len(b) - WORD + 1, WORD)]


def find_ptr(name, obj, target):
    hits = [off for off, w in words_at(obj) if w == id(target)]
    if len(hits) != 1:
        FAILED.append("%s: the address of the planted object is at %s in %s" %
                      (name, hits or "no offset", type(obj).__name__))
        return None
    return hits[0]


def find_int(name, objs_values):
    """The 4-byte aligned offset where each object holds its expected int."""
    objs = [o for o, _ in objs_values]
    size = min(type(o).__basicsize__ for o in objs)
    raws = [raw(o) for o in objs]
    hits = []
    for off in range(0, size - 3, 4):
        if all(int.from_bytes(r[off:off + 4], "little", signed=True) == v
               for r, (_, v) in zip(raws, objs_values)):
            hits.append(off)
    if len(hits) != 1:
        FAILED.append("%s: expected values at %s" % (name, hits or "no offset"))
        return None
    return hits[0]


def find_byte(name, objs_values, lo):
    objs = [o for o, _ in objs_values]
    size = min(type(o).__basicsize__ for o in objs)
    raws = [raw(o) for o in objs]
    hits = [off for off in range(lo, size)
            if all(r[off] == v for r, (_, v) in zip(raws, objs_values))]
    if len(hits) != 1:
        FAILED.append("%s: expected bytes at %s" % (name, hits or "no offset"))
        return None
    return hits[0]


def field(name, value):
    print("\t.%s = %s," % (name, "PYH_NO_FIELD" if value is None else value))


class Planted:
    pass


def main():
    import _asyncio
    loop = asyncio.new_event_loop()
    cfut = _asyncio.Future
    ctask = _asyncio.Task

    pending = cfut(loop=loop)
    cancelled = cfut(loop=loop)
    cancelled.cancel()
    result = Planted()
    finished = cfut(loop=loop)
    finished.set_result(result)
    failed = cfut(loop=loop)
    exc = RuntimeError("planted")
    failed.set_exception(exc)
    failed.exception()  # retrieved: no "never retrieved" log at exit

    def cb1(f):
        pass

    def cb2(f):
        pass

    with_cbs = cfut(loop=loop)
    with_cbs.add_done_callback(cb1)
    with_cbs.add_done_callback(cb2)

    print("\t.version_hex = 0x%02x%02x0000, /* %s */" % (VERSION[0], VERSION[1],
                                                        sys.version.split()[0]))
    import sysconfig
    ft = 1 if sysconfig.get_config_var("Py_GIL_DISABLED") else 0
    print("\t.free_threaded = %d," % ft)
    field("fut_loop", find_ptr("fut_loop", pending, loop))
    field("fut_result", find_ptr("fut_result", finished, result))
    field("fut_exception", find_ptr("fut_exception", failed, exc))
    if VERSION >= (3, 7):
        field("fut_callback0", find_ptr("fut_callback0", with_cbs, cb1))
    else:
        field("fut_callback0", None)
    state = find_int("fut_state", [(pending, 0), (cancelled, 1), (finished, 2)])
    field("fut_state", state)
    field("state_pending", 0)
    field("state_cancelled", 1)
    field("state_finished", 2)
    if VERSION >= (3, 14):
        one = cfut(loop=loop)
        two = cfut(loop=loop)
        w1, w2 = cfut(loop=loop), cfut(loop=loop)
        _asyncio.future_add_to_awaited_by(one, w1)
        _asyncio.future_add_to_awaited_by(two, w1)
        _asyncio.future_add_to_awaited_by(two, w2)
        field("fut_awaited_by", find_ptr("fut_awaited_by", one, w1))
        field("fut_awaited_by_is_set", find_byte("fut_awaited_by_is_set",
                                                 [(pending, 0), (one, 0), (two, 1)], state + 4))
    else:
        field("fut_awaited_by", None)
        field("fut_awaited_by_is_set", None)

    waited = cfut(loop=loop)

    async def waiter(f):
        await f

    async def idle():
        pass

    coro = waiter(waited)
    if VERSION >= (3, 8):
        name = "pyhang-probe-%d" % id(loop)
        task = ctask(coro, loop=loop, name=name)
    else:
        name = None
        task = ctask(coro, loop=loop)
    loop.run_until_complete(idle())  # the task's first step: it now awaits `waited`
    field("task_fut_waiter", find_ptr("task_fut_waiter", task, waited))
    field("task_coro", find_ptr("task_coro", task, coro))
    field("task_name", find_ptr("task_name", task, name) if name else None)
    if VERSION >= (3, 14):
        t1 = ctask(idle(), loop=loop)
        t2 = ctask(idle(), loop=loop)
        b1, b2 = raw(t1), raw(t2)
        hits = [off for off in range(0, len(b1) - WORD + 1, WORD)
                if int.from_bytes(b1[off:off + WORD], "little") == id(t2) + off]
        if len(hits) != 1:
            FAILED.append("task_node: %s" % (hits or "no offset"))
        field("task_node", hits[0] if len(hits) == 1 else None)
        loop.run_until_complete(asyncio.gather(t1, t2))
    else:
        field("task_node", None)

    it = waited.__await__()
    field("futureiter_future", find_ptr("futureiter_future", it, waited))

    async def agen():
        yield 1

    ag = agen()
    asend = ag.asend(None)
    field("asend_gen", find_ptr("asend_gen", asend, ag))
    asend.close()

    cw_coro = idle()
    wrapper = cw_coro.__await__()
    field("corowrapper_coro", find_ptr("corowrapper_coro", wrapper, cw_coro))
    cw_coro.close()

    # known only from the target's AsyncioDebug section (3.14+)
    for name in ("interp_tasks_head", "tstate_tasks_head", "tstate_running_loop",
                 "tstate_running_task"):
        field(name, None)

    waited.set_result(None)
    loop.run_until_complete(task)
    loop.close()
    if FAILED:
        for f in FAILED:
            sys.stderr.write("aiolayout-probe: %s\n" % f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
