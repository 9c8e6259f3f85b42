"""A Python program whose code names a file on a file system that never answers (argv[1])."""
import sys
import time

ns = {"time": time}
exec(compile("def on_fuse():\n    time.sleep(3600)\n", sys.argv[1] + "/app.py", "exec"), ns)
sys.stdout.write("ready\n")
sys.stdout.flush()
ns["on_fuse"]()
