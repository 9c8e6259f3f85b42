"""Terminal control sequences in everything a dump prints that a target controls: a thread
name (an OSC 52 clipboard write), a function name (hide text) and a file name (clear screen)."""
import ctypes
import sys
import threading
import time

OSC52 = "\x1b]52;c;aGk=\x07"          # 12 bytes: fits comm's 15
FUNC = "evil\x1b[8m"
FILE = "/tmp/clear\x1b[2J.py"

src = "def f():\n    import time\n    time.sleep(3600)\n"
ns = {}
exec(compile(src, FILE, "exec"), ns)
code = ns["f"].__code__
kw = {"co_name": FUNC}
if sys.version_info >= (3, 11):
    kw["co_qualname"] = FUNC
func = type(ns["f"])(code.replace(**kw), ns)


def named():
    with open("/proc/self/task/%d/comm" % threading.get_native_id(), "w") as f:
        f.write(OSC52)
    func()


t = threading.Thread(target=named, daemon=True)
t.start()
time.sleep(0.3)
sys.stdout.write("ready\n")
sys.stdout.flush()
t.join()
