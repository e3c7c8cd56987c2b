#!/usr/bin/env python3
"""`dsserve check-model`: passes on the shared and the numerics test models; each corruption an
operator can meet (missing shard, wrong shape, wrong dtype, tensor missing from the index, broken
tokenizer.json) is reported by name with exit code 1. Standard library only.

usage: test_check_model.py PATH/TO/dsserve SHARED_DIR TEST_MODELS_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

DSSERVE = SHARED = TEST_MODELS = None


def check_model(*args):
    p = subprocess.run([DSSERVE, "check-model", *args], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout + p.stderr


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return n, json.loads(f.read(n))


def rewrite_header(path, edit):
    """Applies edit(header) and writes the header back padded to its old length (data untouched)."""
    n, header = read_header(path)
    edit(header)
    raw = json.dumps(header, separators=(",", ":")).encode()
    assert len(raw) <= n, "edited header must not grow"
    raw += b" " * (n - len(raw))
    with open(path, "r+b") as f:
        f.seek(8)
        f.write(raw)


class Healthy(unittest.TestCase):
    def test_stories260k(self):
        rc, out = check_model(os.path.join(SHARED, "models", "stories260k"))
        self.assertEqual(rc, 0, out)
        for what in ("ok    config", "ok    tokenizer", "ok    safetensors", "ok    weights", "result: OK"):
            self.assertIn(what, out)
        # stories260k ships no chat template: a warning, not a failure
        self.assertIn("warn  chat template", out)

    def test_stories260k_smoke(self):
        rc, out = check_model(os.path.join(SHARED, "models", "stories260k"), "--smoke", "--threads", "1")
        self.assertEqual(rc, 0, out)
        self.assertIn("ok    smoke: 8 greedy tokens", out)

    def test_numerics_models(self):
        for name in ("qwen2", "llama3"):
            with self.subTest(model=name):
                rc, out = check_model(os.path.join(TEST_MODELS, name), "--smoke", "--smoke-tokens", "2", "--threads", "1")
                self.assertEqual(rc, 0, out)
                self.assertIn("index consistent", out)
                self.assertIn("ok    smoke", out)

    def test_not_a_folder(self):
        rc, out = check_model("/nonexistent/model")
        self.assertEqual(rc, 1)
        self.assertIn("does not exist", out)


class Corruptions(unittest.TestCase):
    """Each on a fresh copy of the sharded qwen2 test model (or stories260k for the tokenizer)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dsserve-check-")
        self.dir = os.path.join(self.tmp, "qwen2")
        shutil.copytree(os.path.join(TEST_MODELS, "qwen2"), self.dir)
        self.shard1 = os.path.join(self.dir, "model-00001-of-00002.safetensors")
        self.shard2 = os.path.join(self.dir, "model-00002-of-00002.safetensors")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_fails_with(self, *needles, folder=None):
        rc, out = check_model(folder or self.dir)
        self.assertEqual(rc, 1, out)
        self.assertIn("result: FAILED", out)
        for n in needles:
            self.assertIn(n, out)
        return out

    def test_missing_shard(self):
        os.remove(self.shard2)
        out = self.assert_fails_with("missing shard 'model-00002-of-00002.safetensors'")
        # the tensors that lived there are named as missing too
        self.assertIn("missing tensor 'model.norm.weight'", out)

    def test_wrong_shape(self):
        name = "model.layers.0.mlp.up_proj.weight"  # [128, 64] -> [64, 128]: same bytes, wrong shape
        rewrite_header(self.shard1, lambda h: h[name].update(shape=list(reversed(h[name]["shape"]))))
        self.assert_fails_with(f"tensor '{name}'", "has shape [64, 128], expected [128, 64]")

    def test_wrong_dtype(self):
        name = "model.layers.0.self_attn.o_proj.weight"  # BF16 -> F16: same size, different dtype
        rewrite_header(self.shard1, lambda h: h[name].update(dtype="F16"))
        self.assert_fails_with(f"tensor '{name}'", "has dtype", "all weights must share one dtype")

    def test_tensor_missing_from_index(self):
        name = "model.layers.0.input_layernorm.weight"
        index_path = os.path.join(self.dir, "model.safetensors.index.json")
        with open(index_path) as f:
            index = json.load(f)
        del index["weight_map"][name]
        with open(index_path, "w") as f:
            json.dump(index, f)
        self.assert_fails_with(f"tensor '{name}' in shard 'model-00001-of-00002.safetensors' is missing from "
                               "model.safetensors.index.json")

    def test_broken_tokenizer_json(self):
        folder = os.path.join(self.tmp, "stories")
        shutil.copytree(os.path.join(SHARED, "models", "stories260k"), folder)
        os.chmod(folder, 0o755)
        tok = os.path.join(folder, "tokenizer.json")
        os.chmod(tok, 0o644)
        with open(tok) as f:
            text = f.read()
        with open(tok, "w") as f:
            f.write(text[: len(text) // 2])  # truncated mid-file
        out = self.assert_fails_with("FAIL  tokenizer", "tokenizer.json", folder=folder)
        self.assertIn("ok    weights", out)  # the other checks still ran

    def test_every_problem_listed(self):
        """Two corruptions at once: both reported in one run."""
        os.remove(self.shard2)
        rewrite_header(self.shard1, lambda h: h["model.layers.0.self_attn.o_proj.weight"].update(dtype="F16"))
        self.assert_fails_with("missing shard", "model.layers.0.self_attn.o_proj.weight")


if __name__ == "__main__":
    DSSERVE, SHARED, TEST_MODELS = sys.argv[1:4]
    unittest.main(argv=sys.argv[:1], verbosity=2)
