"""A Python program whose code names a file on a file system that never answers (argv[1])."""
import sys
import threading

ns = {"lock": threading.Lock()}
# Takes a lock it already holds: blocked in a lock acquire, whose source a watcher reads.
exec(compile("def on_fuse():\n    lock.acquire(); lock.acquire()\n", sys.argv[1] + "/app.py", "exec"), ns)
sys.stdout.write("ready\n")
sys.stdout.flush()
ns["on_fuse"]()
