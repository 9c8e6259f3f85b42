"""CPython 3.12: an asyncio program with a task whose name lies in memory registered with a
userfaultfd that is never served (whoever reads it, process_vm_readv, blocks for as long as
this process lives), and another task that spins on a CPU in its step (so that the BPF
sampler takes its stack with the task's coroutine in it, and naming its task reads the task
registries, the poisoned task among them). The collector is off: nothing here reads the
poisoned name."""
import asyncio
import ctypes
import gc
import struct
import sys

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from uffd import never_served  # noqa: E402

assert sys.version_info[:2] == (3, 12), "the C Task of 3.12"
gc.disable()
P = ctypes.c_uint64


def poison_name(task, name):
    """Point the task's name field (found by its value: the name object) at a page nobody serves."""
    raw = ctypes.string_at(id(task), sys.getsizeof(task))
    at = raw.find(struct.pack("<Q", id(name)))
    assert at > 0 and at % 8 == 0, "the name field of the task not found"
    poison_name.keep = name        # the task's reference to it is gone: keep it alive
    P.from_address(id(task) + at).value = never_served()


async def waiting():
    await asyncio.get_running_loop().create_future()    # never done


def spin_step():
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    n = 0
    while True:                    # the loop never gets the CPU back
        n += 1


async def spinning():
    await asyncio.sleep(0.1)       # after the poisoned task is made
    spin_step()


async def main():
    name = "poisoned-" + str(id(main))
    victim = asyncio.get_running_loop().create_task(waiting(), name=name)
    await asyncio.sleep(0)
    poison_name(victim, name)
    await asyncio.get_running_loop().create_task(spinning(), name="spinner")

asyncio.run(main())
