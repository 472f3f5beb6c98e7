"""PyTorch + transformers side of `make bench` for BLIP: captions/s and ITM pairs/s on the CPU with
a fixed thread count, on the same checkpoints (tools/fullsize_blip.py) and the same kind of
synthetic inputs as `capfilt-bench blip`.

  /work/wt-clip/tools/.venv/bin/python tools/bench_blip.py --model out/blip-base --threads 2 --json out/bench-blip-pytorch.json

Times generate() / forward only (pixel_values prepared beforehand), fp32, torch.inference_mode; every
caption is exactly --tokens new tokens (min_new_tokens = max_new_tokens). Median of --repeats timed
runs after one warm-up. ITM is BlipForImageTextRetrieval.forward as users call it: one
pixel_values row per (image, text) pair.
"""
import argparse
import json
import os
import statistics
import time

import torch
from transformers import BertTokenizer, BlipForConditionalGeneration, BlipForImageTextRetrieval


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
    ap.add_argument("--model", default="out/blip-base")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--only")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cap = BlipForConditionalGeneration.from_pretrained(os.path.join(args.model, "caption"), dtype=torch.float32).eval()
    size = cap.config.vision_config.image_size
    g = torch.Generator().manual_seed(0)
    px8 = torch.randn(8, 3, size, size, generator=g)
    px1 = px8[:1].clone()
    n = args.tokens
    r = {"torch": torch.__version__, "threads": args.threads}

    def measure(key, fn, items):
        if args.only and args.only not in key:
            return
        r[key] = median_rate(fn, items, args.repeats)
        print(f"  {key}: {r[key]:.3f}/s", flush=True)

    def gen(px, **kw):
        return lambda: cap.generate(pixel_values=px, min_new_tokens=n, max_new_tokens=n, **kw)

    with torch.inference_mode():
        measure("vision_b1", lambda: cap.vision_model(pixel_values=px1), 1)
        strategies = {"greedy": dict(num_beams=1, do_sample=False), "beam3": dict(num_beams=3, do_sample=False),
                      "nucleus": dict(do_sample=True, top_p=0.9, top_k=50)}
        for key, kw in strategies.items():
            measure(f"{key}_b1", gen(px1, **kw), 1)
            measure(f"{key}_b8", gen(px8, **kw), 8)
        measure("nucleus3_b1", gen(px1, do_sample=True, top_p=0.9, top_k=50, num_return_sequences=3), 3)
        measure("beam3x3_b1", gen(px1, num_beams=3, do_sample=False, num_return_sequences=3), 3)
        del cap
        itm = BlipForImageTextRetrieval.from_pretrained(os.path.join(args.model, "itm"), dtype=torch.float32).eval()
        tok = BertTokenizer.from_pretrained(os.path.join(args.model, "itm"))
        texts = ["a photo of a cat sitting on a wooden table", "two dogs playing in the snow",
                 "a red car parked beside a river", "an aerial view of a city at night"]
        enc = tok(texts * 2, padding=True, return_tensors="pt")
        pairs = torch.cat([px8[0:1].expand(4, -1, -1, -1), px8[1:2].expand(4, -1, -1, -1)])
        measure("itm_pairs", lambda: itm(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                         pixel_values=pairs), 8)
    print(f"PyTorch {r['torch']} ({args.threads} threads): " + ", ".join(f"{k} {v:.3f}" for k, v in r.items()
                                                                       if isinstance(v, float)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f)


if __name__ == "__main__":
    main()
