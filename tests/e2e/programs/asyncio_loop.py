# min-python: 3.5
# Two event loops in two threads: one idle in epoll with its coroutine suspended, one
# stuck because a coroutine makes a blocking call. Frames of the idle one are asyncio's.
# @gil none
# @ext idle 0 select selectors.py
# @ext idle 1 _run_once base_events.py
# @ext idle 2 run_forever base_events.py
# @ext idle 3 run_until_complete base_events.py
import asyncio
import threading
import time

from _e2e import ready, settle, start


async def tick(ev):
    ev.set()
    await asyncio.sleep(1000)


def idle_loop(ev):
    loop = asyncio.new_event_loop()
    loop.run_until_complete(tick(ev))  # @stack idle 4 @syscall idle epoll_wait|epoll_pwait|epoll_pwait2


async def fetch_blocking(ev):
    ev.set()
    time.sleep(1000)  # @stack blocker 0 @syscall blocker select|pselect6|clock_nanosleep|nanosleep


async def handle(ev):
    await fetch_blocking(ev)  # @stack blocker 1


def blocked_loop(ev):
    loop = asyncio.new_event_loop()
    loop.run_until_complete(handle(ev))


events = [threading.Event(), threading.Event()]
start(idle_loop, events[0])
start(blocked_loop, events[1])
settle(events)
ready()
while True:
    time.sleep(1000)  # @stack main 0
