# Who awaits whom: main gathers two children; a TaskGroup (3.11+) runs two
# more; two tasks await each other (a cycle); a wait() and a wait_for().
import asyncio
import sys

from _aio import run, say, spawn


async def child(n):
    await asyncio.sleep(1000 + n)


async def gather_parent():
    await asyncio.gather(child(1), child(2))  # @task gather 0


async def group_parent():
    async with asyncio.TaskGroup() as tg:  # @task group 0
        tg.create_task(child(3))
        tg.create_task(child(4))


async def wait_parent():
    a = asyncio.ensure_future(child(5))
    b = asyncio.ensure_future(child(6))
    await asyncio.wait([a, b])


async def await_other(box, other):
    await box[other]  # @task cycle 0


async def main():
    box = {}
    spawn(gather_parent(), "gatherer")
    if sys.version_info >= (3, 11):
        spawn(group_parent(), "grouper")
    spawn(wait_parent(), "waiter")
    box["a"] = spawn(await_other(box, "b"), "cycle-a")
    box["b"] = spawn(await_other(box, "a"), "cycle-b")
    await asyncio.sleep(0.2)
    say("READY")
    await asyncio.sleep(3600)


run(main)
