"""Hang events on demand. "storm": 40 threads each blocking 0.4 s again and again (a watcher
with --threshold 0.2 sees hundreds of events a minute). "big": one thread blocked at the bottom
of 200 frames whose function names are 1,500 characters long (the event JSON is ~600 KiB)."""
import sys
import threading
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "storm"


def blink():
    while True:
        time.sleep(0.4)


if mode == "storm":
    for _ in range(40):
        threading.Thread(target=blink, daemon=True).start()
else:
    ns = {"time": time}
    exec("def down(n, f):\n    if n:\n        return f[n - 1](n - 1, f)\n    time.sleep(3600)\n", ns)
    code = ns["down"].__code__
    chain = []
    for i in range(200):
        name = ("deep_%03d_" % i) + "x" * 1500
        kw = {"co_name": name}
        if sys.version_info >= (3, 11):
            kw["co_qualname"] = name
        chain.append(type(ns["down"])(code.replace(**kw), ns))
    threading.Thread(target=chain[-1], args=(199, chain), daemon=True).start()
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(3600)
