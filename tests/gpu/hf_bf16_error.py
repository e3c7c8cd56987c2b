#!/usr/bin/env python3
"""How far Hugging Face transformers itself lands from the float32 numerics goldens when it runs in
bfloat16 (the same models, teacher-forced on the goldens' greedy ids): the yardstick for the bf16
tolerance of test_gpu_e2e.py. Runs on the GPU machine (torch + transformers there).

usage: hf_bf16_error.py MODELS_DIR   (MODELS_DIR from tests/data/numerics/make_models.py)
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
goldens = json.load(open(os.path.join(HERE, "..", "data", "numerics", "goldens.json")))
for name, g in goldens["models"].items():
    model = AutoModelForCausalLM.from_pretrained(os.path.join(sys.argv[1], name), dtype=torch.bfloat16,
                                                 attn_implementation="eager").cuda().eval()
    for i, case in enumerate(g["cases"]):
        ids = case["prompt_ids"] + [s["id"] for s in case["steps"]]
        with torch.no_grad():
            logits = model(torch.tensor([ids], device="cuda")).logits[0].float()
        lp = torch.log_softmax(logits, dim=-1)
        n = len(case["prompt_ids"])
        errs, flips = [], []
        for s, step in enumerate(case["steps"]):
            row = lp[n - 1 + s]
            errs.append(abs(row[step["id"]].item() - step["logprob"]))
            if int(row.argmax()) != step["id"]:
                flips.append((s, round(step["top2_gap"], 4)))
        print(f"HF bf16 {name} prompt {i}: max |logprob - HF f32| = {max(errs):.4f}, "
              f"argmax != golden at (step, HF f32 top2 gap) {flips}")
