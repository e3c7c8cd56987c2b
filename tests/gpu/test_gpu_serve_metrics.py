#!/usr/bin/env python3
"""GPU machine: `dsserve serve --device cuda` answers correctly and /metrics carries the NVML gauges
(dsserve:gpu_*) with plausible values while serving. Standard library only.

usage: test_gpu_serve_metrics.py DSSERVE STORIES260K_DIR
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

DSSERVE = STORIES = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.read().decode()


def post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read().decode())


def gauge(text, name, gpu="0"):
    m = re.search(r'^%s\{[^}]*gpu="%s"[^}]*\} (\S+)$' % (re.escape(name), gpu), text, re.M)
    return float(m.group(1)) if m else None


class ServeOnGpu(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.base = f"http://127.0.0.1:{cls.port}"
        cls.proc = subprocess.Popen([DSSERVE, "serve", STORIES, "--device", "cuda", "--port", str(cls.port),
                                     "--served-model-name", "stories", "--num-kv-blocks", "1024", "--metrics-public"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(600):
            try:
                if get(cls.base + "/health")[0] == 200:
                    return
            except Exception:
                time.sleep(0.1)
        cls.proc.kill()
        raise AssertionError("server did not become healthy: " + cls.proc.stdout.read()[-2000:])

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=60)

    def test_greedy_text_and_gpu_gauges(self):
        with open(os.path.join(STORIES, "golden.json")) as f:
            golden = json.load(f)["cases"][0]
        r = post(self.base + "/v1/completions", {"model": "stories", "prompt": golden["prompt"], "max_tokens": 60,
                                                 "temperature": 0, "ignore_eos": True})
        self.assertEqual(golden["prompt"] + r["choices"][0]["text"], golden["text"])
        _, text = get(self.base + "/metrics")
        used, total = gauge(text, "dsserve:gpu_memory_used_bytes"), gauge(text, "dsserve:gpu_memory_total_bytes")
        util, temp = gauge(text, "dsserve:gpu_utilization_perc"), gauge(text, "dsserve:gpu_temperature_celsius")
        power = gauge(text, "dsserve:gpu_power_watts")
        print(f"gpu0: used {used:.3g} B of {total:.3g} B, util {util}%, {temp} C, {power} W")
        self.assertGreater(total, 40e9)            # an H100/H200 has 80-141 GB
        self.assertGreater(used, 100e6)            # our weights, KV cache and CUDA context at least
        self.assertLessEqual(used, total)
        self.assertTrue(0 <= util <= 100)
        self.assertTrue(10 <= temp <= 100)
        self.assertTrue(20 <= power <= 1200)
        self.assertIn("vllm:generation_tokens_total", text)


if __name__ == "__main__":
    DSSERVE, STORIES = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0], "-v"])
