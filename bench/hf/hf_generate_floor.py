#!/usr/bin/env python3
"""The floor of issue #5: Hugging Face transformers `generate` on the same card, random bf16 weights of
R1-Distill-Qwen-7B's (or -1.5B's) config, greedy, fixed output length (min_new_tokens = max_new_tokens,
so EOS never ends a row early). Prints one JSON line per case: batch, input/output lengths, seconds,
output tokens/s. Runs on the GPU machine (torch + transformers there; nothing is downloaded).

usage: hf_generate_floor.py [7B|1.5B] [BATCH:IN:OUT ...]   default: 1:128:128 128:512:256
"""
import json
import sys
import time

import torch
from transformers import AutoModelForCausalLM, Qwen2Config

SIZES = {  # ../shared/docs/models.md
    "1.5B": dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                 intermediate_size=8960, vocab_size=151936),
    "7B": dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
               intermediate_size=18944, vocab_size=152064),
}


def main():
    size = sys.argv[1] if len(sys.argv) > 1 else "7B"
    cases = sys.argv[2:] or ["1:128:128", "128:512:256"]
    cfg = Qwen2Config(**SIZES[size], max_position_embeddings=131072, rope_theta=10000.0, rms_norm_eps=1e-6,
                      tie_word_embeddings=False, use_sliding_window=False, bos_token_id=151646,
                      eos_token_id=151643, pad_token_id=151643)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16).eval()
    card = torch.cuda.get_device_name(0)
    for case in cases:
        batch, n_in, n_out = (int(x) for x in case.split(":"))
        ids = torch.randint(1000, 150000, (batch, n_in), device="cuda")
        mask = torch.ones_like(ids)
        kw = dict(attention_mask=mask, do_sample=False, pad_token_id=151643)
        model.generate(ids[:, :16], max_new_tokens=4, min_new_tokens=4, **{**kw, "attention_mask": mask[:, :16]})
        torch.cuda.synchronize()
        t0 = time.time()
        out = model.generate(ids, max_new_tokens=n_out, min_new_tokens=n_out, **kw)
        torch.cuda.synchronize()
        dt = time.time() - t0
        gen = (out.shape[1] - n_in) * batch
        print(json.dumps({"engine": "transformers", "card": card, "model": f"R1-Distill-Qwen-{size} (random bf16)",
                          "batch": batch, "input_len": n_in, "output_len": n_out, "seconds": round(dt, 3),
                          "output_tokens_per_s": round(gen / dt, 1)}), flush=True)


if __name__ == "__main__":
    main()
