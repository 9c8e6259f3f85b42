# Healthy for ~3 s, then the main thread blocks in recv on a socket nobody writes to.
# Expected: "blocked" in recvfrom at the @hang line.
import socket

import _healthy

s1, s2 = socket.socketpair()
_healthy.start_background()
_healthy.ready()
_healthy.healthy()


def wait_for_reply(sock):
    _healthy.hang_start()
    return sock.recv(100)  # @hang


wait_for_reply(s1)
