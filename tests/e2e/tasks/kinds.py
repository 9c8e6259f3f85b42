# One task per kind of await, each suspended for good: a Lock main holds, an
# empty Queue, a Condition nobody notifies, a Semaphore at 0, a long sleep, a
# stream read and a loop.sock_recv on connections to a server that accepts
# (the kernel does) and never writes, and a task awaiting another task.
import asyncio
import socket
import sys

from _aio import run, say, spawn


async def take_lock(lock):
    await lock.acquire()  # @task lock 0


async def consume(q):
    await q.get()  # @task queue 0


async def wait_condition(cond):
    async with cond:
        await cond.wait()  # @task condition 0


async def take_semaphore(sem):
    await sem.acquire()  # @task semaphore 0


async def nap():
    await asyncio.sleep(5000)  # @task sleep 0


async def read_stream(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.read(100)  # @task stream 0


async def recv_socket(port):
    loop = asyncio.get_event_loop()
    s = socket.socket()
    s.setblocking(False)
    await loop.sock_connect(s, ("127.0.0.1", port))
    await loop.sock_recv(s, 100)  # @task sock 0


async def join(other):
    await other  # @task join 0


async def main():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    lock = asyncio.Lock()
    await lock.acquire()
    locker = spawn(take_lock(lock), "locker")
    # held here: a task whose only references are its own futures' cycles is
    # collected ("Task was destroyed but it is pending!")
    keep = [locker,
            spawn(consume(asyncio.Queue()), "consumer"),
            spawn(wait_condition(asyncio.Condition()), "conditioned"),
            spawn(take_semaphore(asyncio.Semaphore(0)), "semaphored"),
            spawn(nap(), "sleeper"),
            spawn(read_stream(port), "stream-reader"),
            spawn(recv_socket(port), "sock-reader"),
            spawn(join(locker), "joiner")]
    await asyncio.sleep(0.3)
    say("READY")
    await asyncio.sleep(3600)
    return keep


run(main)
