# Two requests that burn CPU in their steps, one three times more than the other,
# for SECONDS: record --tasks must split the time 3:1 between their root frames.
import asyncio
import sys

from _aio import run, say, spawn

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0


def work(n):
    s = 0
    for i in range(n):
        s += i * i
    return s


async def big():
    while True:
        work(30000)
        await asyncio.sleep(0)


async def small():
    while True:
        work(10000)
        await asyncio.sleep(0)


async def main():
    spawn(big(), "big")
    spawn(small(), "small")
    say("READY")
    await asyncio.sleep(SECONDS)


run(main)
