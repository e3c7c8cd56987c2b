#!/usr/bin/env python3
"""End-to-end tests of the dsserve binary on the CPU (stdlib only).

usage: test_cli.py PATH/TO/dsserve SHARED_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

DSSERVE = SHARED = None


def slurp(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def spit(path, data, mode="w"):
    with open(path, mode) as f:
        f.write(data)


def run(*args, check=True):
    # Bytes, decoded by hand: text=True would turn "\r\n" in the output into "\n".
    p = subprocess.run([DSSERVE, *args], capture_output=True, timeout=300)
    p.stdout, p.stderr = p.stdout.decode("utf-8"), p.stderr.decode("utf-8")
    if check and p.returncode != 0:
        raise AssertionError(f"dsserve {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


class StoriesGolden(unittest.TestCase):
    """Greedy from "Once upon a time" reproduces llama2.c / transformers (shared golden.json)."""

    def test_golden_text(self):
        model = os.path.join(SHARED, "models/stories260k")
        golden = json.loads(slurp(os.path.join(model, "golden.json")))
        for case in golden["cases"]:
            n_prompt = len(case["prompt_ids"])
            p = run("generate", "--model", model, "--prompt", case["prompt"], "--temperature", "0",
                    "--max-tokens", str(case["max_new_tokens"]), "--ignore-eos", "--json")
            out = json.loads(p.stdout)
            self.assertEqual(out["prompt_ids"], case["prompt_ids"])
            self.assertEqual(out["output_ids"], case["output_ids"][n_prompt:])
            self.assertEqual(case["prompt"] + out["text"], case["text"])
            self.assertEqual(len(out["logprobs"]), len(out["output_ids"]))
            self.assertTrue(all(lp <= 0 for lp in out["logprobs"]))

    def test_plain_text_output_streams_the_same_text(self):
        model = os.path.join(SHARED, "models/stories260k")
        golden = json.loads(slurp(os.path.join(model, "golden.json")))["cases"][0]
        p = run("generate", "--model", model, "--prompt", golden["prompt"], "--temperature", "0",
                "--max-tokens", str(golden["max_new_tokens"]), "--ignore-eos")
        self.assertEqual(golden["prompt"] + p.stdout.rstrip("\n"), golden["text"])
        self.assertIn("tok/s", p.stderr)

    def test_seeded_sampling_is_reproducible(self):
        model = os.path.join(SHARED, "models/stories260k")
        a = json.loads(run("generate", "-m", model, "--prompt", "Once", "--temperature", "1",
                           "--seed", "7", "--max-tokens", "20", "--json").stdout)
        b = json.loads(run("generate", "-m", model, "--prompt", "Once", "--temperature", "1",
                           "--seed", "7", "--max-tokens", "20", "--json").stdout)
        self.assertEqual(a["output_ids"], b["output_ids"])

    def test_tokenize_and_detokenize(self):
        model = os.path.join(SHARED, "models/stories260k")
        ids = json.loads(run("tokenize", "--model", model, "--add-special-tokens", "Once upon a time").stdout)
        self.assertEqual(ids, [1, 403, 407, 261, 378])
        self.assertEqual(run("detokenize", "--model", model, "1,403,407,261,378").stdout, "Once upon a time\n")


class PromptsFile(unittest.TestCase):
    """`generate --prompts-file`: one JSON line per input, in input order, equal to single runs."""

    def setUp(self):
        self.model = os.path.join(SHARED, "models/stories260k")
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "p.jsonl")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def single(self, prompt, n):
        return json.loads(run("generate", "-m", self.model, "--prompt", prompt, "--temperature", "0",
                              "--max-tokens", str(n), "--json").stdout)

    def test_batch_equals_single_runs_in_order(self):
        lines = [{"prompt": "Once upon a time", "max_tokens": 24},
                 {"prompt_ids": [1, 403, 407], "max_tokens": 8},
                 {"prompt": "The dog", "max_tokens": 30, "stop": ["."]},
                 {"prompt": "Lily", "max_tokens": 6, "n": 2}]
        spit(self.path, "\n".join(json.dumps(l) for l in lines) + "\n")
        out = run("generate", "-m", self.model, "--prompts-file", self.path, "--temperature", "0").stdout
        rows = [json.loads(l) for l in out.splitlines()]
        self.assertEqual(len(rows), 4)
        self.assertEqual(rows[0]["output_ids"], self.single("Once upon a time", 24)["output_ids"])
        self.assertEqual(rows[1]["prompt_ids"], [1, 403, 407])
        self.assertEqual(len(rows[1]["output_ids"]), 8)
        self.assertEqual(rows[1]["finish_reason"], "length")
        self.assertEqual(rows[2]["finish_reason"], "stop")
        self.assertNotIn(".", rows[2]["text"])
        self.assertTrue(self.single("The dog", 30)["text"].startswith(rows[2]["text"] + "."))
        self.assertEqual(len(rows[3]["choices"]), 2)
        self.assertEqual(rows[3]["choices"][0]["output_ids"], rows[3]["choices"][1]["output_ids"])  # greedy
        for r in rows:
            self.assertEqual(len(r["logprobs"]), len(r["output_ids"]))

    def test_bad_line_names_file_and_line(self):
        spit(self.path, '{"prompt": "ok"}\n{"prompt": 5}\n')
        p = run("generate", "-m", self.model, "--prompts-file", self.path, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("p.jsonl:2", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)

    def test_deeply_nested_line_is_an_error_not_a_crash(self):
        spit(self.path, '{"prompt": "ok"}\n{"prompt": "x", "extra": ' + "[" * 100000 + "]" * 100000 + "}\n")
        p = run("generate", "-m", self.model, "--prompts-file", self.path, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("p.jsonl:2", p.stderr)
        self.assertIn("nested deeper than 128 levels", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)


class ChatTemplateCli(unittest.TestCase):
    """`dsserve chat-template` prints exactly what jinja2 rendered (tests/data/templates goldens)."""

    def test_r1_template_matches_jinja2(self):
        here = os.path.dirname(os.path.abspath(__file__))
        data = os.path.join(here, "..", "data", "templates")
        convs = {c["name"]: c for c in json.loads(slurp(os.path.join(data, "conversations.json")))}
        golden = json.loads(slurp(os.path.join(data, "goldens_r1.json")))
        tok = os.path.join(SHARED, "tokenizers/deepseek-r1-distill-qwen")
        checked = 0
        with tempfile.TemporaryDirectory() as d:
            for case in golden["cases"]:
                if "output" not in case:
                    continue  # jinja2 raised for this one; covered by test_template
                conv = convs[case["name"]]
                path = os.path.join(d, "m.json")
                spit(path, json.dumps({"messages": conv["messages"], "tools": conv.get("tools")}))
                args = ["chat-template", "--model", tok, path]
                if not conv.get("add_generation_prompt"):
                    args.insert(1, "--no-generation-prompt")
                self.assertEqual(run(*args).stdout, case["output"], case["name"])
                checked += 1
        self.assertGreaterEqual(checked, 30)


class BadInput(unittest.TestCase):
    """Each broken input gives one line naming the file and the problem, exit 1, never a crash."""

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.model = os.path.join(self.dir, "m")
        shutil.copytree(os.path.join(SHARED, "models/stories260k"), self.model)
        for f in os.listdir(self.model):
            os.chmod(os.path.join(self.model, f), 0o644)
        self.st = os.path.join(self.model, "model.safetensors")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def expect_error(self, *needles, args=None):
        p = run(*(args or ["generate", "--model", self.model, "--prompt", "Once", "--max-tokens", "2"]), check=False)
        self.assertEqual(p.returncode, 1, f"exit {p.returncode}; stderr: {p.stderr}")
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        for n in needles:
            self.assertIn(n, lines[0])

    def header(self):
        data = slurp(self.st, "rb")
        n = struct.unpack("<Q", data[:8])[0]
        return json.loads(data[8:8 + n]), data[8 + n:]

    def write(self, header, body):
        hj = json.dumps(header).encode()
        hj += b" " * (-len(hj) % 8)  # as the safetensors library pads, so data stays aligned
        spit(self.st, struct.pack("<Q", len(hj)) + hj + body, "wb")

    def test_missing_model_folder(self):
        self.expect_error("nope", args=["generate", "--model", os.path.join(self.dir, "nope"), "--prompt", "x"])

    def test_missing_weights_file(self):
        os.remove(self.st)
        self.expect_error("safetensors")

    def test_truncated_shard(self):
        data = slurp(self.st, "rb")
        spit(self.st, data[: len(data) // 2], "wb")
        self.expect_error("model.safetensors")

    def test_out_of_range_offsets(self):
        h, body = self.header()
        h["model.norm.weight"]["data_offsets"][1] = len(body) + 1000
        self.write(h, body)
        self.expect_error("model.safetensors", "model.norm.weight")

    def test_wrong_shape(self):
        h, body = self.header()
        name = "model.layers.0.mlp.up_proj.weight"
        a, b = h[name]["shape"]
        h[name]["shape"] = [b, a]
        self.write(h, body)
        self.expect_error("model.safetensors", name)

    def test_malformed_tokenizer_json(self):
        spit(os.path.join(self.model, "tokenizer.json"), '{"model": {"type": "BPE", "vocab": [')
        self.expect_error("tokenizer.json")

    def test_malformed_config(self):
        spit(os.path.join(self.model, "config.json"), '{"architectures": ["GPT2LMHeadModel"]}')
        self.expect_error("config.json")

    def test_bad_prompt_ids(self):
        self.expect_error("--prompt-ids", args=["generate", "--model", self.model, "--prompt-ids", "1,x,3"])
        self.expect_error("vocab", args=["generate", "--model", self.model, "--prompt-ids", "1,99999"])


class ServeLogLevel(unittest.TestCase):
    """`serve --log-level`: info lines (start-up, stats, drain) at info, warnings also at warning,
    neither at error; a flag alias's warning obeys the level too."""

    def serve_stderr(self, *args):
        import signal
        import socket
        import time
        import urllib.request
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        model = os.path.join(SHARED, "models", "stories260k")
        p = subprocess.Popen([DSSERVE, "serve", model, "--port", str(port), "--log-interval", "0.2",
                              "--batch-size", "4", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.1)
            else:
                self.fail("serve did not become healthy")
            body = json.dumps({"model": model, "prompt": "Once upon a time", "max_tokens": 8}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                self.assertEqual(r.status, 200)
            time.sleep(0.6)  # stats lines come every 0.2 s while there is activity to report
            p.send_signal(signal.SIGTERM)
            err = p.communicate(timeout=60)[1].decode("utf-8")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        return err

    def test_info_shows_everything(self):
        err = self.serve_stderr()
        self.assertIn("dsserve: serving", err)
        self.assertIn("--batch-size is not a vLLM flag", err)
        self.assertIn("KV cache usage", err)
        self.assertIn("dsserve: stopped", err)

    def test_warning_hides_info(self):
        err = self.serve_stderr("--log-level", "warning")
        self.assertIn("--batch-size is not a vLLM flag", err)
        self.assertNotIn("dsserve: serving", err)
        self.assertNotIn("dsserve: stopped", err)
        self.assertNotIn("KV cache usage", err)

    def test_error_hides_warnings(self):
        err = self.serve_stderr("--uvicorn-log-level", "error")
        self.assertEqual(err, "")

    def test_kv_cache_dtype_halves_the_cache(self):
        """--kv-cache-dtype bfloat16 on the CPU: the start-up line names it, and the same
        --kv-cache-memory holds twice the blocks (a request is served from it)."""
        import re
        blocks = {}
        for dt in ("auto", "bfloat16"):
            err = self.serve_stderr("--kv-cache-memory", "0.05", "--kv-cache-dtype", dt)
            m = re.search(r"(\d+) KV blocks of (\w+)", err)
            self.assertIsNotNone(m, err)
            blocks[m.group(2)] = int(m.group(1))
        self.assertEqual(sorted(blocks), ["bfloat16", "float32"])
        self.assertIn(blocks["bfloat16"], (2 * blocks["float32"], 2 * blocks["float32"] + 1))

    def test_kv_cache_dtype_refusals(self):
        model = os.path.join(SHARED, "models", "stories260k")
        p = run("generate", "--model", model, "--prompt", "x", "--kv-cache-dtype", "fp8", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--kv-cache-dtype", p.stderr)
        p = run("generate", "--model", model, "--prompt", "x", "--device", "cuda", "--kv-cache-dtype", "float32",
                check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("--kv-cache-dtype float32", p.stderr)

    def test_unknown_level_is_refused(self):
        p = run("serve", os.path.join(SHARED, "models", "stories260k"), "--log-level", "loud", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--log-level", p.stderr)


if __name__ == "__main__":
    DSSERVE, SHARED = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0], "-v"])
