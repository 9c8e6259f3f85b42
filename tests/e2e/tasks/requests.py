# A service: a ticker task, an idle listener (start_server's accept loop under
# serve_forever), requests that come and go, and a deliberate asyncio.sleep
# longer than any threshold; all healthy for HEALTHY seconds. Then three
# requests await an Event that is never set: they hang for good.
import asyncio
import sys

from _aio import hang_start, run, say, spawn

HEALTHY = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0


async def ticker():
    while True:
        await asyncio.sleep(0.1)


async def serve(server):
    await server.serve_forever()


async def lookup(ready):
    await ready.wait()  # @task fetch 0


async def fetch(ready):
    await lookup(ready)  # @task fetch 1


async def short_request(n):
    ev = asyncio.Event()
    asyncio.get_event_loop().call_later(0.05, ev.set)
    await fetch(ev)


async def main():
    spawn(ticker(), "ticker")
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    spawn(serve(server), "listener")
    spawn(asyncio.sleep(HEALTHY + 30), "long-sleep")
    say("READY")
    loop = asyncio.get_event_loop()
    end = loop.time() + HEALTHY
    n = 0
    finished = []
    while loop.time() < end:
        n += 1
        t = spawn(short_request(n), "short-%d" % n)
        await t
        if sys.version_info < (3, 8):
            # 3.6, 3.7 name no tasks: the next request made at a finished one's
            # address, waiting where it waited, is the same wait to watch (README)
            finished.append(t)
        await asyncio.sleep(0.1)
    never = asyncio.Event()
    for i in range(1, 4):
        spawn(fetch(never), "request-%d" % i)
    await asyncio.sleep(0)
    hang_start()
    await asyncio.sleep(3600)


run(main)
