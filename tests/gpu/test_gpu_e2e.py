#!/usr/bin/env python3
"""End-to-end checks of `dsserve generate --device cuda` (label gpu; stdlib only).

usage: test_gpu_e2e.py PATH/TO/dsserve STORIES260K_DIR [NUMERICS_MODELS_DIR]

- stories260k (float32 checkpoint; bf16 weights, activations and KV on the GPU): the greedy golden
  text of golden.json (transformers float32 == llama2.c), exactly.
- numerics models (tests/data/numerics: Qwen2 with q/k/v bias + untied lm_head, Llama-3 with llama3
  rope scaling and GQA 4; bf16 checkpoints): against Hugging Face float32 goldens with bf16
  tolerance (issue 5): greedy ids identical until the first step whose HF top-2 gap is under 0.05
  (from there the continuations may diverge legitimately); sampled-token logprobs within 0.05 at
  every step whose context still equals HF's. (The CPU numerics test is stricter: it allows a
  divergence only at a near-tie step itself, which float32 can promise and bf16 cannot.)
  The three prompts of each model run as one batch (one > 100 tokens), with a small
  --max-num-batched-tokens so prefill is chunked over cached blocks, as the CPU numerics test does.
  Without NUMERICS_MODELS_DIR the models are regenerated into a temporary folder by make_models.py
  and checked against the sha256 recorded in goldens.json.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
NUMERICS = os.path.join(HERE, "..", "data", "numerics")
TIE_GAP, LOGPROB_TOL = 0.05, 0.05
DSSERVE = STORIES = MODELS = None
DEVICE = os.environ.get("DSSERVE_TEST_DEVICE", "cuda")  # "cpu" checks the script itself without a GPU


def load_json(path):
    with open(path) as f:
        return json.load(f)


def run(*args):
    p = subprocess.run([DSSERVE, *args], capture_output=True, timeout=600)
    out, err = p.stdout.decode("utf-8"), p.stderr.decode("utf-8")
    if p.returncode != 0:
        raise AssertionError(f"dsserve {' '.join(args)} failed ({p.returncode}): {err}")
    return out, err


class StoriesGoldenOnGpu(unittest.TestCase):
    def test_golden_text(self):
        golden = load_json(os.path.join(STORIES, "golden.json"))
        for case in golden["cases"]:
            n_prompt = len(case["prompt_ids"])
            out, _ = run("generate", "--device", DEVICE, "--model", STORIES, "--prompt", case["prompt"],
                         "--temperature", "0", "--max-tokens", str(case["max_new_tokens"]), "--ignore-eos", "--json")
            got = json.loads(out)
            self.assertEqual(got["prompt_ids"], case["prompt_ids"])
            self.assertEqual(got["output_ids"], case["output_ids"][n_prompt:])
            self.assertEqual(case["prompt"] + got["text"], case["text"])


class SeededSamplingOnGpu(unittest.TestCase):
    """Device sampling through the engine: a seeded request draws the same tokens alone and in a
    batch with other requests (greedy, pure temperature, top-k/top-p/min-p, penalties)."""

    def generate(self, requests):
        with tempfile.TemporaryDirectory() as d:
            jobs = os.path.join(d, "jobs.jsonl")
            with open(jobs, "w") as f:
                for r in requests:
                    f.write(json.dumps(r) + "\n")
            out, _ = run("generate", "--device", DEVICE, "--model", STORIES, "--prompts-file", jobs, "--json")
        lines = [json.loads(l) for l in out.splitlines() if l.strip()]
        self.assertEqual(len(lines), len(requests))
        return lines

    def test_seeded_request_is_batch_invariant(self):
        base = {"prompt": "Once upon a time", "max_tokens": 48, "ignore_eos": True}
        mine = [dict(base, temperature=0.9, seed=11), dict(base, temperature=0.8, top_p=0.9, seed=12),
                dict(base, temperature=1.0, top_k=20, min_p=0.02, seed=13, frequency_penalty=0.5,
                     repetition_penalty=1.2, logprobs=3)]
        others = [dict(base, prompt="The dog", temperature=1.0, seed=99), dict(base, prompt="Lily had", temperature=0),
                  dict(base, prompt="One day", temperature=0.7, top_p=0.5)]
        alone = [self.generate([r])[0] for r in mine]
        batched = self.generate(others[:2] + mine + others[2:])[2:5]
        for a, b in zip(alone, batched):
            self.assertEqual(a["output_ids"], b["output_ids"])
            self.assertEqual(len(a["output_ids"]), 48)
        self.assertNotEqual(alone[0]["output_ids"], alone[1]["output_ids"])


def compare_with_golden(test, got, case, what):
    """The issue's bf16 rule: ids identical up to the first step whose HF top-2 gap is under 0.05;
    from that near-tie on a different id is allowed (and ends the comparison: the contexts differ
    from there). Logprobs are compared, within 0.05, at every step whose context still equals HF's.
    Returns (worst |logprob - HF|, steps compared, (step, HF gap) of the divergence or None)."""
    worst, compared, seen_tie = 0.0, 0, False
    test.assertEqual(len(got["output_ids"]), len(case["steps"]), what)
    for s, want in enumerate(case["steps"]):
        seen_tie = seen_tie or want["top2_gap"] < TIE_GAP
        if got["output_ids"][s] != want["id"]:
            test.assertTrue(seen_tie, f"{what} step {s}: got id {got['output_ids'][s]} want {want['id']} "
                                      f"before any near-tie (HF top-2 gap here {want['top2_gap']:.4f})")
            return worst, compared, (s, round(want["top2_gap"], 4))
        err = abs(got["logprobs"][s] - want["logprob"])
        worst = max(worst, err)
        test.assertLess(err, LOGPROB_TOL, f"{what} step {s}: logprob {got['logprobs'][s]} want {want['logprob']}")
        compared += 1
    return worst, compared, None


class NumericsOnGpu(unittest.TestCase):
    def check(self, name):
        goldens = load_json(os.path.join(NUMERICS, "goldens.json"))
        cases = goldens["models"][name]["cases"]
        with tempfile.TemporaryDirectory() as d:
            jobs = os.path.join(d, "jobs.jsonl")
            with open(jobs, "w") as f:
                for c in cases:
                    f.write(json.dumps({"prompt_ids": c["prompt_ids"], "max_tokens": len(c["steps"]),
                                        "temperature": 0, "ignore_eos": True}) + "\n")
            out, _ = run("generate", "--device", DEVICE, "--model", os.path.join(MODELS, name),
                         "--prompts-file", jobs, "--json", "--max-num-batched-tokens", "48",
                         "--max-num-seqs", "8", "--num-kv-blocks", "512", "--max-model-len", "1024")
        lines = [json.loads(l) for l in out.splitlines() if l.strip()]
        self.assertEqual(len(lines), len(cases))
        for i, (got, case) in enumerate(zip(lines, cases)):
            worst, compared, diverged = compare_with_golden(self, got, case, f"{name} prompt {i}")
            note = f", diverged at (step, HF top-2 gap) {diverged}" if diverged is not None else ""
            print(f"{name} prompt {i}: {compared} steps match HF, max |logprob - HF| = {worst:.4f}{note}",
                  file=sys.stderr)

    def test_qwen2(self):
        self.check("qwen2")

    def test_llama3(self):
        self.check("llama3")


if __name__ == "__main__":
    DSSERVE, STORIES = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    tmp = None
    if len(sys.argv) > 3:
        MODELS = os.path.abspath(sys.argv[3])
    else:
        tmp = tempfile.TemporaryDirectory()
        MODELS = tmp.name
        subprocess.run([sys.executable, os.path.join(NUMERICS, "make_models.py"), MODELS, "--check",
                        os.path.join(NUMERICS, "goldens.json")], check=True)
    sys.argv = sys.argv[:1]
    unittest.main(verbosity=2)
