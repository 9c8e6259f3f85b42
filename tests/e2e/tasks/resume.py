# A task that stalls, then moves on when told to: "stalled" awaits an Event
# (under a parent that gathers it) until SIGUSR1 sets it, then awaits a
# second Event for good. "quiet" awaits an Event from before "stalled" starts,
# in a function the test's --ignore names. A ticker and a server stay healthy.
import asyncio
import signal

from _aio import hang_start, run, say, spawn


async def ticker():
    while True:
        await asyncio.sleep(0.05)


async def ignored_wait(ev):
    await ev.wait()  # @task quiet 0


async def stall(first, second):
    await first.wait()  # @task stalled-first 0
    say("MOVED")
    await second.wait()  # @task stalled-second 0


async def parent(child):
    await asyncio.gather(child)  # @task parent 0


async def main():
    loop = asyncio.get_event_loop()
    first, second = asyncio.Event(), asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, first.set)
    spawn(ticker(), "ticker")
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    spawn(server.serve_forever() if hasattr(server, "serve_forever") else asyncio.sleep(3600), "listener")
    never = asyncio.Event()   # held here, or the task could be collected with it
    spawn(ignored_wait(never), "quiet")
    await asyncio.sleep(0.2)
    say("READY")
    spawn(parent(spawn(stall(first, second), "stalled")), "parent")
    await asyncio.sleep(0)
    hang_start()
    await asyncio.sleep(3600)
    return never


run(main)
