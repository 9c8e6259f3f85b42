# The case, as a user would write it: an aiohttp service (Debian's
# python3-aiohttp) whose /quote handler asks a price service that accepts the
# connection and never answers. /health keeps answering. Usage: aiohttp_app.py PORT
import socket
import sys

from aiohttp import ClientSession, web

# The dependency that never answers: it accepts (the kernel does) and stays silent.
dependency = socket.socket()
dependency.bind(("127.0.0.1", 0))
dependency.listen(16)
PRICE_URL = "http://127.0.0.1:%d/price" % dependency.getsockname()[1]


async def fetch_price(session, item):
    async with session.get(PRICE_URL, params={"item": item}) as resp:  # @task handler 0
        return await resp.text()


async def quote(request):
    price = await fetch_price(request.app["session"], request.query.get("item", "?"))  # @task handler 1
    return web.Response(text=price)


async def health(request):
    return web.Response(text="ok\n")


async def start_session(app):
    app["session"] = ClientSession()


app = web.Application()
app.router.add_get("/quote", quote)
app.router.add_get("/health", health)
app.on_startup.append(start_session)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
