"""600 functions on one stack whose code objects all share one line table of ~1 MiB: a
reader that copies the table per code object needs 600 MiB."""
import sys
import time
import types

N = int(sys.argv[1]) if len(sys.argv) > 1 else 600
body = ["def big(n):", "    if n: return CHAIN[n - 1](n - 1)", "    sys.stdout.write('ready\\n'); sys.stdout.flush()", "    time.sleep(3600)"]
body += ["    x = %d" % i for i in range(190000)]
src = "\n".join(body) + "\n"
ns = {"sys": sys, "time": time}
exec(compile(src, "/tmp/pyhang-hostile-big.py", "exec"), ns)
code = ns["big"].__code__
lt = getattr(code, "co_linetable", None) or code.co_lnotab
sys.stderr.write("line table %d bytes\n" % len(lt))
CHAIN = []
for i in range(N):
    kw = {"co_name": "f%d" % i}
    if sys.version_info >= (3, 11): kw["co_qualname"] = "f%d" % i
    c = code.replace(**kw) if hasattr(code, "replace") else code
    CHAIN.append(types.FunctionType(c, ns))
ns["CHAIN"] = CHAIN
CHAIN[N - 1](N - 1)
