#!/usr/bin/env python3
"""Hugging Face transformers reference for the numerics test (run on the GPU machine):
builds the two random models with make_models.py, runs 24 greedy steps in float32 (eager
attention) for three prompts each and writes goldens.json with, per step, the chosen id, its
log-probability, the top-2 logit gap, and the top-5 log-probabilities.

usage: make_goldens.py OUT_JSON [MODEL_DIR]
"""
import json
import os
import sys
import tempfile

import torch
import transformers
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models  # noqa: E402

STEPS = 24


def prompts_for(vocab):
    """Three prompts: short, medium, and one longer than 100 tokens; ids from a fixed LCG."""
    x, out = 12345, []
    for n in (5, 17, 131):
        ids = []
        for _ in range(n):
            x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
            ids.append(int((x >> 33) % vocab))
        out.append(ids)
    return out


@torch.no_grad()
def greedy(model, ids):
    steps, cur = [], list(ids)
    for _ in range(STEPS):
        logits = model(torch.tensor([cur])).logits[0, -1].float()
        lp = torch.log_softmax(logits, dim=-1)
        top = torch.topk(logits, 5)
        tok = int(top.indices[0])
        steps.append({
            "id": tok, "logprob": float(lp[tok]),
            "top2_gap": float(top.values[0] - top.values[1]),
            "top5_ids": [int(i) for i in top.indices], "top5_logprobs": [float(lp[i]) for i in top.indices],
        })
        cur.append(tok)
    return steps


def main():
    out_json = sys.argv[1]
    root = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp()
    torch.manual_seed(0)
    result = {"reference": f"transformers {transformers.__version__}, torch {torch.__version__}, "
                           "float32, attn_implementation=eager, greedy, full recompute per step",
              "steps": STEPS, "models": {}}
    for name in make_models.CONFIGS:
        d = make_models.make_model(root, name)
        model = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32,
                                                     attn_implementation="eager").eval()
        cases = [{"prompt_ids": p, "steps": greedy(model, p)}
                 for p in prompts_for(make_models.CONFIGS[name]["vocab_size"])]
        result["models"][name] = {"sha256": make_models.sha256_files(d), "cases": cases}
        print(name, [[s["id"] for s in c["steps"]][:8] for c in cases], flush=True)
    with open(out_json, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
