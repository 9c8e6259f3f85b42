#!/usr/bin/env python3
"""End-to-end: the stacks of running threads are true snapshots, on every interpreter.

Each program in tests/e2e/running/ prints `READY <json call graph>` and then runs;
the call graph says, for each function (co_name), which functions may call it.
A dump counts when the main thread's stack is whole (it reaches `<module>`,
no stack_error) and consistent (every frame is called by a function that can
call it).

- deep_cpu.py: CPU-bound, 20-60 frames deep and changing thousands of times a
  second. Dumped DEEP_DUMPS times: every stack whole and consistent, and read
  in the kernel ("snapshot": "kernel").
- stdlib_ast.py: the standard library's ast.NodeVisitor over the parsed
  standard library, whole and consistent the same way: code nobody here wrote
  (it reads files, so it is sometimes asleep and read from memory).
- alternating.py: a few milliseconds running, a few sleeping, deep in calls
  either way. Dumped ALT_DUMPS times: every stack whole and consistent,
  whichever way it was read.
- the store of pinned programs (src/kernel/bpfpin.h), on deep_cpu.py: a dump
  pins the snapshot program, the next one uses it; a forged pin is replaced, a
  held entry or PYHANG_BPF_PIN=0 or no bpf filesystem means a program of its
  own; dumps at once, each whole. Every stack read in the kernel and judged.

usage: tests/e2e/run_running.py [PYHANG]      (PYHANG_PYTHONS=3.12,2.7 narrows)
Prints `ok - ...` / `not ok - ...` and `N passed, N failed`.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROGS = os.path.join(HERE, "running")
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import interpreters  # noqa: E402  (tests/lib: the one list of interpreters)

PYHANG = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "pyhang")
DEEP_DUMPS = 20
ALT_DUMPS = 50
results = {"pass": 0, "fail": 0}


def report(ok, name, why=""):
    results["pass" if ok else "fail"] += 1
    print("%s - %s%s" % ("ok" if ok else "not ok", name, (": " + why) if why else ""))
    sys.stdout.flush()


def start(py, prog):
    p = subprocess.Popen([py, os.path.join(PROGS, prog)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    line = p.stdout.readline()
    if not line.startswith("READY "):
        p.kill()
        p.wait()
        raise RuntimeError("%s did not start: %r %s" % (prog, line, p.stderr.read()[-500:]))
    return p, json.loads(line[len("READY "):])


def judge(dump, pid, calls):
    """None when the main thread's stack is whole and consistent, else why."""
    th = [t for t in dump["threads"] if t["tid"] == pid]
    if not th:
        return "no main thread in the dump"
    t = th[0]
    if t["stack_error"]:
        return "stack_error: %s" % t["stack_error"]
    fr = t["frames"]
    if not fr or fr[-1]["function"] != "<module>":
        return "does not reach <module>: %s" % [f["function"] for f in fr[-3:]]
    for i in range(len(fr) - 1):
        callee, caller = fr[i]["function"], fr[i + 1]["function"]
        if caller not in calls.get(callee, ()):
            return "frame %d %s called by %s, which cannot call it (stack %s)" % (
                i, callee, caller, [f["function"] for f in fr])
    return None


def dump(pid):
    r = subprocess.run([PYHANG, "dump", "--json", "--pid", str(pid)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("dump exited %d: %s" % (r.returncode, r.stderr.strip()))
    return json.loads(r.stdout)


def run_case(label, py, prog, count, want_kernel):
    name = "%s %s x%d" % (label, prog, count)
    try:
        p, calls = start(py, prog)
    except RuntimeError as e:
        report(False, name, str(e))
        return
    bad, kinds = [], {}
    try:
        time.sleep(0.3)
        for i in range(count):
            d = dump(p.pid)
            why = judge(d, p.pid, calls)
            main = [t for t in d["threads"] if t["tid"] == p.pid][0]
            kinds[main["snapshot"]] = kinds.get(main["snapshot"], 0) + 1
            if why is None and want_kernel and main["snapshot"] != "kernel":
                why = "read by %s, want kernel" % main["snapshot"]
            if why:
                bad.append("dump %d: %s" % (i, why))
            time.sleep(0.05)
        state = open("/proc/%d/stat" % p.pid).read().rsplit(")", 1)[1].split()[0]
        if state in ("T", "t", "Z", "X"):
            bad.append("target left in state %s" % state)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
        bad.append(str(e))
    finally:
        p.kill()
        p.wait()
    report(not bad, name, ("%d of %d wrong; first: %s" % (len(bad), count, bad[0])) if bad
           else "all whole and consistent (%s)" % ", ".join(
               "%s %d" % (k, v) for k, v in sorted(kinds.items(), key=str)))


def run_no_bpf(label, py):
    """Without CAP_BPF and CAP_PERFMON (capsh drops them): the memory walk, said once."""
    name = "%s deep_cpu.py without BPF privileges" % label
    p, _ = start(py, "deep_cpu.py")
    try:
        time.sleep(0.3)
        r = subprocess.run(["capsh", "--drop=cap_bpf,cap_perfmon,cap_sys_admin", "--", "-c",
                            "exec %s dump --json --pid %d" % (PYHANG, p.pid)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
    finally:
        p.kill()
        p.wait()
    notes = [l for l in r.stderr.splitlines() if "read from memory, not in the kernel" in l]
    if r.returncode != 0 or len(notes) != 1 or len(r.stderr.splitlines()) != 1:
        report(False, name, "rc %d, stderr %r" % (r.returncode, r.stderr))
        return
    main = [t for t in json.loads(r.stdout)["threads"] if t["tid"] == p.pid][0]
    if main["snapshot"] != "memory" or "may be inconsistent" not in (main["stack_error"] or ""):
        report(False, name, "snapshot %s, stack_error %r" % (main["snapshot"], main["stack_error"]))
        return
    report(True, name, "memory, marked: %s" % main["stack_error"])


def dump_v(pid, env=None, prefix=()):
    """dump -v --json: (dump, the stderr lines about the store)."""
    r = subprocess.run(list(prefix) + [PYHANG, "dump", "-v", "--json", "--pid", str(pid)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       timeout=30, env=dict(os.environ, **(env or {})))
    if r.returncode != 0:
        raise RuntimeError("dump exited %d: %s" % (r.returncode, r.stderr.strip()[-300:]))
    return json.loads(r.stdout), [l for l in r.stderr.splitlines() if "snapshot sampler:" in l]


def kernel_whole(d, pid, calls):
    why = judge(d, pid, calls)
    main = [t for t in d["threads"] if t["tid"] == pid]
    if why is None and main[0]["snapshot"] != "kernel":
        why = "read by %s, want kernel" % main[0]["snapshot"]
    return why


def unpin(entry):
    for f in ("prog",):
        try:
            os.unlink(os.path.join(entry, f))
        except FileNotFoundError:
            pass
    try:
        os.rmdir(entry)
    except FileNotFoundError:
        pass


def run_pinned(label, py):
    """The snapshot program kept in /sys/fs/bpf/pyhang from one dump to the next."""
    import fcntl
    import re
    import threading
    pre = "%s pinned snapshot program: " % label
    if subprocess.run(["stat", "-f", "-c", "%t", "/sys/fs/bpf"], stdout=subprocess.PIPE,
                      universal_newlines=True).stdout.strip() != "cafe4a11":
        report(False, pre + "the store", "no bpf filesystem at /sys/fs/bpf (tools/deps.sh mounts it)")
        return
    p, calls = start(py, "deep_cpu.py")
    try:
        time.sleep(0.3)
        d, lines = dump_v(p.pid)
        m = re.search(r"pinned at (/sys/fs/bpf/pyhang/snap-[0-9a-f]{16}-[0-9a-f]{16})", " ".join(lines))
        if not m:
            report(False, pre + "a dump names its entry", "stderr %r" % lines)
            return
        entry = m.group(1)

        def case(name, want, env=None, prefix=(), before=None):
            try:
                if before:
                    before()
                d, lines = dump_v(p.pid, env, prefix)
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
                report(False, pre + name, str(e))
                return
            why = kernel_whole(d, p.pid, calls)
            got = " | ".join(lines)
            if why is None and not re.fullmatch(want, got):
                why = "stderr %r, want %r" % (got, want)
            report(why is None, pre + name, why or got or "nothing said of the store")

        e = re.escape(entry)
        case("the first dump pins it", r"pyhang: snapshot sampler: pinned at " + e,
             before=lambda: unpin(entry))
        case("the next dump uses it", r"pyhang: snapshot sampler: using the program pinned at " + e)

        # A run without BPF privileges cannot open it, and leaves it to those who can.
        r = subprocess.run(["capsh", "--drop=cap_bpf,cap_perfmon,cap_sys_admin", "--", "-c",
                            "exec %s dump -v --json --pid %d" % (PYHANG, p.pid)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
        said = [l for l in r.stderr.splitlines() if "snapshot sampler:" in l]
        ok = r.returncode == 0 and os.path.exists(entry + "/prog") and said == [
            "pyhang: snapshot sampler: the program pinned at %s could not be opened (Operation "
            "not permitted): loading one" % entry]
        report(ok, pre + "a run without BPF privileges leaves it in place",
               "rc %d, stderr %r, %s" % (r.returncode, said, "kept" if os.path.exists(entry + "/prog")
                                          else "removed"))
        case("and the next dump uses it", r"pyhang: snapshot sampler: using the program pinned at " + e)

        def forge():
            unpin(entry)
            os.mkdir(entry, 0o700)
            subprocess.run(["bpftool", "map", "create", entry + "/prog", "type", "array", "key", "4",
                            "value", "4", "entries", "1", "name", "forged"], check=True)
        case("a map pinned in its place is not used, and replaced",
             r"pyhang: snapshot sampler: the program pinned at %s is not usable \(.*\): loading it "
             r"anew \| pyhang: snapshot sampler: pinned at %s" % (e, e), before=forge)
        case("the replaced one is used", r"pyhang: snapshot sampler: using the program pinned at " + e)
        fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            case("an entry another process holds is left to it",
                 r"pyhang: snapshot sampler: no pinned program to use \(another pyhang uses it\): "
                 r"loading one")
        finally:
            os.close(fd)
        case("PYHANG_BPF_PIN=0: its own program, nothing pinned", r"", env={"PYHANG_BPF_PIN": "0"},
             before=lambda: unpin(entry))
        if os.path.exists(entry):
            report(False, pre + "PYHANG_BPF_PIN=0 leaves the store alone", "%s was made" % entry)
        case("no bpf filesystem: its own program",
             r"pyhang: snapshot sampler: no pinned program to use \(no bpf filesystem at "
             r"/sys/fs/bpf\): loading one",
             prefix=["unshare", "--mount", "--propagation", "private", "sh", "-c",
                     'umount /sys/fs/bpf && exec "$@"', "sh"])
        # Four dumps at once, ten times: one holds the entry, the others load their own.
        bad, said = [], {}

        def worker():
            for _ in range(10):
                try:
                    d, lines = dump_v(p.pid)
                except (RuntimeError, ValueError, subprocess.TimeoutExpired) as ex:
                    bad.append(str(ex))
                    continue
                why = kernel_whole(d, p.pid, calls)
                if why:
                    bad.append(why)
                for l in lines:
                    k = l.split(" at ")[0].split(" (")[0]
                    said[k] = said.get(k, 0) + 1
        ts = [threading.Thread(target=worker) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        report(not bad, pre + "4 dumps at once x10, each whole and read in the kernel",
               ("%d wrong; first: %s" % (len(bad), bad[0])) if bad else
               ", ".join("%s: %d" % kv for kv in sorted(said.items())))
    finally:
        p.kill()
        p.wait()


def main():
    present = interpreters.present()
    if present:
        run_no_bpf(*present[-1])
        run_pinned(*present[-1])
    for label, py in present:
        run_case(label, py, "deep_cpu.py", DEEP_DUMPS, True)
        run_case(label, py, "stdlib_ast.py", DEEP_DUMPS, False)  # it reads files: may sleep
        run_case(label, py, "alternating.py", ALT_DUMPS, False)
    print("%d passed, %d failed" % (results["pass"], results["fail"]))
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
