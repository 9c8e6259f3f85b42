#!/usr/bin/env python3
"""End-to-end tests of `pyhang watch --all --metrics` and of watch as a service.

(a) a real Prometheus (Debian package `prometheus`) scrapes watch's /metrics every 1 s; during a
    deadlock its query API returns pyhang_hung_threads >= 1 for the hung process;
(b) counters are monotonic across scrapes; (c) a scraper that connects and never sends or reads
    does not stop other scrapes nor delay the hang report; (d) a port in use gives one clear line
    and a non-zero exit; (e) --all sees a Python process that lives ~1.5 s and hangs in it,
    started after watch; (f) SIGTERM: exit 0 and a summary line; SIGHUP: a logged rescan.
Also: GET elsewhere is 404, and events carry the process label and cgroup.

usage: tests/e2e/run_metrics.py [PYHANG]     prints ok/not ok lines and "N passed, N failed"
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PY = "/root/.pyenv/versions/3.12.1/bin/python"
DEADLOCK = os.path.join(HERE, "watch", "deadlock.py")
results = []


def report(ok, name, msg):
    results.append(ok)
    print("%s - metrics %s: %s" % ("ok" if ok else "not ok", name, msg))
    sys.stdout.flush()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, timeout=3):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def parse(text):
    vals = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, v = line.rpartition(" ")
            vals[key] = float(v)
    return vals


class Watch:
    """pyhang watch --all --json --metrics, its events read by a thread."""

    def __init__(self, pyhang, port, extra=()):
        self.p = subprocess.Popen([pyhang, "watch", "--all", "--json", "-t", "1", "--duration", "90",
                                   "--metrics", "127.0.0.1:%d" % port] + list(extra),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True)
        self.events, self.err = [], []
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()
        self.url = "http://127.0.0.1:%d/metrics" % port
        deadline = time.time() + 30
        while time.time() < deadline and self.p.poll() is None:
            if any("serving metrics" in l for l in self.err):
                break
            time.sleep(0.05)

    def _out(self):
        for l in self.p.stdout:
            try:
                self.events.append((time.time(), json.loads(l)))
            except ValueError:
                pass

    def _err(self):
        for l in self.p.stderr:
            self.err.append(l.rstrip("\n"))

    def wait_event(self, pred, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for t, e in list(self.events):
                if pred(e):
                    return t, e
            time.sleep(0.05)
        return None, None

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        time.sleep(0.2)
        return self.p.returncode


def start_deadlock():
    proc = subprocess.Popen([PY, DEADLOCK], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            universal_newlines=True, cwd=os.path.dirname(DEADLOCK))
    if proc.stdout.readline().strip() != "READY":
        raise RuntimeError("deadlock.py did not start")
    return proc


def test_prometheus(pyhang):
    prom = shutil.which("prometheus")
    if not prom:
        report(False, "prometheus", "the prometheus package is not installed (tools/deps.sh)")
        return
    wport, pport = free_port(), free_port()
    tmp = tempfile.mkdtemp(prefix="pyhang-prom-")
    watch = proc = pr = None
    try:
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: pyhang\n    scrape_interval: 1s\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % wport)
        watch = Watch(pyhang, wport)
        pr = subprocess.Popen([prom, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
                               "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                               "--web.listen-address=127.0.0.1:%d" % pport],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc = start_deadlock()
        q = "http://127.0.0.1:%d/api/v1/query?query=pyhang_hung_threads" % pport
        found, last, samples = None, "", []
        deadline = time.time() + 40
        while time.time() < deadline and not found:
            time.sleep(0.5)
            try:
                _, body = get(q, timeout=2)
                res = json.loads(body)["data"]["result"]
            except (OSError, ValueError, KeyError):
                continue
            last = "%d series" % len(res)
            for r in res:
                if r["metric"].get("pid") == str(proc.pid) and float(r["value"][1]) >= 1:
                    found = r
        # (b) counters across scrapes, while the program stays deadlocked
        for _ in range(5):
            code, body = get(watch.url)
            if code == 200:
                samples.append(parse(body))
            time.sleep(0.3)
        if found:
            report(True, "prometheus", "Prometheus query saw pyhang_hung_threads{pid=%s,kind=%s} = %s" %
                   (found["metric"]["pid"], found["metric"].get("kind"), found["value"][1]))
        else:
            report(False, "prometheus", "no pyhang_hung_threads >= 1 for pid %d (%s)" % (proc.pid, last))
        keys = [k for k in (samples[0] if samples else {}) if "_total" in k]
        mono = len(samples) >= 4 and keys and all(
            s2.get(k, -1) >= s1.get(k, 0) for s1, s2 in zip(samples, samples[1:]) for k in keys)
        helps = get(watch.url)[1]
        typed = all("# TYPE %s " % n in helps for n in ("pyhang_hung_threads", "pyhang_processes_watched",
                                                       "pyhang_hang_events_total", "pyhang_samples_total",
                                                       "pyhang_lost_records_total"))
        report(bool(mono) and typed, "monotonic",
               "%d scrapes, %d counters never decreased; HELP/TYPE present: %s" % (len(samples), len(keys), typed))
        code404, _ = get(watch.url.replace("/metrics", "/other"))
        report(code404 == 404, "404", "GET /other -> %d" % code404)
    finally:
        for p in (pr, proc):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        if watch:
            watch.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_idle_scraper(pyhang):
    port = free_port()
    watch = Watch(pyhang, port)
    proc = None
    idle = []
    try:
        for _ in range(20):     # more idle connections than the server keeps at once
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            idle.append(s)
        half = socket.create_connection(("127.0.0.1", port), timeout=2)
        half.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")   # never finishes the request
        idle.append(half)
        t0 = time.time()
        proc = start_deadlock()
        answered = 0
        for _ in range(6):
            t = time.time()
            code, body = get(watch.url, timeout=4)
            if code == 200 and "pyhang_processes_watched" in body and time.time() - t < 3:
                answered += 1
            time.sleep(0.3)
        t, ev = watch.wait_event(lambda e: e.get("pid") == proc.pid and e["event"] in ("deadlock", "blocked"), 15)
        ok = answered == 6 and ev is not None
        report(ok, "idle scraper", "%d/6 scrapes answered with 21 idle connections open; hang reported %s" %
               (answered, "after %.1f s" % (t - t0) if t else "never"))
        # (f) SIGHUP: a logged rescan
        watch.p.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while time.time() < deadline and not any("SIGHUP" in l for l in watch.err):
            time.sleep(0.1)
        hup = [l for l in watch.err if "SIGHUP" in l]
        report(bool(hup) and watch.p.poll() is None, "sighup", hup[0] if hup else "no log line")
    finally:
        for s in idle:
            s.close()
        if proc:
            proc.kill()
            proc.wait()
        rc = watch.stop(signal.SIGTERM)
        last = watch.err[-1] if watch.err else ""
        report(rc == 0 and "watch stopped (SIGTERM)" in last, "sigterm", "exit %s, %r" % (rc, last[:160]))


def test_port_in_use(pyhang):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = subprocess.run([pyhang, "watch", "--all", "--metrics", "127.0.0.1:%d" % port, "--duration", "5"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
        lines = r.stderr.strip().splitlines()
        ok = r.returncode != 0 and len(lines) == 1 and "in use" in lines[0] and str(port) in lines[0]
        report(ok, "port in use", "exit %d, %r" % (r.returncode, lines))
    finally:
        s.close()


SHORT = r"""
import os, sys, time
def wait_for_reply():
    time.sleep(1.5)   # @hang
print("PID", os.getpid()); sys.stdout.flush()
wait_for_reply()
"""


def test_short_process(pyhang):
    port = free_port()
    watch = Watch(pyhang, port)
    try:
        time.sleep(0.5)
        t0 = time.time()
        proc = subprocess.Popen([PY, "-c", SHORT], stdout=subprocess.PIPE, universal_newlines=True)
        pid = proc.pid
        proc.wait(timeout=10)
        t, ev = watch.wait_event(lambda e: e.get("pid") == pid and e["event"] == "blocked", 5)
        ok = ev is not None and ev["frames"] and ev["frames"][0]["function"] == "wait_for_reply"
        if ok:
            ok = ev.get("label", "").startswith("python -c") and "[pid %d" % pid in ev["label"] and \
                ev.get("cgroup") and ev.get("ns_pid") == pid and ev.get("python") == "3.12.1"
        report(bool(ok), "short-lived", "process living 1.5 s: %s" %
               ("blocked reported %.2f s after start, label %r, cgroup %r" % (t - t0, ev["label"], ev["cgroup"])
                if ev else "not reported"))
    finally:
        watch.stop()


def main():
    pyhang = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "pyhang")
    for fn in (test_port_in_use, test_short_process, test_idle_scraper, test_prometheus):
        try:
            fn(pyhang)
        except Exception as e:  # a broken case must not stop the others
            report(False, fn.__name__[5:], "driver error: %r" % (e,))
    passed = sum(1 for r in results if r)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) and results else 1


if __name__ == "__main__":
    sys.exit(main())
