# A loopback server and client in one program, each waiting in socket.recv for the other.
# @gil none
import socket
import threading
import time

from _e2e import ready, settle, start

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind(("127.0.0.1", 0))
listener.listen(1)
port = listener.getsockname()[1]
in_recv = [threading.Event(), threading.Event()]
keep = []


def serve():
    conn, _ = listener.accept()
    keep.append(conn)
    in_recv[0].set()
    return conn.recv(1024)  # @stack server 0 @syscall server recvfrom


def fetch():
    client = socket.create_connection(("127.0.0.1", port))
    keep.append(client)
    in_recv[1].set()
    return client.recv(1024)  # @stack client 0 @syscall client recvfrom


start(serve)
start(fetch)
settle(in_recv)
ready()
while True:
    time.sleep(1000)  # @stack main 0
