# N tasks (default 100,000) awaiting one Event that is never set.
import asyncio
import sys

from _aio import run, say

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000


async def wait_for_it(ev):
    await ev.wait()


async def main():
    ev = asyncio.Event()
    tasks = [asyncio.ensure_future(wait_for_it(ev)) for _ in range(N)]
    await asyncio.sleep(0.5)
    say("READY")
    await asyncio.sleep(3600)
    del tasks


run(main)
