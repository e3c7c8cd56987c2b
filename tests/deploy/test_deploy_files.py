#!/usr/bin/env python3
"""The shipped deploy/ files, checked by the real tools (no dsserve server needed):
promtool check rules / check config / test rules, nginx -t, systemd-analyze verify, Grafana JSON,
and the structure of the Kubernetes manifests (no cluster here: parsed with PyYAML). A tool that is
not installed fails its test (scripts/setup installs them all): a skipped check would prove nothing.

Environment: DSSERVE_BIN, DSSERVE_SOURCE (set by tests/deploy/CMakeLists.txt).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

SOURCE = os.environ.get("DSSERVE_SOURCE", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DSSERVE = os.path.abspath(os.environ.get("DSSERVE_BIN", os.path.join(SOURCE, "build", "dsserve")))
DEPLOY = os.path.join(SOURCE, "deploy")


def tool(name, *extra_dirs):
    path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", *extra_dirs]))
    if path is None:
        raise AssertionError(f"{name} is not installed (scripts/setup installs it)")
    return path


def run(*cmd, timeout=60):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_test_conf(tmp, port, upstream_ports):
    """The shipped server config inside a minimal main config, on loopback ports, files under tmp."""
    with open(os.path.join(DEPLOY, "nginx", "dsserve.conf")) as f:
        conf = f.read()
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};")
    servers = iter(upstream_ports)
    conf = re.sub(r"server 127\.0\.0\.1:800[01]", lambda m: f"server 127.0.0.1:{next(servers)}", conf)
    with open(os.path.join(tmp, "dsserve.conf"), "w") as f:
        f.write(conf)
    main = f"""
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/dsserve.conf;
}}
"""
    path = os.path.join(tmp, "nginx.conf")
    with open(path, "w") as f:
        f.write(main)
    return path


class Prometheus(unittest.TestCase):
    def test_rules(self):
        p = run(tool("promtool"), "check", "rules", os.path.join(DEPLOY, "prometheus", "dsserve.rules.yml"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("SUCCESS", p.stdout + p.stderr)

    def test_config(self):
        p = run(tool("promtool"), "check", "config", os.path.join(DEPLOY, "prometheus", "prometheus.yml"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_alerts_fire(self):
        """promtool's rule unit tests: each alert fires on the series it is written for."""
        p = run(tool("promtool"), "test", "rules", os.path.join(SOURCE, "tests", "deploy", "alerts_test.yml"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class Nginx(unittest.TestCase):
    def test_config_syntax(self):
        tmp = tempfile.mkdtemp(prefix="dsserve-nginx-")
        try:
            conf = nginx_test_conf(tmp, free_port(), [free_port(), free_port()])
            p = run(tool("nginx"), "-t", "-p", tmp, "-e", os.path.join(tmp, "error.log"), "-c", conf)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("test is successful", p.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_required_directives(self):
        with open(os.path.join(DEPLOY, "nginx", "dsserve.conf")) as f:
            conf = re.sub(r"#.*", "", f.read())
        for d in ("least_conn;", "keepalive 32;", "max_fails=3", "fail_timeout=10s", "proxy_http_version 1.1;",
                  "proxy_buffering off;", "proxy_read_timeout 600s;", "X-Accel-Buffering no",
                  "client_max_body_size", "proxy_next_upstream error timeout;", "proxy_next_upstream_tries 2;",
                  "deny all;", 'proxy_set_header Connection "";'):
            self.assertIn(d, conf)
        self.assertNotIn("non_idempotent", conf, "a started generation must never be re-sent")


class Systemd(unittest.TestCase):
    def test_verify(self):
        tmp = tempfile.mkdtemp(prefix="dsserve-systemd-")
        try:
            with open(os.path.join(DEPLOY, "systemd", "dsserve.service")) as f:
                unit = f.read().replace("/usr/local/bin/dsserve", DSSERVE)
            path = os.path.join(tmp, "dsserve.service")
            with open(path, "w") as f:
                f.write(unit)
            p = run(tool("systemd-analyze"), "verify", path)
            out = p.stdout + p.stderr
            # Outside a booted systemd (containers, CI) verify still parses the unit; it reports
            # every unknown or misspelt directive as "Unknown key name" / "Failed to parse".
            self.assertNotRegex(out, r"(?i)unknown (key|section)|failed to parse|invalid|is not executable", out)
            self.assertEqual(p.returncode, 0, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_hardening_present(self):
        with open(os.path.join(DEPLOY, "systemd", "dsserve.service")) as f:
            unit = f.read()
        for d in ("Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                  "User=dsserve", "DeviceAllow=/dev/nvidiactl", "DevicePolicy=closed", "ExecReload=/bin/kill -HUP"):
            self.assertIn(d, unit)


class Logrotate(unittest.TestCase):
    def test_config_parses(self):
        tmp = tempfile.mkdtemp(prefix="dsserve-logrotate-")
        try:
            with open(os.path.join(DEPLOY, "logrotate", "dsserve")) as f:
                conf = f.read().replace("/var/log/dsserve/", tmp + "/").replace("create 0640 dsserve adm", "create 0640")
            path = os.path.join(tmp, "dsserve.conf")
            with open(path, "w") as f:
                f.write(conf)
            p = run(tool("logrotate"), "-d", "-s", os.path.join(tmp, "state"), path)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertNotIn("error", (p.stdout + p.stderr).lower())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class Grafana(unittest.TestCase):
    def test_dashboard(self):
        with open(os.path.join(DEPLOY, "grafana", "dsserve.json")) as f:
            dash = json.load(f)
        titles = [p["title"] for p in dash["panels"]]
        for want in ("GPU utilisation", "Request latency P50 / P99", "Batch efficiency", "GPU memory"):
            self.assertTrue(any(t.startswith(want) for t in titles), (want, titles))
        for p in dash["panels"]:
            self.assertTrue(p["targets"], p["title"])
            for t in p["targets"]:
                self.assertRegex(t["expr"], r"(vllm|dsserve):|process_")


class Kubernetes(unittest.TestCase):
    """No cluster is available: the manifests are parsed and their structure checked."""

    @classmethod
    def setUpClass(cls):
        try:
            import yaml  # noqa: F401
        except ImportError:
            raise AssertionError("PyYAML is not installed for this Python: manifests not parsed")
        cls.docs = {}
        kdir = os.path.join(DEPLOY, "kubernetes")
        for name in sorted(os.listdir(kdir)):
            if name.endswith(".yaml"):
                with open(os.path.join(kdir, name)) as f:
                    for doc in yaml.safe_load_all(f):
                        cls.docs[doc["kind"]] = doc

    def test_kinds(self):
        self.assertEqual(set(self.docs), {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"})

    def test_deployment(self):
        d = self.docs["Deployment"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        self.assertEqual(d["spec"]["selector"]["matchLabels"].items() - labels.items(), set())
        c = d["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["resources"]["limits"]["nvidia.com/gpu"], 1)
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            self.assertEqual(c[probe]["httpGet"]["path"], "/health", probe)
            self.assertEqual(c[probe]["httpGet"]["port"], "http")
        self.assertIn({"name": "http", "containerPort": 8000, "protocol": "TCP"}, c["ports"])
        self.assertEqual(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0)

    def test_service_pdb_hpa_match(self):
        labels = self.docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
        self.assertEqual(self.docs["Service"]["spec"]["selector"].items() - labels.items(), set())
        self.assertEqual(self.docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() - labels.items(), set())
        hpa = self.docs["HorizontalPodAutoscaler"]
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], self.docs["Deployment"]["metadata"]["name"])
        self.assertEqual(hpa["spec"]["metrics"][0]["pods"]["metric"]["name"], "vllm_num_requests_waiting")


if __name__ == "__main__":
    unittest.main(verbosity=2)
