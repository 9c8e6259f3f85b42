#!/usr/bin/env python3
"""End-to-end tests with hostile targets: processes that try to make pyhang disclose host files,
block, run out of memory, write escape sequences to the operator's terminal, poison the
metrics, write into planted files, or walk corrupted interpreter state.

Usage: tests/e2e/run_hostile.py [PYHANG]   (default: build/pyhang; needs root: namespaces,
chroot, mounts)

Each case gets a correct result or a clear "unreadable" from pyhang, in bounded time (a
generous timeout: that pyhang returned at all, not that it was fast), with the target left
alive and not stopped or traced. The programs are in tests/e2e/hostile/. Prints `ok - ...` /
`not ok - ...` per check and a final `N passed, N failed`; exits non-zero when any failed.
"""
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROGS = os.path.join(HERE, "hostile")
PYHANG = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "pyhang"))
PY312 = "/root/.pyenv/versions/3.12.1/bin/python"
PY311 = "/usr/bin/python3.11"
TIMEOUT = 60          # a pyhang run that has not returned by then is "blocked"
ESC = b"\x1b"

results = {"pass": 0, "fail": 0}


def check(cond, what, detail=""):
    if cond:
        results["pass"] += 1
        print("ok - %s" % what)
    else:
        results["fail"] += 1
        print("not ok - %s%s" % (what, (": " + detail) if detail else ""))
    sys.stdout.flush()
    return cond


def skip(what, why):
    results["pass"] += 1
    print("ok - %s # skip %s" % (what, why))


def pyhang(*args, timeout=TIMEOUT, cwd=None, prefix=()):
    """(rc, stdout, stderr) as bytes; rc None when it did not return in time (killed)."""
    cmd = list(prefix) + [PYHANG] + list(args)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out, err


def pyhang_rss_kib(*args, timeout=TIMEOUT):
    """(rc, stdout, peak RSS in KiB) of one pyhang run, measured by a fresh wrapper process
    whose only child is that pyhang."""
    code = ("import resource,subprocess,sys\n"
            "p=subprocess.run(sys.argv[1:],stdout=subprocess.PIPE,stderr=subprocess.DEVNULL,timeout=%d)\n"
            "sys.stderr.write('%%d %%d\\n'%%(p.returncode,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
            "sys.stdout.buffer.write(p.stdout)\n" % timeout)
    p = subprocess.run([sys.executable, "-c", code, PYHANG] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout + 10)
    m = re.search(rb"(-?\d+) (\d+)\s*$", p.stderr)
    if not m:
        return None, p.stdout, 0
    return int(m.group(1)), p.stdout, int(m.group(2))


class Target:
    """A hostile program; waits for its "ready" line."""

    def __init__(self, argv, cwd=None, ready_timeout=60, stdin=None, env=None):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, stdin=stdin,
                                     env=env)
        self.pid = self.proc.pid
        self.out = b""
        self.ready = self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout):
        import select
        end = time.time() + timeout
        buf = b""
        while time.time() < end:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    return False
                buf += chunk
                self.out = buf
                if b"ready" in buf:
                    return True
            if self.proc.poll() is not None:
                return False
        return False

    def untouched(self):
        """Alive, not stopped, not traced."""
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open("/proc/%d/status" % self.pid) as f:
                tracer = re.search(r"TracerPid:\s*(\d+)", f.read()).group(1)
        except OSError:
            return False
        return self.proc.poll() is None and state not in ("T", "t", "Z", "X") and tracer == "0"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def sh(cmd):
    return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def no_escape(out):
    return ESC not in out and b"\x07" not in out and b"\x9b" not in out


# ---- 1. host files disclosed through a symlink in a container ----------------------------

def case_symlink_pivot_root(tmp):
    name = "symlink in a pivot_root container"
    secret = os.path.join(tmp, "host-only-secret.txt")
    with open(secret, "w") as f:
        for i in range(1, 40):
            f.write("HOST-SECRET-LINE-%d\n" % i)
    root = os.path.join(tmp, "croot")
    os.mkdir(root)
    script = r"""
set -e
R=%(root)s
mount -t tmpfs none "$R"
mkdir -p "$R/usr" "$R/app" "$R/old" "$R/tmp" "$R/proc"
mount --rbind /usr "$R/usr"
mount -t proc proc "$R/proc"
ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"; ln -s usr/bin "$R/bin"
cp %(prog)s "$R/app/m.py"
cd "$R"
pivot_root . old
umount -l /old
exec /usr/bin/python3.11 /app/m.py %(secret)s
""" % {"root": root, "prog": os.path.join(PROGS, "symlink_source.py"), "secret": secret}
    t = Target(["unshare", "-m", "--propagation", "private", "sh", "-c", script])
    try:
        if not check(t.ready, name + ": the container started"):
            return
        rc, out, err = pyhang("dump", "--pid", str(t.pid))
        check(rc == 0, name + ": dump works", err.decode(errors="replace"))
        check(b"HOST-SECRET" not in out and b"HOST-SECRET" not in err,
              name + ": the host file's lines are not shown", out.decode(errors="replace")[-400:])
        check(b"wait_here (/app/m.py:11)" in out, name + ": the frame is still named right",
              out.decode(errors="replace")[-400:])
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()


# ---- 2. a chrooted interpreter --------------------------------------------------------------

def case_chroot(tmp):
    name = "chrooted python3.11"
    if not os.access(PY311, os.X_OK):
        return skip(name, "no " + PY311)
    root = os.path.join(tmp, "chroot")
    os.mkdir(root)
    script = r"""
set -e
R=%(root)s
mount -t tmpfs none "$R"
mkdir -p "$R/usr" "$R/app"
mount --rbind /usr "$R/usr"
ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"; ln -s usr/bin "$R/bin"
cp %(prog)s "$R/app/deep.py"
exec chroot "$R" /usr/bin/python3.11 /app/deep.py 3
""" % {"root": root, "prog": os.path.join(PROGS, "deep.py")}
    t = Target(["unshare", "-m", "--propagation", "private", "sh", "-c", script])
    try:
        if not check(t.ready, name + ": started"):
            return
        rc, out, err = pyhang("dump", "--pid", str(t.pid))
        text = out.decode(errors="replace")
        check(rc == 0, name + ": dumpable", err.decode(errors="replace"))
        want = ["down (/app/deep.py:13)"] + ["down (/app/deep.py:10)"] * 3 + ["<module> (/app/deep.py:16)"]
        got = re.findall(r"^    (\S.*\))$", text, re.M)
        check(got == want, name + ": its frames, innermost first", "%r" % got)
        check("time.sleep(3600)  # line 13" in text, name + ": source lines read inside its root")
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()


# ---- 3. a FIFO at the mapped libpython's path -------------------------------------------------

def case_fifo_lib(tmp):
    name = "FIFO at the mapped libpython path"
    if not os.access(PY312, os.X_OK):
        return skip(name, "no " + PY312)
    libdir = "/root/.pyenv/versions/3.12.1/lib"
    t = Target(["unshare", "-m", "--propagation", "private", PY312,
                os.path.join(PROGS, "fifo_lib.py"), libdir, "libpython3.12.so.1.0"])
    try:
        if not check(t.ready, name + ": started"):
            return
        rc, out, err = pyhang("dump", "--pid", str(t.pid), "--no-source")
        check(rc is not None, name + ": dump returned (did not block on the FIFO)")
        check(rc == 0 and b"blocked_behind_fifo (" in out, name + ": dump read the mapped file itself",
              (err or out).decode(errors="replace")[-300:])
        # Without map_files (no CAP_SYS_ADMIN / CAP_CHECKPOINT_RESTORE): by path, the FIFO in
        # its root is refused unopened; the same path from here is the mapped file (same
        # device and inode), so the dump is still right; else a clear "unreadable".
        if shutil.which("capsh"):
            rc, out, err = pyhang("dump", "--pid", str(t.pid), prefix=(
                "capsh", "--drop=cap_sys_admin,cap_checkpoint_restore", "--", "-c", 'exec "$0" "$@"'))
            check(rc is not None, name + ": without map_files, dump returned")
            check((rc == 0 and b"blocked_behind_fifo (" in out) or (rc == 1 and b"not a regular file" in err),
                  name + ": without map_files, right or a clear 'unreadable'", err.decode(errors="replace"))
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()


# ---- 4. 600 frames sharing one 1 MiB line table ------------------------------------------------

def case_shared_linetable(tmp):
    name = "600 frames sharing a 1 MiB line table"
    if not os.access(PY312, os.X_OK):
        return skip(name, "no " + PY312)
    t = Target([PY312, os.path.join(PROGS, "shared_linetable.py"), "600"], ready_timeout=120)
    try:
        if not check(t.ready, name + ": started"):
            return
        rc, out, kib = pyhang_rss_kib("dump", "--pid", str(t.pid), "--no-source")
        text = out.decode(errors="replace")
        frames = re.findall(r"^    (f\d+) \(/tmp/pyhang-hostile-big.py:(\d+)\)$", text, re.M)
        check(rc == 0 and len(frames) == 600, name + ": all 600 frames named", "rc %r, %d frames" % (rc, len(frames)))
        check(frames[:2] == [("f0", "4"), ("f1", "2")] if len(frames) > 1 else False,
              name + ": lines from the shared table")
        check(0 < kib < 64 * 1024, name + ": dump's peak RSS under 64 MiB", "%d KiB" % kib)
        print("# %s: peak RSS %d KiB" % (name, kib))
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()


# ---- 5. terminal escapes ------------------------------------------------------------------------

def case_escapes(tmp):
    name = "terminal escapes in names"
    if not os.access(PY312, os.X_OK):
        return skip(name, "no " + PY312)
    t = Target([PY312, os.path.join(PROGS, "escapes.py")])
    try:
        if not check(t.ready, name + ": started"):
            return
        rc, out, err = pyhang("dump", "--pid", str(t.pid))
        check(rc == 0, name + ": dump works", err.decode(errors="replace"))
        check(no_escape(out) and no_escape(err), name + ": dump text carries no control byte",
              repr(out[:300]))
        check(b"\\x1b]52;c;aGk=\\x07" in out, name + ": the thread name shown escaped")
        check(b"evil\\x1b[8m (/tmp/clear\\x1b[2J.py:3)" in out, name + ": function and file shown escaped",
              repr(out[-400:]))
        rc, out, err = pyhang("record", "--pid", str(t.pid), "-d", "1", "--idle", "-f", "folded", "-o", "-")
        check(rc == 0 and b"evil" in out, name + ": record works", err.decode(errors="replace"))
        check(no_escape(out) and no_escape(err), name + ": folded stacks carry no control byte",
              repr(out[:300]))
        rc, out, err = pyhang("watch", "--pid", str(t.pid), "--threshold", "0.2", "--once", timeout=30)
        check(rc is not None and no_escape(out) and no_escape(err),
              name + ": watch text carries no control byte", repr(out[:300]))
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()


# ---- 6. a lone surrogate in a command line, and the metrics -----------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def case_metrics_surrogate(tmp):
    name = "lone surrogate in a command line"
    py = PY312 if os.access(PY312, os.X_OK) else sys.executable
    t = Target([py.encode(), os.path.join(PROGS, "deep.py").encode(), b"2", b"\xed\xa0\x80"])
    port = free_port()
    w = subprocess.Popen([PYHANG, "watch", "--pid", str(t.pid), "--json", "--metrics", "127.0.0.1:%d" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not check(t.ready, name + ": started"):
            return
        body, end = b"", time.time() + 30
        while time.time() < end and b"pyhang_process_info{" not in body:
            time.sleep(0.3)
            try:
                body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=3).read()
            except OSError:
                pass
        check(b"pyhang_process_info{" in body, name + ": the process is in the metrics")
        try:
            body.decode("utf-8")
            valid = True
        except UnicodeDecodeError as e:
            valid = False
            why = str(e)
        check(valid, name + ": the exposition is valid UTF-8", "" if valid else why)
        check(t.untouched(), name + ": the target is untouched")
    finally:
        w.terminate()
        try:
            w.wait(10)
        except subprocess.TimeoutExpired:
            w.kill()
        t.stop()


# ---- 7. planted FIFO / symlink at the output path -------------------------------------------------------

def case_output_planted(tmp):
    name = "planted output path"
    py = PY312 if os.access(PY312, os.X_OK) else sys.executable
    t = Target([py, os.path.join(PROGS, "deep.py"), "2"])
    d = os.path.join(tmp, "out")
    os.mkdir(d)
    try:
        if not check(t.ready, name + ": started"):
            return
        fifo = os.path.join(d, "planted.fifo")
        os.mkfifo(fifo)
        os.symlink(fifo, os.path.join(d, "out.svg"))
        rc, out, err = pyhang("record", "--pid", str(t.pid), "-d", "1", "--idle", "-o", "out.svg", cwd=d)
        check(rc == 0, name + ": -o through a symlink to a FIFO: record finished",
              "rc %r %s" % (rc, err.decode(errors="replace")))
        check(os.path.isfile(os.path.join(d, "out.svg")) and not os.path.islink(os.path.join(d, "out.svg")),
              name + ": the symlink was replaced by the profile")
        check(os.path.exists(fifo) and os.stat(fifo).st_mode & 0o170000 == 0o010000,
              name + ": the FIFO is untouched")
        # The default name, predictable: a FIFO planted there is never opened.
        default = os.path.join(d, "pyhang-%d.svg" % t.pid)
        os.mkfifo(default)
        rc, out, err = pyhang("record", "--pid", str(t.pid), "-d", "1", "--idle", cwd=d)
        check(rc is not None, name + ": a FIFO at the default name: record returned")
        msg = err.decode(errors="replace")
        m = re.search(r"wrote (\S+)", msg)
        check(rc == 0 and m and os.path.isfile(os.path.join(d, m.group(1))) and
              not os.path.samefile(os.path.join(d, m.group(1)), default),
              name + ": the profile went to a new file, not into the FIFO", msg)
        check(os.stat(default).st_mode & 0o170000 == 0o010000, name + ": the planted FIFO is untouched")
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()


# ---- 8. corrupted frame chain and thread list --------------------------------------------------------------

def case_corrupt(tmp):
    name = "corrupted frames and thread list"
    if not os.access(PY312, os.X_OK):
        return skip(name, "no " + PY312)
    t = Target([PY312, os.path.join(PROGS, "corrupt.py"), "frame-cycle", "frame-wild"])
    try:
        if not check(t.ready, name + ": started"):
            return
        rc, out, err = pyhang("dump", "--pid", str(t.pid), "--no-source")
        text = out.decode(errors="replace")
        check(rc == 0, name + ": frames: dump works", err.decode(errors="replace"))
        check("cycle in the frame chain" in text, name + ": a looping frame chain is said to be one",
              text[-600:])
        check("unreadable frame" in text, name + ": a frame chain into nowhere is said to be unreadable")
        check(text.count("inner (") >= 2, name + ": the frames before the damage are shown")
        check(t.untouched(), name + ": frames: the target is untouched")
    finally:
        t.stop()
    for how in ("tstate-cycle", "tstate-wild"):
        t = Target([PY312, os.path.join(PROGS, "corrupt.py"), how])
        try:
            if not check(t.ready, name + ": %s: started" % how):
                continue
            rc, out, err = pyhang("dump", "--pid", str(t.pid), "--no-source")
            check(rc is not None and rc >= 0, name + ": %s: dump returned, no crash" % how, "rc %r" % rc)
            check(rc == 0 or (rc == 1 and err.count(b"\n") == 1), name + ": %s: a dump or one clear line" % how,
                  (err or out).decode(errors="replace")[-300:])
            if rc == 0:
                n = len(re.findall(rb"^Thread \d+", out, re.M))
                check(0 < n < 100, name + ": %s: each thread listed once" % how, "%d threads" % n)
            check(t.untouched(), name + ": %s: the target is untouched" % how)
        finally:
            t.stop()


# ---- 9-12. storms, depth, width, exec loops --------------------------------------------------------------

def case_storm(tmp):
    name = "thread storm"
    py = PY312 if os.access(PY312, os.X_OK) else sys.executable
    t = Target([py, os.path.join(PROGS, "storm.py")])
    try:
        if not check(t.ready, name + ": started"):
            return
        bad = []
        for i in range(20):
            rc, out, err = pyhang("dump", "--pid", str(t.pid), "--no-source")
            # whole (the storm's threads and the main thread's own frame), or saying the list
            # changed while it was read (a state freed under the walk)
            whole = b"storm (" in out and b"<module> (" in out
            if rc != 0 or (not whole and b"The thread list changed while it was read" not in out):
                bad.append("rc %r: %s; stdout: %r" % (rc, err.decode(errors="replace").strip(),
                                                      out[:600]))
        check(not bad, name + ": 20 dumps, each whole or saying its thread list changed", "; ".join(bad[:3]))
        rc, out, err = pyhang("record", "--pid", str(t.pid), "-d", "2", "-f", "folded", "-o", "-")
        check(rc == 0 and b"storm" in out, name + ": record works", err.decode(errors="replace"))
        rc, out, err = pyhang("record", "--pid", str(t.pid), "-d", "2", "--idle", "-v", "-f", "folded", "-o", "-")
        check(rc == 0 and b"storm" in out, name + ": record --idle works", err.decode(errors="replace")[-400:])
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()
    storm_watch(name, py)


def storm_watch(name, py):
    """watch under the storm: the main thread's sleeps, each a blocked call, are each reported once
    with their frame; no event shows the main thread without Python frames (a cut thread list once
    made the blocked verdict "not a Python thread", which stands for the whole call)."""
    prog = os.path.join(PROGS, "storm.py")
    line = next(i for i, text in enumerate(open(prog), 1) if "# @sleep" in text)
    sleeps = 4
    t = Target([py, prog, "sleeps", str(sleeps), "3"], stdin=subprocess.PIPE)
    w = None
    try:
        if not check(t.ready, name + ": watch: started"):
            return
        w = subprocess.Popen([PYHANG, "watch", "--pid", str(t.pid), "--threshold", "0.5", "--json", "-v"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        werr = b""
        while b"watching process %d" % t.pid not in werr:     # attached: the sleeps begin after
            chunk = os.read(w.stderr.fileno(), 65536)
            if not chunk:
                break
            werr += chunk
        if not check(b"watching process" in werr, name + ": watch attached", werr.decode(errors="replace")[-300:]):
            return
        t.proc.stdin.write(b"go\n")
        t.proc.stdin.flush()
        out = t.out
        while b"done" not in out and t.proc.poll() is None:  # every sleep has returned
            chunk = os.read(t.proc.stdout.fileno(), 4096)
            if not chunk:
                break
            out += chunk
        w.send_signal(signal.SIGINT)
        wout, werr2 = w.communicate(timeout=TIMEOUT)
        werr += werr2
        events = [json.loads(x) for x in wout.splitlines() if x.startswith(b"{")]
        mine = []
        for e in events:
            for th in [e] + e.get("threads", []):
                if th.get("tid") == t.pid:
                    mine.append((e["event"], th.get("frames") or []))
        bare = [ev for ev, frames in mine if not frames]
        blocked = [frames for ev, frames in mine if ev == "blocked" and frames and
                   frames[0].get("file") == prog and frames[0].get("line") == line]
        later = re.search(rb"(\d+) threads judged a scan later", werr)
        check(b"done" in out and not bare and len(blocked) == sleeps,
              name + ": watch: each of the main thread's %d sleeps reported blocked at storm.py:%d, "
              "never without its Python frames" % (sleeps, line),
              "done %s; %d blocked there; events without frames: %s; %s judged later; %s" %
              (b"done" in out, len(blocked), bare, later.group(1).decode() if later else "0",
               [(ev, frames[:1]) for ev, frames in mine][:6]))
        check(t.untouched(), name + ": watch: the target is untouched")
    finally:
        if w and w.poll() is None:
            w.kill()
            w.wait()
        t.stop()


def case_deep(tmp):
    name = "recursion 10,000 deep"
    py = PY312 if os.access(PY312, os.X_OK) else sys.executable
    t = Target([py, os.path.join(PROGS, "deep.py"), "10000"])
    try:
        if not check(t.ready, name + ": started"):
            return
        rc, out, err = pyhang("dump", "--pid", str(t.pid), "--no-source", "--max-frames", "4096")
        text = out.decode(errors="replace")
        frames = re.findall(r"^    (down \(.*deep.py:\d+\))$", text, re.M)
        check(rc == 0 and len(frames) == 4096, name + ": the innermost 4096 frames", "%d" % len(frames))
        check(frames[:2] == ["down (%s:13)" % os.path.join(PROGS, "deep.py"),
                             "down (%s:10)" % os.path.join(PROGS, "deep.py")] if len(frames) > 1 else False,
              name + ": innermost first, right lines")
        check("deeper frames not shown" in text, name + ": says the rest is not shown")
        rc, out, err = pyhang("record", "--pid", str(t.pid), "-d", "1", "--idle", "-f", "folded", "-o", "-")
        check(rc == 0 and b"[truncated]" in out, name + ": record keeps the innermost frames under [truncated]",
              err.decode(errors="replace"))
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()


def case_thousand(tmp):
    name = "1,000 threads"
    py = PY312 if os.access(PY312, os.X_OK) else sys.executable
    t = Target([py, os.path.join(PROGS, "thousand.py"), "1000"], ready_timeout=120)
    try:
        if not check(t.ready, name + ": started"):
            return
        rc, out, err = pyhang("dump", "--pid", str(t.pid), "--no-source")
        text = out.decode(errors="replace")
        workers = len(re.findall(r"^    worker \(.*thousand.py:13\)$", text, re.M))
        check(rc == 0 and workers == 1000, name + ": every worker's frame", "%d" % workers)
        check("1001 threads, 1001 with Python state" in text, name + ": 1001 threads counted")
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()


def case_execloop(tmp):
    name = "a process that execs itself in a loop"
    py = PY312 if os.access(PY312, os.X_OK) else sys.executable
    t = Target([py, os.path.join(PROGS, "execloop.py")])
    try:
        if not check(t.ready, name + ": started"):
            return
        bad, good = [], 0
        for i in range(30):
            rc, out, err = pyhang("dump", "--pid", str(t.pid), "--no-source")
            if rc == 0 and b"Process %d" % t.pid in out:
                good += 1     # a dump (with no frames while the new program starts)
            elif rc != 1 or err.count(b"\n") != 1:
                bad.append("rc %r: %r" % (rc, err[-200:]))
        check(not bad, name + ": 30 dumps: each a dump or one clear line", "; ".join(bad[:3]))
        print("# %s: %d of 30 dumps whole" % (name, good))
        rc, out, err = pyhang("watch", "--pid", str(t.pid), timeout=30)
        check(rc == 1 and err.startswith(b"pyhang: ") and
              (b"exec" in err or err.count(b"\n") == 1),
              name + ": watch says it exec'd (or why it cannot read it) and stops",
              "rc %r %s" % (rc, err.decode(errors="replace")))
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()


# ---- 13. a forged _PyRuntime ---------------------------------------------------------------------

def case_forged(tmp):
    name = "a non-Python program with a forged _PyRuntime"
    exe = os.path.join(tmp, "python3.12")
    r = subprocess.run(["cc", "-O1", "-rdynamic", "-o", exe, os.path.join(PROGS, "forged.c")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if not check(r.returncode == 0, name + ": built", r.stdout.decode(errors="replace")):
        return
    t = Target([exe])
    try:
        if not check(t.ready, name + ": started"):
            return
        rc, out, err = pyhang("dump", "--pid", str(t.pid))
        check(rc == 1 and err.count(b"\n") == 1 and err.startswith(b"pyhang: "),
              name + ": dump: one clear line", "rc %r %r" % (rc, err[-300:]))
        rc, out, err = pyhang("record", "--pid", str(t.pid), "-d", "1", "-o", os.path.join(tmp, "f.svg"))
        check(rc is not None and rc >= 0, name + ": record returned, no crash", "rc %r" % rc)
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()


# ---- 14. a file system that never answers -------------------------------------------------------

def case_fuse_stall(tmp):
    name = "a FUSE file system that never answers"
    if not os.path.exists("/dev/fuse"):
        return skip(name, "no /dev/fuse")
    py = PY312 if os.access(PY312, os.X_OK) else sys.executable
    mnt = os.path.join(tmp, "fuse")
    os.mkdir(mnt)
    server = Target([sys.executable, os.path.join(PROGS, "fuse_stall.py"), mnt])
    t = other = None
    try:
        if not check(server.ready, name + ": mounted"):
            return
        t = Target([py, os.path.join(PROGS, "fuse_target.py"), mnt])
        other = Target([py, os.path.join(PROGS, "deep.py"), "1"])
        if not check(t.ready and other.ready, name + ": started"):
            return
        rc, out, err = pyhang("dump", "--pid", str(t.pid))
        check(rc is not None, name + ": dump returned")
        check(rc == 0 and b"on_fuse (%s/app.py:2)" % mnt.encode() in out,
              name + ": the stack, without the source that does not answer", (err or out).decode(errors="replace"))
        check(b"did not answer" in out + err, name + ": says so", err.decode(errors="replace"))
        rc, out, err = pyhang("dump", "--all")
        check(rc is not None and b"Process %d:" % other.pid in out and b"Process %d:" % t.pid in out,
              name + ": dump --all: the others are dumped too", err.decode(errors="replace")[-300:])
        rc, out, err = pyhang("watch", "--pid", str(t.pid), "--threshold", "0.5", "--once", "--json")
        check(rc == 3 and b'"event":"blocked"' in out, name + ": watch reports the hang all the same",
              "rc %r %s" % (rc, err.decode(errors="replace")[-300:]))
        check(t.untouched() and other.untouched(), name + ": the targets are untouched")
    finally:
        for x in (t, other):
            if x:
                x.stop()
        server.stop()
        subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)


# ---- 14a'. files served, then not: watch --all attaching to an interpreter on FUSE -----------------

class FuseServer(Target):
    """fuse_serve.py at mnt serving files; stall(n): answer n more requests, then none."""

    def __init__(self, mnt, files):
        os.mkdir(mnt)
        self.mnt = mnt
        super().__init__([sys.executable, os.path.join(PROGS, "fuse_serve.py"), mnt] + list(files),
                         stdin=subprocess.PIPE)

    def stall(self, n, pid=None):
        self.proc.stdin.write(b"stall %d%s\n" % (n, b" %d" % pid if pid else b""))
        self.proc.stdin.flush()

    def stalled(self):
        """1 when it has stopped reading requests (said on its stdout)."""
        import select
        while select.select([self.proc.stdout], [], [], 0)[0]:
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                break
            self.out += chunk
        return b"stalled" in self.out

    def stop(self):
        super().stop()
        subprocess.run(["umount", "-l", self.mnt], stderr=subprocess.DEVNULL)


HANG = """import sys, threading
lock = threading.Lock()
lock.acquire()
sys.stdout.write("ready\\n")
sys.stdout.flush()
lock.acquire()
"""


def case_fuse_attach(tmp):
    name = "watch --all: an interpreter file that answers, then does not"
    if not os.path.exists("/dev/fuse"):
        return skip(name, "no /dev/fuse")
    if not os.access(PY311, os.X_OK):
        return skip(name, "no " + PY311)
    prog = os.path.join(tmp, "hang.py")
    with open(prog, "w") as f:
        f.write(HANG)
    other = Target([PY312 if os.access(PY312, os.X_OK) else sys.executable, os.path.join(PROGS, "deep.py"), "1"])
    env = dict(os.environ, PYTHONHOME="/usr")
    stalled_runs = []
    try:
        if not check(other.ready, name + ": the other process started"):
            return
        # The server stops after answering n requests of watch's (the target, waiting on a
        # lock, asks nothing): each n stalls a later read of attaching it — the tracker's
        # look at it, opening it, the interpreter file for uprobes, its symbols and probed pages.
        for n in (0, 6, 12, 20, 30, 45, 65, 1000):
            server = FuseServer(os.path.join(tmp, "fuse%d" % n), [PY311])
            t = w = None
            try:
                if not check(server.ready, name + ": n=%d: mounted" % n):
                    return
                t = Target([os.path.join(server.mnt, "python3.11"), prog], env=env)
                if not check(t.ready, name + ": n=%d: started from the mount" % n, t.proc.stderr.read1().decode()
                             if t.proc.poll() is not None else ""):
                    return
                # Closing a file of the mount asks its server (FLUSH), a request the kernel waits
                # for uninterruptibly: a watch that opened the interpreter file before the server
                # stopped cannot end until the server does. So what is checked is that its loop
                # ran to the end and said what it saw (its summary), then the server is stopped.
                w = subprocess.Popen([PYHANG, "watch", "--all", "-v", "--threshold", "0.5", "--duration", "4", "--json"],
                                     stdout=open(os.path.join(tmp, "out"), "wb"),
                                     stderr=open(os.path.join(tmp, "err"), "wb"))
                # its requests only (other suites' pyhangs on this host read the mount too)
                server.stall(n, w.pid)
                end, err = time.time() + 120, b""
                while time.time() < end and w.poll() is None and b"watch stopped" not in err:
                    time.sleep(0.5)
                    with open(os.path.join(tmp, "err"), "rb") as f:
                        err = f.read()
                rc = w.poll()
                if rc is None and b"watch stopped" in err:
                    rc = 0      # ended its loop; its exit waits for the server
                with open(os.path.join(tmp, "out"), "rb") as f:
                    out = f.read()
                with open(os.path.join(tmp, "err"), "rb") as f:
                    err = f.read()
                e = err.decode(errors="replace")
                events = []
                for l in out.decode(errors="replace").splitlines():
                    try:
                        events.append(json.loads(l))
                    except ValueError:
                        pass
                what = name + ": n=%d" % n
                check(rc == 0, what + ": watch --all returned", "rc %r %s" % (rc, e[-300:]))
                if re.search(r"process %d waits for room" % other.pid, e):
                    skip(what + ": the other process's hang", "it waited for room in watch's process table")
                else:
                    check(any(ev.get("pid") == other.pid and ev.get("event") == "blocked" for ev in events),
                          what + ": the other process's hang is reported", e[-300:])
                said = [l for l in e.splitlines() if re.search(r"process %d\b" % t.pid, l) and
                        re.search(r"did not (answer|finish) in time", l)]
                if re.search(r"process %d waits for room" % t.pid, e):
                    # the host runs more Python processes than watch keeps (another suite's)
                    skip(what + ": the target", "it waited for room in watch's process table")
                elif server.stalled():
                    stalled_runs.append(n)
                    check(len(said) == 1, what + ": the stalled one is said once", "%r %s" % (said, e[-300:]))
                    check(re.search(r"stalled [1-9]", e) is not None, what + ": counted in the summary",
                          e[-300:])
                else:
                    # every request answered: it is watched as any other, without uprobes
                    check(not said and any(ev.get("pid") == t.pid and ev.get("event") == "blocked" for ev in events),
                          what + ": served in full, its hang is reported", e[-300:])
                    check(len(re.findall(r"process %d: its interpreter file is on a FUSE file system" % t.pid, e)) == 1,
                          what + ": said once to get no uprobes", e[-300:])
                check(t.untouched() and other.untouched(), what + ": the targets are untouched")
            finally:
                if t:
                    t.stop()
                server.stop()
                if w:
                    try:
                        w.wait(60)
                    except subprocess.TimeoutExpired:
                        w.kill()
                        w.wait()
                    check(w.returncode == 0, name + ": n=%d: watch exited once the server was gone" % n,
                          "rc %r" % w.returncode)
        print("# %s: stalled while attaching for n in %r" % (name, stalled_runs))
        check(len(stalled_runs) >= 2, name + ": several of its reads stalled", repr(stalled_runs))
    finally:
        other.stop()


# ---- 14b. memory that never answers (a userfaultfd nobody serves) ------------------------------------

def case_uffd_stall(tmp):
    name = "a frame chain into memory that never answers"
    if not os.access(PY312, os.X_OK):
        return skip(name, "no " + PY312)
    t = Target([PY312, os.path.join(PROGS, "corrupt.py"), "frame-uffd"])
    other = Target([PY312, os.path.join(PROGS, "deep.py"), "1"])
    try:
        if not check(t.ready and other.ready, name + ": started"):
            return
        rc, out, err = pyhang("watch", "--all", "--threshold", "0.5", "--duration", "4", "--json", timeout=120)
        events = []
        for l in out.decode(errors="replace").splitlines():
            try:
                events.append(json.loads(l))
            except ValueError:
                pass
        check(rc == 0, name + ": watch --all returned", "rc %r %s" % (rc, err.decode(errors="replace")[-300:]))
        check(any(e.get("pid") == other.pid and e.get("event") == "blocked" for e in events),
              name + ": watch --all: the other process's hang is reported", err.decode(errors="replace")[-300:])
        check(b"process %d " % t.pid in err and b"did not finish in time" in err,
              name + ": watch --all: the stalled one is said", err.decode(errors="replace")[-300:])
        check(b"stalled 1" in err, name + ": watch --all: counted in the summary", err.decode(errors="replace")[-200:])
        rc, out, err = pyhang("record", "--all", "--idle", "-d", "2", "-f", "folded", "-o", "-", timeout=120)
        check(rc == 0 and b"down" in out, name + ": record --all --idle: returned, the other process sampled",
              "rc %r %s" % (rc, err.decode(errors="replace")[-300:]))
        check(b"process %d: reading its memory did not finish in time" % t.pid in err,
              name + ": record --all --idle: the stalled one is said", err.decode(errors="replace")[-300:])
        rc, out, err = pyhang("dump", "--all", "--no-source", timeout=120)
        check(rc is not None and b"Process %d:" % other.pid in out and b"%d: unreadable" % t.pid in err,
              name + ": dump --all: the other is dumped, the stalled one said unreadable",
              err.decode(errors="replace")[-300:])
        check(t.untouched() and other.untouched(), name + ": the targets are untouched")
    finally:
        t.stop()
        other.stop()


# ---- 14c. code objects in memory that never answers, under the BPF sampler ---------------------------

SPIN = """import sys
def healthy_spin():
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    while True:
        pass
healthy_spin()
"""


def sampled_pids(pyhang_pid):
    """The pids in the BPF `targets` map of process pyhang_pid (its descriptors' maps), or None."""
    ids = set()
    fdinfo = "/proc/%d/fdinfo" % pyhang_pid
    try:
        for fd in os.listdir(fdinfo):
            try:
                with open(os.path.join(fdinfo, fd)) as f:
                    m = re.search(r"^map_id:\s*(\d+)", f.read(), re.M)
            except OSError:
                continue
            if m:
                ids.add(int(m.group(1)))
    except OSError:
        return None
    for i in ids:
        r = subprocess.run(["bpftool", "-j", "map", "show", "id", str(i)], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        try:
            if json.loads(r.stdout).get("name") != "targets":
                continue
            r = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(i)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
            return set(int.from_bytes(bytes(int(b, 16) for b in e["key"]), "little")
                       for e in json.loads(r.stdout))
        except (ValueError, KeyError, TypeError):
            return None
    return None


def record_until(args, line, timeout=60):
    """Start pyhang record args; once its stderr has line, return (popen, stderr so far) with
    record still running (None when it did not come)."""
    log = tempfile.NamedTemporaryFile(prefix="pyhang-hostile-rec-", delete=False)
    p = subprocess.Popen([PYHANG, "record"] + list(args), stdout=subprocess.DEVNULL, stderr=log)
    end = time.time() + timeout
    while time.time() < end and p.poll() is None:
        time.sleep(0.2)
        with open(log.name, "rb") as f:
            err = f.read()
        if line in err:
            return p, err, log.name
    return p, None, log.name


def case_uffd_code(tmp):
    name = "on-CPU samples naming a code object in memory that never answers"
    if not os.access(PY312, os.X_OK):
        return skip(name, "no " + PY312)
    t = Target([PY312, os.path.join(PROGS, "corrupt.py"), "code-uffd"])
    other = Target([PY312, "-c", SPIN])
    try:
        if not check(t.ready and other.ready, name + ": started"):
            return
        for args in (("--all",), ("--pid", str(t.pid))):
            rc, out, err = pyhang("record", *args, "-d", "3", "-f", "folded", "-o", "-", timeout=120)
            e = err.decode(errors="replace")
            what = name + ": record " + args[0]
            check(rc == 0, what + ": returned", "rc %r %s" % (rc, e[-300:]))
            check(b"process %d: reading its memory did not finish in time" % t.pid in err,
                  what + ": the stalled one is said", e[-300:])
            check(e.count("process %d: reading its memory" % t.pid) == 1, what + ": said once", e[-300:])
            check(re.search(r"1 process(es)? whose memory did not answer", e) is not None,
                  what + ": counted in the summary", e[-300:])
            if args[0] == "--all":
                check(b"healthy_spin" in out, what + ": the other process is still sampled", e[-300:])
            check(re.search(r"did not answer in time: not sampled after that \(1 taken out of the kernel's "
                            r"sampling", e) is not None, what + ": taken out of the kernel's sampling", e[-300:])
        # While record runs: the stalled process is out of the BPF targets map, the other in it.
        p, err, log = record_until(["--all", "-d", "30", "-f", "folded", "-o", os.devnull],
                                   b"process %d: reading its memory did not finish in time" % t.pid)
        try:
            check(err is not None, name + ": record --all (running): the stall is said", "")
            if err is not None:
                time.sleep(0.5)
                pids = sampled_pids(p.pid)
                check(pids is not None and t.pid not in pids and other.pid in pids,
                      name + ": record --all (running): the stalled one is no longer in the kernel's targets",
                      "targets %r" % (sorted(pids)[:20] if pids else pids))
        finally:
            p.kill()
            p.wait()
            os.unlink(log)
        check(t.untouched() and other.untouched(), name + ": the targets are untouched")
    finally:
        t.stop()
        other.stop()


# ---- 14d. record --tasks: a task name in memory that never answers ----------------------------------

def case_uffd_task(tmp):
    name = "record --tasks: a task's name in memory that never answers"
    if not os.access(PY312, os.X_OK):
        return skip(name, "no " + PY312)
    t = Target([PY312, os.path.join(PROGS, "task_uffd.py")])
    other = Target([PY312, "-c", SPIN])
    try:
        if not check(t.ready and other.ready, name + ": started"):
            return
        for args in (("--all",), ("--pid", str(t.pid))):
            rc, out, err = pyhang("record", "--tasks", *args, "-d", "3", "-f", "folded", "-o", "-", timeout=120)
            e = err.decode(errors="replace")
            what = name + ": record --tasks " + args[0]
            check(rc == 0, what + ": returned", "rc %r %s" % (rc, e[-300:]))
            check(e.count("process %d: reading its memory did not finish in time" % t.pid) == 1,
                  what + ": the stalled one is said once", e[-300:])
            check(re.search(r"1 process(es)? whose memory did not answer", e) is not None,
                  what + ": counted in the summary", e[-300:])
            if args[0] == "--all":
                check(b"healthy_spin" in out, what + ": the other process is still sampled", e[-300:])
        check(t.untouched() and other.untouched(), name + ": the targets are untouched")
    finally:
        t.stop()
        other.stop()


# ---- 14e. record --native: a library on FUSE that stops answering ---------------------------------------

SPIN_C = "void spin(void) { for (volatile unsigned long n = 0;; n++) ; }\n"
LIB_SPIN = """import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
def in_library():
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    lib.spin()
in_library()
"""


def case_fuse_native(tmp):
    name = "record --native: a library whose file stops answering"
    if not os.path.exists("/dev/fuse"):
        return skip(name, "no /dev/fuse")
    if not os.access(PY312, os.X_OK):
        return skip(name, "no " + PY312)
    src, lib = os.path.join(tmp, "spin.c"), os.path.join(tmp, "libspin.so")
    with open(src, "w") as f:
        f.write(SPIN_C)
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", lib, src], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if not check(r.returncode == 0, name + ": built", r.stdout.decode(errors="replace")):
        return
    server = FuseServer(os.path.join(tmp, "fuse"), [lib])
    t = other = None
    try:
        if not check(server.ready, name + ": mounted"):
            return
        t = Target([PY312, "-c", LIB_SPIN, os.path.join(server.mnt, "libspin.so")])
        other = Target([PY312, "-c", SPIN])
        if not check(t.ready and other.ready, name + ": started"):
            return
        server.stall(0)     # its pages are in memory, running; its file answers nothing more
        for args in (("--all",), ("--pid", str(t.pid))):
            rc, out, err = pyhang("record", "--native", *args, "-d", "4", "-f", "folded", "-o", "-", timeout=120)
            e, o = err.decode(errors="replace"), out.decode(errors="replace")
            what = name + ": record --native " + args[0]
            check(rc == 0, what + ": returned", "rc %r %s" % (rc, e[-300:]))
            check(e.count("process %d: reading its native code" % t.pid) == 1, what + ": the stalled one is said once",
                  e[-300:])
            check(re.search(r"\d+ of 1 processes whose native code did not answer in time", e) is not None,
                  what + ": counted in the summary", e[-400:])
            mine = [l for l in o.splitlines() if "in_library" in l]
            check(mine and all(l.rsplit(" ", 1)[0].endswith("in_library (<string>:6);[native frames unreadable]")
                               for l in mine), what + ": its samples: Python frames, marked native unreadable",
                  repr(mine[:3]))
            if args[0] == "--all":
                spun = [l for l in o.splitlines() if "healthy_spin" in l]
                check(spun and not any("[native frames unreadable]" in l for l in spun),
                      what + ": the other process is sampled with its native frames", repr(spun[:2]))
        check(t.untouched() and other.untouched(), name + ": the targets are untouched")
    finally:
        for x in (t, other):
            if x:
                x.stop()
        server.stop()


# ---- 15. --exec under an event storm, and a large event ---------------------------------------------

def case_exec(tmp):
    name = "--exec under a storm of events"
    py = PY312 if os.access(PY312, os.X_OK) else sys.executable
    runs = os.path.join(tmp, "runs.txt")
    t = Target([py, os.path.join(PROGS, "exec_storm.py"), "storm"])
    try:
        if not check(t.ready, name + ": started"):
            return
        cmd = 'echo "$PYHANG_EVENT $PYHANG_PID" >> %s; echo NOT-JSON-FROM-THE-COMMAND; exit 3' % runs
        rc, out, err = pyhang("watch", "--pid", str(t.pid), "--threshold", "0.2", "--json", "--duration", "4",
                              "--exec", cmd, timeout=60)
        lines = [l for l in out.decode(errors="replace").splitlines() if l.strip()]
        events, broken = [], []
        for l in lines:
            try:
                events.append(json.loads(l))
            except ValueError:
                broken.append(l)
        hangs = [e for e in events if e.get("event") != "returned"]
        with open(runs) if os.path.exists(runs) else open(os.devnull) as f:
            ran = f.read().splitlines()
        check(rc == 0 and len(hangs) > 40, name + ": many events reported", "rc %r, %d events" % (rc, len(hangs)))
        # One run per process and kind per threshold: 4 s / 0.2 s, plus one.
        check(0 < len(ran) <= 4 / 0.2 + 1, name + ": runs rate-limited", "%d runs for %d events" % (len(ran), len(hangs)))
        check(not broken, name + ": the command's stdout is not in the event stream", repr(broken[:2])[:300])
        check(b"exited with status 3" in err, name + ": a failing run is logged", err.decode(errors="replace")[-300:])
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()
    name = "--exec with an event larger than the environment takes"
    got = os.path.join(tmp, "event.json")
    t = Target([py, os.path.join(PROGS, "exec_storm.py"), "big"])
    try:
        if not check(t.ready, name + ": started"):
            return
        cmd = ('if [ -n "$PYHANG_JSON_FILE" ]; then cat "$PYHANG_JSON_FILE"; else printf %%s "$PYHANG_JSON"; fi'
               ' > %s' % got)
        rc, out, err = pyhang("watch", "--pid", str(t.pid), "--threshold", "0.5", "--json", "--once",
                              "--ignore", "<module>", "--exec", cmd, timeout=60)  # the deep thread's event
        time.sleep(1)  # the run is not waited for
        ev = None
        try:
            with open(got) as f:
                ev = json.load(f)
        except (OSError, ValueError):
            pass
        check(rc == 3 and ev is not None and ev.get("event") == "blocked" and len(ev.get("frames", [])) >= 200,
              name + ": the command got the whole event", "rc %r, %s" % (rc, err.decode(errors="replace")[-200:]))
        check(t.untouched(), name + ": the target is untouched")
    finally:
        t.stop()


# ---- 16. privileges --------------------------------------------------------------------------------

def case_privileges(tmp):
    name = "privileges"
    py = PY311 if os.access(PY311, os.X_OK) else "/usr/bin/python3"   # nobody can run it
    prog = "import os, time; print('uid', os.getuid(), os.getgid()); time.sleep(1)"
    env = dict(os.environ, SUDO_UID="65534", SUDO_GID="65534", SUDO_USER="nobody")
    for extra, want in (([], b"uid 65534 65534"), (["--as-root"], b"uid 0 0")):
        p = subprocess.run([PYHANG, "record", "-d", "3", "-f", "folded", "-o", os.path.join(tmp, "p.folded")] +
                           extra + ["--", py, "-c", prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=60, cwd="/")
        check(want in p.stdout, name + ": record %s-- CMD under sudo runs CMD as %s" %
              (" ".join(extra) + " " if extra else "", "root" if extra else "the invoking user"),
              (p.stdout + p.stderr).decode(errors="replace")[-300:])
    if shutil.which("capsh"):
        rc, out, err = pyhang("dump", "--all", prefix=("capsh", "--drop=cap_sys_ptrace", "--", "-c",
                                                       'exec "$0" "$@"'))
        check(rc == 1 and b"CAP_SYS_PTRACE" in err, name + ": a root without CAP_SYS_PTRACE is told what it lacks",
              err.decode(errors="replace"))


# ---- 17. the heartbeat: sd_notify keep-alives, the last-scan metric ---------------------------------------

def case_heartbeat(tmp):
    name = "heartbeat"
    py = PY312 if os.access(PY312, os.X_OK) else sys.executable
    sock_path = os.path.join(tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.5)
    t = Target([py, os.path.join(PROGS, "deep.py"), "1"])
    port = free_port()
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="1000000")
    w = subprocess.Popen([PYHANG, "watch", "--pid", str(t.pid), "--json", "--metrics", "127.0.0.1:%d" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    got, stamps = [], []
    try:
        end = time.time() + 4
        while time.time() < end:
            try:
                got.append(sock.recv(256))
            except socket.timeout:
                pass
            try:
                body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2).read()
                m = re.search(rb"^pyhang_last_scan_timestamp_seconds ([0-9.]+)$", body, re.M)
                if m and float(m.group(1)) > 0:   # 0 until the first scan
                    stamps.append(float(m.group(1)))
            except OSError:
                pass
        w.terminate()
        w.wait(20)
        try:
            while True:
                got.append(sock.recv(256))
        except socket.timeout:
            pass
        check(b"READY=1" in got, name + ": READY=1 sent", repr(got[:3]))
        check(got.count(b"WATCHDOG=1") >= 3, name + ": WATCHDOG=1 sent after scans",
              "%d keep-alives in 4 s" % got.count(b"WATCHDOG=1"))
        check(b"STOPPING=1" in got, name + ": STOPPING=1 at the end")
        check(len(stamps) >= 2 and stamps[-1] > stamps[0] > 0,
              name + ": pyhang_last_scan_timestamp_seconds moves", repr(stamps[:2] + stamps[-1:]))
    finally:
        if w.poll() is None:
            w.kill()
        t.stop()
        sock.close()


# ---- capacity: more Python processes than watch keeps -------------------------------------------

def case_capacity(tmp):
    n = 300
    name = "%d Python processes at once" % n
    py = PY312 if os.access(PY312, os.X_OK) else sys.executable
    t = Target([py, os.path.join(PROGS, "many.py"), str(n)], ready_timeout=300)
    try:
        if not check(t.ready, name + ": started"):
            return
        kids = [int(x) for x in t.out.split(b"\n")[0].split()]
        check(len(kids) == n, name + ": %d children" % n, repr(t.out[:200]))
        # Watch keeps 256 at once: the others are counted as refused and wait for room.
        rc, out, err = pyhang("watch", "--all", "--threshold", "600", "--duration", "8", "--json", timeout=300)
        e = err.decode(errors="replace")
        m = re.search(r"(\d+) processes watched \((\d+) at the end\).*refused by limits: [^\n]*procs (\d+)", e)
        check(rc == 0 and m is not None, name + ": watch --all: the summary counts the refusals", e[-400:])
        if m:
            print("# watch --all: %s processes watched, %s at the end, %s refused for the process table"
                  % m.groups())
            check(int(m.group(2)) == 256, name + ": watch --all: 256 watched at the end", m.group(0))
            check(int(m.group(3)) >= n + 1 - 256, name + ": watch --all: every process beyond the cap counted",
                  m.group(0))
        # record keeps 1024 at once: every one is sampled.
        rc, out, err = pyhang("record", "--all", "-d", "4", "-f", "folded", "-o", os.path.join(tmp, "all.folded"),
                              timeout=300)
        e = err.decode(errors="replace")
        m = re.search(r"(\d+) Python processes sampled \((\d+) still running\)", e)
        check(rc == 0 and m is not None and int(m.group(1)) >= n + 1, name + ": record --all: all attached",
              e[-400:])
        if m:
            print("# record --all: %s Python processes sampled, %s still running" % m.groups())
        check(t.untouched() and all(os.path.exists("/proc/%d" % k) for k in kids), name + ": untouched")
    finally:
        t.stop()


def capacity_wait(name, argv, attached_re, kids, count_re, tmp):
    """Run argv (watch/record --all -v) with the process limit full: once some of kids wait for
    room, kill ten watched ones; a process that waited must be attached after that, and the
    refusals in the summary must be one per distinct process that waited (its "waits for room"
    line), however often each was tried again (every 5 s, and at each exit)."""
    log = os.path.join(tmp, "stderr")
    with open(log, "wb") as f:
        p = subprocess.Popen([PYHANG] + argv, stdout=subprocess.DEVNULL, stderr=f)
    waits_re = re.compile(r"process (\d+) waits for room")

    def lines():
        with open(log, "rb") as f:
            return f.read().decode(errors="replace").splitlines()
    killed, kill_at = [], 0
    try:
        while p.poll() is None and not killed:
            time.sleep(0.5)
            ls = lines()
            attached = [int(m.group(1)) for m in map(attached_re.search, ls) if m]
            waiting = [int(m.group(1)) for m in map(waits_re.search, ls) if m]
            if any(k in waiting for k in kids):
                killed, kill_at = [k for k in kids if k in attached][:10], len(ls)
                for k in killed:
                    os.kill(k, signal.SIGKILL)
        p.wait(timeout=300)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    ls = lines()
    e = "\n".join(ls)
    check(p.returncode == 0 and len(killed) == 10, name + ": the limit was reached, ten watched ones killed",
          "rc %r killed %d %s" % (p.returncode, len(killed), e[-300:]))
    waits = [(i, int(m.group(1))) for i, m in enumerate(map(waits_re.search, ls)) if m]
    waited = set(pid for _, pid in waits)
    later = [int(m.group(1)) for m in map(attached_re.search, ls[kill_at:]) if m]
    check(any(pid in waited for pid in later), name + ": a process that waited is attached when room frees",
          "%d waited, attached after: %r" % (len(waited), later[:10]))
    # Each "waits for room" line is one refusal counted; a process of another user of the host
    # that execs while it waits is a new process to the tracker (said and counted again), ours
    # never exec: each of them is said once, however often it was tried again.
    ours = [pid for _, pid in waits if pid in kids]
    m = count_re.search(e)
    check(m is not None and int(m.group(1)) == len(waits) and len(ours) == len(set(ours)) > 0,
          name + ": refusals counted once per process that waited (%d of ours), not per try" % len(ours),
          "%s; %d lines for %d processes" % (m.group(0) if m else e[-300:], len(waits), len(waited)))
    return killed


def case_capacity_wait(tmp):
    n = 300
    name = "the process limit full, a slot freed"
    py = PY312 if os.access(PY312, os.X_OK) else sys.executable
    for what in ("watch", "record"):
        t = Target([py, os.path.join(PROGS, "many.py"), str(n)], ready_timeout=300)
        try:
            if not check(t.ready, name + ": %s: started" % what):
                continue
            kids = [int(x) for x in t.out.split(b"\n")[0].split()]
            if what == "watch":
                capacity_wait(name + ": watch --all", ["watch", "--all", "-v", "--threshold", "600",
                                                       "--duration", "30"],
                              re.compile(r"watching process (\d+) "), kids,
                              re.compile(r"refused by limits: (?:[^\n]*, )?procs (\d+)"), tmp)
            else:
                # record's limit is 1024 at once; --max-processes 256 fills it with these 300
                capacity_wait(name + ": record --all --max-processes 256",
                              ["record", "--all", "-v", "--max-processes", "256", "-d", "30", "-f", "folded",
                               "-o", os.path.join(tmp, "all.folded")],
                              re.compile(r"sampling process (\d+):"), kids,
                              re.compile(r"limits: (\d+) processes waited for room"), tmp)
        finally:
            t.stop()


# ---- an interpreter binary nobody runs any more: its probes go ----------------------------------------

def perf_fds(pid):
    """How many perf events (uprobes among them) process pid holds open."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:[perf_event]"
        except OSError:
            pass
    return n


def inodes_used(mnt):
    """Inodes in use on the file system at mnt (its root among them)."""
    st = os.statvfs(mnt)
    return st.f_files - st.f_ffree


def case_idle_binary(tmp):
    """The binary is a copy on a tmpfs of its own, and the test holds no descriptor to it: once
    its process has gone and it is unlinked, only uprobes can keep its inode alive, so that
    tmpfs's inode count says whether probes on this very file are held. Other interpreters
    started on the host meanwhile (other suites) cannot change it (another `watch --all` running
    at the same time would hold probes on it too, and must let them go after its own idle
    minute as well). watch's count of perf events only says when to look."""
    name = "watch --all: an interpreter binary no process runs any more"
    if not os.access(PY311, os.X_OK):
        return skip(name, "no " + PY311)
    mnt = os.path.join(tmp, "idlebin")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,nr_inodes=64", "tmpfs", mnt]).returncode:
        return skip(name, "no tmpfs mount")
    w = t = None
    try:
        copy = os.path.join(mnt, "python3.11")      # a binary of its own (another inode)
        shutil.copy2(PY311, copy)
        w = subprocess.Popen([PYHANG, "watch", "--all", "--threshold", "600", "--duration", "200"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(5)
        base = perf_fds(w.pid)
        t = Target([copy, "-c", "import time; print('ready', flush=True); time.sleep(600)"])
        if not check(t.ready, name + ": started"):
            return
        end, held = time.time() + 30, base
        while time.time() < end and held <= base:
            time.sleep(0.5)
            held = perf_fds(w.pid)
        time.sleep(1)       # the probes of one binary are attached in one go: give it time
        t.stop()
        with_file = inodes_used(mnt)
        os.unlink(copy)     # its process gone: only probes on it can keep it now
        kept = inodes_used(mnt)
        check(kept == with_file and held > base,
              name + ": its probes attached while it ran (they hold its inode)",
              "%d inodes in use on its tmpfs after the unlink, %d before; %d perf events in watch, "
              "%d before it ran" % (kept, with_file, held, base))
        end, now = time.time() + 120, kept
        while time.time() < end and now >= with_file:
            time.sleep(1)
            now = inodes_used(mnt)
        check(now < with_file, name + ": its probes gone once it has been unused for a minute",
              "%d inodes in use on its tmpfs, %d while its probes held it" % (now, with_file))
        check(w.poll() is None, name + ": watch still runs")
    finally:
        if t:
            t.stop()
        if w:
            w.kill()
            w.wait()
        subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)


# ---- soak: a short churn, RSS flat ------------------------------------------------------------------

def case_soak(tmp):
    name = "soak: watch --all and record --all through a churn of short-lived processes"
    secs = os.environ.get("PYHANG_SOAK_SECONDS", "40")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "soak.py"), "--pyhang", PYHANG,
                        "--seconds", secs, "--every", "4", "--rate", "6", "--check"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=float(secs) + 300)
    text = p.stdout.decode(errors="replace")
    for l in text.splitlines():
        if l.startswith("soak: "):
            print("# " + l)
    rss = re.findall(r"soak: (\S+): RSS (\d+) KiB after warm-up, (\d+) KiB at the end", text)
    check(len(rss) == 2, name + ": both sampled", text[-500:])
    check(p.returncode == 0, name + ": RSS and descriptors flat, neither died", text[-500:])


def main():
    if os.geteuid() != 0:
        print("not ok - run_hostile.py needs root (namespaces, chroot, mounts)")
        print("0 passed, 1 failed")
        return 1
    cases = [case_symlink_pivot_root, case_chroot, case_fifo_lib, case_shared_linetable, case_escapes,
             case_metrics_surrogate, case_output_planted, case_corrupt, case_storm, case_deep,
             case_thousand, case_execloop, case_forged, case_fuse_stall, case_fuse_attach,
             case_uffd_stall, case_uffd_code, case_uffd_task, case_fuse_native, case_exec, case_privileges,
             case_heartbeat, case_capacity, case_capacity_wait, case_idle_binary, case_soak]
    only = os.environ.get("PYHANG_HOSTILE")
    for case in cases:
        if only and not any(o in case.__name__ for o in only.split(",")):
            continue
        tmp = tempfile.mkdtemp(prefix="pyhang-hostile-")
        try:
            case(tmp)
        except Exception as e:  # a broken case is a failure, not the end of the run
            check(False, "%s raised" % case.__name__, repr(e))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (results["pass"], results["fail"]))
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
