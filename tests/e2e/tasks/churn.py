# The registries change all the time: tasks are made and finish as fast as
# the loop can, in bursts that grow and shrink the weak set (and 3.14's lists).
import asyncio

from _aio import run, say


async def short():
    await asyncio.sleep(0)


async def main():
    say("READY")
    n = 0
    while True:
        n = (n + 1) % 2000
        await asyncio.gather(*[short() for _ in range(n)])


run(main)
