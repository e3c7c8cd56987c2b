#!/usr/bin/env python3
"""`dsserve download` against a local server laid out like the hub's resolve API (fake_hub.py):
download into the HF cache layout, HF_TOKEN, resume after an interrupted transfer and from a
leftover .incomplete file, checksum mismatch refused, HF_HUB_OFFLINE, cache reuse (ours and a blob
huggingface-cli left), progress bar on a terminal only. Standard library only.

Environment: DSSERVE_BIN, DSSERVE_SHARED (set by tests/deploy/CMakeLists.txt).
"""
import hashlib
import os
import pty
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_hub import FakeHub, Repo  # noqa: E402

DSSERVE = os.environ.get("DSSERVE_BIN", "build/dsserve")
SHARED = os.environ.get("DSSERVE_SHARED", "../shared")
REPO_ID = "deepseek-ai/Tiny-R1-Test"


def model_files():
    d = os.path.join(SHARED, "models", "stories260k")
    files = {}
    for f in sorted(os.listdir(d)):
        if f.endswith((".json", ".safetensors", ".md")):
            with open(os.path.join(d, f), "rb") as fh:
                files[f] = fh.read()
    return files


class DownloadTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dsserve-dl-")
        self.hf_home = os.path.join(self.tmp, "hf")
        self.hub = FakeHub().__enter__()
        self.repo = self.hub.add(Repo(REPO_ID, model_files()))
        self.repo_dir = os.path.join(self.hf_home, "hub", "models--deepseek-ai--Tiny-R1-Test")

    def tearDown(self):
        self.hub.__exit__(None, None, None)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self, **extra):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
        e.update(HF_HOME=self.hf_home, HF_ENDPOINT=self.hub.url)
        e.update(extra)
        return e

    def download(self, *args, expect=0, **env):
        p = subprocess.run([DSSERVE, "download", REPO_ID, *args], capture_output=True, text=True, timeout=120,
                           env=self.env(**env))
        self.assertEqual(p.returncode, expect, p.stdout + p.stderr)
        return p

    def blob(self, path):
        return os.path.join(self.repo_dir, "blobs", self.repo.etag(path))

    def snapshot(self):
        return os.path.join(self.repo_dir, "snapshots", self.repo.commit)

    def assert_complete_snapshot(self):
        for path, data in self.repo.files.items():
            link = os.path.join(self.snapshot(), path)
            self.assertTrue(os.path.islink(link), link)
            self.assertFalse(os.path.isabs(os.readlink(link)), "huggingface_hub uses relative links")
            self.assertEqual(os.path.realpath(link), os.path.realpath(self.blob(path)))
            with open(link, "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).digest(), hashlib.sha256(data).digest(), path)

    def lfs_gets(self):
        return self.hub.requests("GET", "/lfs/")

    # ---- the tests ----
    def test_download_layout_and_check_model(self):
        p = self.download()
        self.assertEqual(p.stdout.strip().splitlines()[-1], self.snapshot())
        self.assert_complete_snapshot()
        with open(os.path.join(self.repo_dir, "refs", "main")) as f:
            self.assertEqual(f.read().strip(), self.repo.commit)
        self.assertEqual(os.listdir(os.path.join(self.repo_dir, "blobs")).count(self.repo.etag("model.safetensors")), 1)
        self.assertFalse([f for f in os.listdir(os.path.join(self.repo_dir, "blobs")) if f.endswith(".incomplete")])
        self.assertNotIn("\r", p.stderr, "no progress bar when stderr is not a terminal")
        c = subprocess.run([DSSERVE, "check-model", self.snapshot()], capture_output=True, text=True, timeout=120)
        self.assertEqual(c.returncode, 0, c.stdout + c.stderr)

    def test_token_sent_and_required(self):
        self.hub.token = "hf_secret"
        p = self.download(expect=1)
        self.assertIn("HF_TOKEN", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        first = len(self.hub.requests())
        self.download(HF_TOKEN="hf_secret")
        self.assert_complete_snapshot()
        auth = [r[2].get("Authorization") for r in self.hub.requests()[first:] if not r[1].startswith("/lfs/")]
        self.assertEqual(set(auth), {"Bearer hf_secret"})
        # the storage host an LFS file redirects to (another origin) never sees the token
        lfs = self.lfs_gets()
        self.assertTrue(lfs)
        self.assertEqual([r[2].get("Authorization") for r in lfs], [None] * len(lfs))

    def test_engine_files_only(self):
        self.download("--engine-files")
        self.assertFalse(os.path.exists(os.path.join(self.snapshot(), "PROVENANCE.md")))
        self.assertTrue(os.path.exists(os.path.join(self.snapshot(), "model.safetensors")))

    def test_resume_after_interrupted_transfer(self):
        self.hub.interrupt.add("model.safetensors")
        p = self.download()
        self.assert_complete_snapshot()
        gets = self.lfs_gets()
        self.assertEqual(len(gets), 2, gets)
        self.assertNotIn("Range", gets[0][2])
        half = len(self.repo.files["model.safetensors"]) // 2
        self.assertEqual(gets[1][2].get("Range"), "bytes=%d-" % half)
        self.assertIn("resum", p.stderr)

    def test_resume_from_leftover_incomplete_file(self):
        data = self.repo.files["model.safetensors"]
        os.makedirs(os.path.join(self.repo_dir, "blobs"))
        with open(self.blob("model.safetensors") + ".incomplete", "wb") as f:
            f.write(data[:300000])  # what a killed download left behind
        p = self.download()
        self.assert_complete_snapshot()
        gets = self.lfs_gets()
        self.assertEqual([g[2].get("Range") for g in gets], ["bytes=300000-"])
        self.assertIn("resumed at", p.stderr)

    def test_checksum_mismatch_refused(self):
        self.hub.corrupt.add("model.safetensors")
        p = self.download(expect=1)
        self.assertIn("checksum mismatch", p.stderr)
        self.assertIn("model.safetensors", p.stderr)
        self.assertFalse(os.path.exists(self.blob("model.safetensors")))
        self.assertFalse(os.path.exists(self.blob("model.safetensors") + ".incomplete"))
        self.assertFalse(os.path.exists(os.path.join(self.snapshot(), "model.safetensors")))
        self.assertFalse(os.path.exists(os.path.join(self.repo_dir, "refs", "main")))

    def test_small_file_checksum_mismatch_refused(self):
        self.hub.corrupt.add("config.json")  # git blob sha1 ETag
        p = self.download(expect=1)
        self.assertIn("config.json: checksum mismatch: the hub says git sha1", p.stderr)

    def test_offline_with_empty_cache(self):
        p = self.download(expect=1, HF_HUB_OFFLINE="1")
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertIn("HF_HUB_OFFLINE", lines[0])
        self.assertIn("not in the Hugging Face cache", lines[0])
        self.assertEqual(self.hub.requests(), [], "offline mode must not touch the network")

    def test_offline_uses_cache(self):
        self.download()
        n = len(self.hub.requests())
        p = self.download(HF_HUB_OFFLINE="1")
        self.assertEqual(p.stdout.strip(), self.snapshot())
        self.assertEqual(len(self.hub.requests()), n)

    def test_unreachable_hub_falls_back_to_cache(self):
        self.download()
        p = self.download(HF_ENDPOINT="http://127.0.0.1:9")  # discard port: connection refused
        self.assertEqual(p.stdout.strip(), self.snapshot())
        self.assertIn("using the cached snapshot", p.stderr)
        shutil.rmtree(self.repo_dir)
        p = self.download(expect=1, HF_ENDPOINT="http://127.0.0.1:9")
        self.assertIn("cannot reach", p.stderr)

    def test_cache_reuse(self):
        self.download()
        before = len(self.lfs_gets())
        p = self.download()
        self.assertEqual(len(self.lfs_gets()), before, "nothing downloaded twice")
        self.assertIn("0 downloaded", p.stderr)
        self.assert_complete_snapshot()

    def test_reuses_blob_left_by_another_tool(self):
        """A blob huggingface-cli downloaded (for another commit) is linked, not fetched again."""
        blobs = os.path.join(self.repo_dir, "blobs")
        os.makedirs(blobs)
        with open(self.blob("model.safetensors"), "wb") as f:
            f.write(self.repo.files["model.safetensors"])
        p = self.download()
        self.assertEqual(self.lfs_gets(), [])
        self.assertIn("model.safetensors: in cache", p.stderr)
        self.assert_complete_snapshot()

    def test_unknown_repo_and_bad_id(self):
        p = subprocess.run([DSSERVE, "download", "nobody/nothing"], capture_output=True, text=True, timeout=60, env=self.env())
        self.assertEqual(p.returncode, 1)
        self.assertIn("no such model or revision", p.stderr)
        p = subprocess.run([DSSERVE, "download", "../../etc"], capture_output=True, text=True, timeout=60, env=self.env())
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a Hugging Face model id", p.stderr)

    def test_unsafe_file_names_refused(self):
        self.hub.add(Repo("evil/repo", {"config.json": b"{}", "../../../escape.json": b"x"}))
        p = subprocess.run([DSSERVE, "download", "evil/repo"], capture_output=True, text=True, timeout=60, env=self.env())
        self.assertEqual(p.returncode, 1)
        self.assertIn("unsafe file name", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.hf_home, "escape.json")))

    def test_serve_model_id(self):
        """`dsserve serve ORG/NAME` fetches what the engine reads, then serves under that name."""
        import json
        import socket
        import time
        import urllib.request
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = subprocess.Popen([DSSERVE, "serve", REPO_ID, "--host", "127.0.0.1", "--port", str(port), "--threads", "1",
                                 "--num-kv-blocks", "64", "--log-interval", "0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=self.env())
        try:
            deadline, models = time.time() + 60, None
            while time.time() < deadline and proc.poll() is None and models is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as r:
                        models = json.load(r)
                except OSError:
                    time.sleep(0.1)
            self.assertIsNotNone(models, proc.stderr.read().decode() if proc.poll() is not None else "timeout")
            self.assertEqual(models["data"][0]["id"], REPO_ID)
            self.assertTrue(os.path.exists(os.path.join(self.snapshot(), "model.safetensors")))
            self.assertFalse(os.path.exists(os.path.join(self.snapshot(), "PROVENANCE.md")), "engine files only")
        finally:
            proc.terminate()
            proc.wait(30)
            proc.stderr.close()

    def test_serve_offline_nothing_cached(self):
        p = subprocess.run([DSSERVE, "serve", REPO_ID, "--port", "1"], capture_output=True, text=True, timeout=60,
                           env=self.env(HF_HUB_OFFLINE="1"))
        self.assertEqual(p.returncode, 1)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("HF_HUB_OFFLINE is set, and deepseek-ai/Tiny-R1-Test (revision main) is not in the Hugging Face cache",
                      p.stderr)
        self.assertEqual(self.hub.requests(), [])

    def test_progress_bar_on_terminal(self):
        master, slave = pty.openpty()
        try:
            p = subprocess.run([DSSERVE, "download", REPO_ID], stdout=subprocess.PIPE, stderr=slave, timeout=120,
                               env=self.env())
            os.close(slave)
            slave = None
            out = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"100% |", out)
        self.assertIn(b"\r", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
