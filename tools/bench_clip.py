"""PyTorch + transformers side of `make bench`: CLIP embeddings/s on the CPU with a fixed thread
count, on the same checkpoint and the same synthetic inputs as `capfilt-bench clip`.

  tools/.venv/bin/python tools/bench_clip.py --model out/clip-b32 --threads 2 --json out/bench-pytorch.json

Times the model only (pixel_values / input_ids prepared beforehand), fp32, torch.inference_mode.
Reports the median of --repeats timed runs after one warm-up run.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
from transformers import CLIPModel

sys.path.insert(0, os.path.dirname(__file__))
from clip_reference import load_tokenizer

CAPTIONS = [
    "a photo of a cat sitting on a wooden table", "two dogs playing in the snow", "a red car parked beside a river",
    "an aerial view of a city at night", "a bowl of fruit on a kitchen counter", "a man riding a bicycle down a hill",
    "a close-up of a flower with a bee", "children playing football in a park",
]


def median_rate(fn, items, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return items / statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="out/clip-b32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = CLIPModel.from_pretrained(args.model, torch_dtype=torch.float32).eval()
    tok = load_tokenizer(args.model)
    size = model.config.vision_config.image_size
    g = torch.Generator().manual_seed(0)
    px32 = torch.randn(32, 3, size, size, generator=g)
    px1 = px32[:1].clone()
    texts = (CAPTIONS * 4)[:32]
    enc = tok(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
    with torch.inference_mode():
        r = {
            "torch": torch.__version__, "threads": args.threads,
            "image_b1": median_rate(lambda: model.get_image_features(pixel_values=px1), 1, max(args.repeats, 10)),
            "image_b32": median_rate(lambda: model.get_image_features(pixel_values=px32), 32, args.repeats),
            "text_b32": median_rate(lambda: model.get_text_features(**enc), 32, args.repeats),
        }
    print(f"PyTorch {r['torch']} ({args.threads} threads): image embeddings/s batch 1 {r['image_b1']:.1f}, "
          f"batch 32 {r['image_b32']:.1f}; text embeddings/s batch 32 {r['text_b32']:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f)


if __name__ == "__main__":
    main()
