#!/usr/bin/env python3
"""Writes tokenizer goldens from Hugging Face `tokenizers` (the independent reference).

Usage (from the repo root, on a machine with `pip install tokenizers`):
  python3 tests/data/tokenizer/make_goldens.py tests/data/tokenizer \
      --qwen PATH/deepseek-r1-distill-qwen/tokenizer.json \
      --llama3 PATH/tokenizer-llama3/models/tokenizer.json \
      --stories PATH/stories260k/tokenizer.json

For every string in corpus.json (next to this script unless --corpus is given) and every
tokenizer it records: ids with add_special_tokens False and True, and decode() of the
no-special ids with skip_special_tokens False and True (plus the same for the with-special ids).
Writes OUT_DIR/qwen.json, OUT_DIR/llama3.json, OUT_DIR/stories260k.json.
"""
import argparse
import hashlib
import json
import os
import sys

import tokenizers
from tokenizers import Tokenizer


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def goldens_for(name, path, corpus):
    tok = Tokenizer.from_file(path)
    cases = []
    for text in corpus:
        ids = tok.encode(text, add_special_tokens=False).ids
        ids_special = tok.encode(text, add_special_tokens=True).ids
        cases.append({
            "text": text,
            "ids": ids,
            "ids_special": ids_special,
            "decode": tok.decode(ids, skip_special_tokens=False),
            "decode_skip": tok.decode(ids, skip_special_tokens=True),
            "decode_special": tok.decode(ids_special, skip_special_tokens=False),
            "decode_special_skip": tok.decode(ids_special, skip_special_tokens=True),
        })
    return {
        "reference": "huggingface tokenizers Tokenizer.from_file(...).encode/decode",
        "tokenizers_version": tokenizers.__version__,
        "python_version": sys.version.split()[0],
        "tokenizer": name,
        "tokenizer_json_sha256": sha256(path),
        "cases": cases,
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--qwen", required=True, help="deepseek-r1-distill-qwen tokenizer.json")
    ap.add_argument("--llama3", required=True, help="llama-3 tokenizer.json")
    ap.add_argument("--stories", required=True, help="stories260k tokenizer.json")
    ap.add_argument("--corpus", default=os.path.join(here, "corpus.json"))
    args = ap.parse_args()

    with open(args.corpus, encoding="utf-8") as f:
        corpus = json.load(f)
    os.makedirs(args.out_dir, exist_ok=True)
    for name, path in (("qwen", args.qwen), ("llama3", args.llama3), ("stories260k", args.stories)):
        data = goldens_for(name, path, corpus)
        out = os.path.join(args.out_dir, name + ".json")
        with open(out, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print(f"{out}: {len(data['cases'])} cases, tokenizers {data['tokenizers_version']}")


if __name__ == "__main__":
    main()
