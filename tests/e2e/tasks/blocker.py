# The loop itself stuck: a task's step calls time.sleep, so the loop's thread
# is blocked in a system call inside that task's step; another task waits.
import asyncio
import time

from _aio import hang_start, run, say, spawn


async def block_loop():
    await asyncio.sleep(0.2)
    hang_start()
    time.sleep(3600)  # @task blocker 0


async def main():
    spawn(block_loop(), "blocker")
    say("READY")
    await asyncio.sleep(3600)


run(main)
