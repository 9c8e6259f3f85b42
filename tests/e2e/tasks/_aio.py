# Shared by the asyncio task programs (not a test itself): a loop that runs on
# 3.6 - 3.14 alike, task names where the version has them (3.8+), and the
# READY / HANG_START handshake of the drivers. Each program prints READY once
# its loop runs, and HANG_START <time.time()> when its hung phase begins.
import asyncio
import sys
import time


def run(main):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main())


def spawn(coro, name):
    loop = asyncio.get_event_loop()
    if sys.version_info >= (3, 8):
        return loop.create_task(coro, name=name)
    return loop.create_task(coro)


def say(word):
    sys.stdout.write(word + "\n")
    sys.stdout.flush()


def hang_start():
    say("HANG_START %.6f" % time.time())
