#!/usr/bin/env python3
"""The shipped deploy/ files with live components on loopback: two `dsserve serve` replicas (CPU,
stories260k) behind nginx running deploy/nginx/dsserve.conf, Prometheus running
deploy/prometheus/prometheus.yml against them, and logrotate running deploy/logrotate/dsserve
against a live replica's audit log. Every process is started and stopped by the test, only on
127.0.0.1, and bounded in time. Standard library only.

Rewrites applied to the shipped files (and nothing else): ports and paths to the test's own, the
logrotate postrotate signals the test's replicas by pid (the shipped pkill would reach every
`dsserve serve` on the machine), the Prometheus scrape interval is 1 s.

Environment: DSSERVE_BIN, DSSERVE_SOURCE, DSSERVE_SHARED (set by tests/deploy/CMakeLists.txt).
"""
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_deploy_files import DEPLOY, DSSERVE, free_port, nginx_test_conf, tool  # noqa: E402

SHARED = os.environ.get("DSSERVE_SHARED", os.path.join(os.path.dirname(DEPLOY), "..", "shared"))
MODEL = os.path.join(SHARED, "models", "stories260k")


def wait_until(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def http_get(port, path, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Replica:
    def __init__(self, tmp, name):
        self.name, self.port = name, free_port()
        self.log_file = os.path.join(tmp, "logs", f"{name}.log")
        self.out = open(os.path.join(tmp, f"{name}.out"), "ab")
        self.proc = None

    def start(self):
        os.makedirs(os.path.dirname(self.log_file), exist_ok=True)
        self.proc = subprocess.Popen(
            [DSSERVE, "serve", MODEL, "--host", "127.0.0.1", "--port", str(self.port), "--threads", "1",
             "--served-model-name", "stories", "--num-kv-blocks", "512", "--log-file", self.log_file,
             "--log-max-bytes", "0", "--log-interval", "0", "--shutdown-timeout", "30"],
            stdout=self.out, stderr=subprocess.STDOUT)
        wait_until(lambda: http_get(self.port, "/health", 1)[0] == 200 or self.proc.poll() is not None, 60,
                   f"replica {self.name} /health")
        assert self.proc.poll() is None, f"replica {self.name} exited: see {self.out.name}"

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def metric(self, name, label=""):
        _, body = http_get(self.port, "/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
            if m and m.group(1) == name and label in (m.group(2) or ""):
                total += float(m.group(3))
        return total


def completion(port, stream, max_tokens=16, timeout=60):
    """One request; returns (status, body bytes, [arrival time of each chunk])."""
    body = json.dumps({"model": "stories", "prompt": "Once upon a time", "max_tokens": max_tokens,
                       "temperature": 0, "stream": stream})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        chunks, times = [], []
        while True:
            b = r.read1(65536) if stream else r.read()
            if not b:
                break
            chunks.append(b)
            times.append(time.monotonic())
            if not stream:
                break
        return r.status, b"".join(chunks), times
    finally:
        c.close()


def ok_response(status, body, stream):
    if status != 200:
        return False
    if stream:
        return body.rstrip().endswith(b"data: [DONE]")
    try:
        return bool(json.loads(body)["choices"][0]["text"] is not None)
    except Exception:
        return False


class Load:
    """Threads sending mixed stream / non-stream requests until stopped; records each outcome."""

    def __init__(self, port, threads=4):
        self.port, self.stop_flag, self.results = port, threading.Event(), []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def run(self, i):
        n = 0
        while not self.stop_flag.is_set():
            stream = (n + i) % 2 == 0
            t0 = time.monotonic()
            try:
                status, body, _ = completion(self.port, stream)
                good = ok_response(status, body, stream)
            except Exception as e:  # connection reset etc.
                status, good = repr(e), False
            with self.lock:
                self.results.append((t0, time.monotonic(), stream, status, good))
            n += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(90)


class LiveStack(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tool("nginx")
        cls.tmp = tempfile.mkdtemp(prefix="dsserve-live-")
        cls.replicas = [Replica(cls.tmp, "a"), Replica(cls.tmp, "b")]
        cls.nginx = None
        try:
            for r in cls.replicas:
                r.start()
            cls.nginx_port = free_port()
            conf = nginx_test_conf(cls.tmp, cls.nginx_port, [r.port for r in cls.replicas])
            cls.nginx = subprocess.Popen([tool("nginx"), "-p", cls.tmp, "-e", os.path.join(cls.tmp, "error.log"), "-c", conf],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_until(lambda: http_get(cls.nginx_port, "/health", 1)[0] == 200, 20, "nginx")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.nginx is not None and cls.nginx.poll() is None:
            cls.nginx.terminate()
            cls.nginx.wait(20)
        for r in cls.replicas:
            r.stop()
            r.out.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ensure_replicas_up(self):
        for r in self.replicas:
            if r.proc.poll() is not None:
                r.start()

    # ---- nginx ----
    def test_1_mixed_requests_spread_over_replicas(self):
        before = [r.metric("vllm:request_success_total") for r in self.replicas]
        results = []
        lock = threading.Lock()

        def worker(k):
            for n in range(k, 300, 6):
                stream = n % 2 == 0
                status, body, _ = completion(self.nginx_port, stream)
                with lock:
                    results.append(ok_response(status, body, stream))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertEqual(len(results), 300)
        self.assertEqual(results.count(True), 300)
        served = [r.metric("vllm:request_success_total") - b for r, b in zip(self.replicas, before)]
        self.assertEqual(sum(served), 300, served)
        self.assertTrue(all(s > 0 for s in served), f"both replicas serve: {served}")

    def test_2_streaming_is_incremental_through_nginx(self):
        status, body, times = completion(self.nginx_port, True, max_tokens=400)
        self.assertEqual(status, 200)
        self.assertTrue(body.rstrip().endswith(b"data: [DONE]"))
        self.assertGreater(len(times), 3, "SSE arrives in several pieces, not one buffered body")
        self.assertLess(times[0], times[-1])

    def test_3_replica_killed_mid_run(self):
        self.ensure_replicas_up()
        victim = self.replicas[1]
        grace = 0.2  # nginx notices the closed keep-alive connections within one event-loop turn
        with Load(self.nginx_port, threads=4) as load:
            wait_until(lambda: len(load.results) >= 8, 120, "requests before the kill")
            t_kill = time.monotonic()
            victim.stop(signal.SIGKILL)
            wait_until(lambda: len([r for r in load.results if r[0] > t_kill + grace]) >= 12, 120,
                       "requests after the kill")
        after = [r for r in load.results if r[0] > t_kill + grace]
        with open(os.path.join(self.tmp, "error.log"), errors="replace") as f:
            errors = [line for line in f if "upstream" in line][-5:]
        self.assertTrue(all(r[4] for r in after), ([r for r in after if not r[4]][:5], errors))
        # requests in flight on the killed replica end visibly (an error status or a stream
        # without [DONE]); none is silently reported as complete
        failed = [r for r in load.results if not r[4]]
        self.assertTrue(all(r[0] <= t_kill + grace for r in failed), failed[:5])
        victim.start()

    def upstream(self, action, replica):
        """deploy/nginx/dsserve-upstream against the test's nginx (graceful reload)."""
        env = dict(os.environ, NGINX=tool("nginx"),
                   NGINX_ARGS=f"-p {self.tmp} -e {self.tmp}/error.log -c {self.tmp}/nginx.conf")
        p = subprocess.run([os.path.join(DEPLOY, "nginx", "dsserve-upstream"), action, f"127.0.0.1:{replica.port}",
                            os.path.join(self.tmp, "dsserve.conf")], capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_4_rolling_restart_loses_nothing(self):
        """docs/DEPLOYMENT.md's upgrade: per replica, take it out of nginx, let it finish, restart
        it, wait for /health, put it back."""
        self.ensure_replicas_up()
        with Load(self.nginx_port, threads=4) as load:
            time.sleep(1)
            for r in self.replicas:
                self.upstream("down", r)
                wait_until(lambda: r.metric("vllm:num_requests_running") + r.metric("vllm:num_requests_waiting") == 0
                           and time.sleep(0.5) is None
                           and r.metric("vllm:num_requests_running") + r.metric("vllm:num_requests_waiting") == 0,
                           60, "replica idle")
                r.stop(signal.SIGTERM)
                r.start()
                self.upstream("up", r)
                time.sleep(1)
        self.assertGreater(len(load.results), 10)
        bad = [r for r in load.results if not r[4]]
        self.assertEqual(bad, [], f"{len(bad)} of {len(load.results)} requests failed")

    # ---- Prometheus ----
    def test_5_prometheus_scrapes_and_accepts_dashboard_queries(self):
        self.ensure_replicas_up()
        prom = tool("prometheus")
        d = os.path.join(self.tmp, "prom")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
            conf = f.read()
        targets = ", ".join(f'"127.0.0.1:{r.port}"' for r in self.replicas)
        conf = re.sub(r'targets: \[[^\]]*\]', f"targets: [{targets}]", conf)
        conf = conf.replace("scrape_interval: 15s", "scrape_interval: 1s")
        conf = conf.replace("- dsserve.rules.yml", "- " + os.path.join(DEPLOY, "prometheus", "dsserve.rules.yml"))
        with open(os.path.join(d, "prometheus.yml"), "w") as f:
            f.write(conf)
        port = free_port()
        with open(os.path.join(d, "log"), "wb") as log:
            p = subprocess.Popen([prom, f"--config.file={d}/prometheus.yml", f"--storage.tsdb.path={d}/data",
                                  f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=log)
        try:
            def query(expr):
                url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
                try:
                    with urllib.request.urlopen(url, timeout=5) as r:
                        return json.load(r)
                except urllib.error.HTTPError as e:
                    return json.load(e)

            for _ in range(3):
                completion(self.replicas[0].port, False)
            wait_until(lambda: len(query("vllm:num_requests_running")["data"]["result"]) == 2, 60,
                       "both replicas scraped")
            wait_until(lambda: query("vllm:time_to_first_token_seconds_bucket")["data"]["result"], 30,
                       "TTFT histogram")
            with open(os.path.join(DEPLOY, "grafana", "dsserve.json")) as f:
                dash = json.load(f)
            for panel in dash["panels"]:
                for t in panel["targets"]:
                    expr = t["expr"].replace("$__rate_interval", "1m").replace("$instance", ".*")
                    res = query(expr)
                    self.assertEqual(res.get("status"), "success", (panel["title"], expr, res))
        finally:
            p.terminate()
            p.wait(30)

    # ---- logrotate ----
    def test_6_logrotate_against_live_audit_log(self):
        self.ensure_replicas_up()
        r = self.replicas[0]
        logs = os.path.dirname(r.log_file)
        with open(os.path.join(DEPLOY, "logrotate", "dsserve")) as f:
            conf = f.read()
        pids = " ".join(str(x.proc.pid) for x in self.replicas)
        conf = conf.replace("/var/log/dsserve/", logs + "/").replace("create 0640 dsserve adm", "create 0640")
        conf = re.sub(r"pkill -HUP [^>]*>", f"kill -HUP {pids} >", conf)
        self.assertIn(f"kill -HUP {pids}", conf)
        path = os.path.join(self.tmp, "logrotate.conf")
        with open(path, "w") as f:
            f.write(conf)
        state = os.path.join(self.tmp, "logrotate.state")

        def lines(p):
            if not os.path.exists(p):
                return 0
            opener = gzip.open if p.endswith(".gz") else open
            with opener(p, "rt") as f:
                return sum(1 for _ in f)

        def all_lines():
            return sum(lines(os.path.join(logs, f)) for f in os.listdir(logs) if f.startswith("a.log"))

        base = all_lines()
        outputs = []
        with Load(r.port, threads=2) as load:  # traffic keeps flowing while the file moves
            for _ in range(2):  # the second run compresses the first rotation (delaycompress)
                time.sleep(0.5)
                # notifempty: rotate only once the live file holds lines (a busy machine is slow)
                wait_until(lambda: os.path.getsize(r.log_file) > 0, 60, "audit lines in a.log")
                p = subprocess.run([tool("logrotate"), "-v", "-f", "-s", state, path], capture_output=True, text=True,
                                   timeout=60)
                outputs.append(p.stdout + p.stderr)
                self.assertEqual(p.returncode, 0, outputs[-1])
            time.sleep(1)
        sent = len(load.results)
        self.assertTrue(all(x[4] for x in load.results))
        self.assertTrue(os.path.exists(os.path.join(logs, "a.log.1")), (os.listdir(logs), outputs))
        self.assertTrue(os.path.exists(os.path.join(logs, "a.log.2.gz")), (os.listdir(logs), outputs))
        completion(r.port, False)  # the server writes to the new file after the last rotation
        wait_until(lambda: lines(r.log_file) > 0, 10, "a line in the new a.log")
        self.assertEqual(all_lines() - base, sent + 1, "no audit line lost across two rotations")


if __name__ == "__main__":
    unittest.main(verbosity=2)
