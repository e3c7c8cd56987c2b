#!/usr/bin/env python3
"""Writes two small random-weight models in the exact published Hugging Face layout (bf16, two
shards + model.safetensors.index.json), deterministically, with the standard library only:

  qwen2  - Qwen2ForCausalLM: q/k/v bias, GQA 2, untied lm_head, the real 151936 vocab
  llama3 - LlamaForCausalLM: llama3 rope scaling, GQA 4, the real 128256 vocab

Random bytes come from SHAKE-256 (stable across Python versions and machines), so the same files
are produced here (tests) and on the GPU machine (goldens, make_goldens.py); goldens.json records
the sha256 of every file so a test can prove it reads exactly what Hugging Face ran.

usage: make_models.py OUT_DIR [--check GOLDENS_JSON]
  creates OUT_DIR/qwen2 and OUT_DIR/llama3; with --check, exits 1 unless every file's sha256
  equals the one recorded when the goldens were made.
"""
import hashlib
import json
import os
import struct
import sys

HIDDEN, INTER, LAYERS, HEAD_DIM = 64, 128, 2, 16

CONFIGS = {
    "qwen2": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "hidden_size": HIDDEN, "intermediate_size": INTER, "num_hidden_layers": LAYERS,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 151936,
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
        "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "bos_token_id": 151646, "eos_token_id": 151643, "use_sliding_window": False,
        "sliding_window": 4096, "max_window_layers": 2, "attention_dropout": 0.0,
        "initializer_range": 0.02, "use_cache": True,
    },
    "llama3": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": HIDDEN, "intermediate_size": INTER, "num_hidden_layers": LAYERS,
        "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": HEAD_DIM,
        "vocab_size": 128256, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "attention_bias": False, "mlp_bias": False, "bos_token_id": 128000,
        "eos_token_id": [128001, 128008, 128009], "initializer_range": 0.02, "use_cache": True,
        "pretraining_tp": 1,
    },
}


def random_bf16(tag, count, hi_base, signed=True):
    """count bf16 values as little-endian bytes. The high byte (sign + top 7 exponent bits) is
    hi_base or hi_base+1 with a random sign, so magnitudes lie in [2^(2*hi_base-127), 2^(2*hi_base-123))."""
    raw = hashlib.shake_256(tag.encode()).digest(2 * count)
    table = bytes(((b & 0x80) if signed else 0) | (hi_base + (b & 1)) for b in range(256))
    out = bytearray(2 * count)
    out[0::2] = raw[0::2]
    out[1::2] = raw[1::2].translate(table)
    return bytes(out)


def tensors_of(name, cfg):
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", h // nh)
    w, norm = 0x3C, 0x3F  # weights ~ +-[2^-7, 2^-3); norms in [0.5, 2)
    yield "model.embed_tokens.weight", [v, h], w, True
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        yield p + "input_layernorm.weight", [h], norm, False
        yield p + "self_attn.q_proj.weight", [nh * hd, h], w, True
        yield p + "self_attn.k_proj.weight", [nkv * hd, h], w, True
        yield p + "self_attn.v_proj.weight", [nkv * hd, h], w, True
        if name == "qwen2":
            yield p + "self_attn.q_proj.bias", [nh * hd], w, True
            yield p + "self_attn.k_proj.bias", [nkv * hd], w, True
            yield p + "self_attn.v_proj.bias", [nkv * hd], w, True
        yield p + "self_attn.o_proj.weight", [h, nh * hd], w, True
        yield p + "post_attention_layernorm.weight", [h], norm, False
        yield p + "mlp.gate_proj.weight", [i, h], w, True
        yield p + "mlp.up_proj.weight", [i, h], w, True
        yield p + "mlp.down_proj.weight", [h, i], w, True
    yield "model.norm.weight", [h], norm, False
    yield "lm_head.weight", [v, h], w, True


def write_safetensors(path, entries):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for tname, shape, data in entries:
        header[tname] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def make_model(out_dir, name):
    cfg = CONFIGS[name]
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    entries = []
    for tname, shape, hi, signed in tensors_of(name, cfg):
        n = 1
        for s in shape:
            n *= s
        entries.append((tname, shape, random_bf16(f"{name}/{tname}", n, hi, signed)))
    # Shard 1: embeddings and layer 0; shard 2: the rest (lm_head last), as HF splits by size.
    split = next(k for k, e in enumerate(entries) if e[0].startswith("model.layers.1."))
    shards = [entries[:split], entries[split:]]
    weight_map, total = {}, 0
    for k, shard in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(os.path.join(d, fname), shard)
        for tname, _, data in shard:
            weight_map[tname] = fname
            total += len(data)
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return d


def sha256_files(d):
    return {fn: hashlib.sha256(open(os.path.join(d, fn), "rb").read()).hexdigest()
            for fn in sorted(os.listdir(d)) if fn.endswith((".safetensors", ".json"))}


def main(argv):
    out = argv[1] if len(argv) > 1 else "."
    goldens = json.load(open(argv[3])) if len(argv) > 3 and argv[2] == "--check" else None
    for n in CONFIGS:
        d = make_model(out, n)
        if goldens is not None:
            want, got = goldens["models"][n]["sha256"], sha256_files(d)
            if want != got:
                bad = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
                print(f"{d}: files differ from the ones the goldens were made from: {bad}", file=sys.stderr)
                return 1
        print(d)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
