"""Evaluates the shipped demo models (models/demo-*) with transformers, exactly as a user would load
them, on scenes rendered by `capfilt synth` with seeds never used in training (training renders in
Python from its own RNG; these are capfilt's SplitMix corpora):

  seed 7     the `make demo` corpus: 8 videos (frames at 0, 2, 4 s, decoded with the ffmpeg CLI) + 4 stills
  seed 4242  300 stills (320x240)
  seed 4243  20 videos (frames at 0, 2, 4 s): shapes anywhere along their motion paths

Metrics (issue #5): the filter drops a web text when the ITM probability of "matched" < 0.5;
precision/recall of "dropped" against truth.jsonl's web_text_noisy, per frame and per file (mean
probability over a video's frames). Caption accuracy: count, colour, shape and background parsed
from the caption all equal the truth (motion is not judged), for greedy (generate() defaults), beam
(num_beams=3) and nucleus (top_p=0.9, top_k=0, seeded) decoding. CLIP: cosine of matched vs
unmatched pairs and the threshold that best separates them. Writes models/demo-metrics.json.

  /work/wt-clip/tools/.venv/bin/python tools/eval_demo.py --capfilt .build-demo/debug/capfilt
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_domain import attrs, parse_caption

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SETS = [("seed7", 7, 8, 4), ("seed4242", 4242, 0, 300), ("seed4243", 4243, 20, 0)]
FRAME_TIMES = [0, 2, 4]


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def render_set(capfilt, work, name, seed, videos, images):
    d = os.path.join(work, name)
    if not os.path.exists(os.path.join(d, "truth.jsonl")):
        subprocess.run([capfilt, "synth", d, "--videos", str(videos), "--images", str(images), "--seed", str(seed),
                        "--size", "320x240", "--no-hostile"], check=True, stdout=subprocess.DEVNULL)
    return d


def frames(d, row):
    """[(label, PIL image)] for a truth row: the still itself, or video frames every 2 s (ffmpeg
    applies the display matrix, so rotated files come out upright, as capfilt decodes them)."""
    path = os.path.join(d, row["path"])
    if row["path"].startswith("images/"):
        return [(row["path"], Image.open(path).convert("RGB"))]
    out = []
    fdir = os.path.join(d, "frames")
    os.makedirs(fdir, exist_ok=True)
    for t in FRAME_TIMES:
        png = os.path.join(fdir, os.path.basename(row["path"]) + f"-{t}s.png")
        if not os.path.exists(png):
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(t), "-i", path, "-frames:v", "1", png], check=True)
        if os.path.exists(png):
            out.append((f"{row['path']}@{t}s", Image.open(png).convert("RGB")))
    return out


def prf(dropped, noisy):
    tp = sum(d and n for d, n in zip(dropped, noisy))
    fp = sum(d and not n for d, n in zip(dropped, noisy))
    fn = sum(n and not d for d, n in zip(dropped, noisy))
    return {"precision": tp / max(1, tp + fp), "recall": tp / max(1, tp + fn), "noisy": sum(noisy),
            "dropped": sum(dropped), "total": len(noisy), "tp": tp, "fp": fp, "fn": fn}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--capfilt", default=os.path.join(ROOT, ".build-demo", "debug", "capfilt"))
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    ap.add_argument("--work", default=os.path.join(ROOT, "out", "demo-eval"))
    ap.add_argument("--sets", nargs="*", default=[n for n, *_ in SETS])
    ap.add_argument("--skip", choices=["caption", "itm", "clip"], action="append", default=[])
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    from transformers import (BlipForConditionalGeneration, BlipForImageTextRetrieval, BlipProcessor, CLIPModel,
                              CLIPProcessor)
    metrics = {"held_out_seeds": {n: {"seed": s, "videos": v, "images": i} for n, s, v, i in SETS},
               "frame_times_s": FRAME_TIMES}
    # The folders must load as ordinary checkpoints: no missing, unexpected or mismatched keys.
    loading = {}
    for sub, cls in [("demo-blip-caption", BlipForConditionalGeneration), ("demo-blip-itm", BlipForImageTextRetrieval),
                     ("demo-clip", CLIPModel)]:
        folder = os.path.join(args.models, sub)
        if os.path.isdir(folder):
            _, info = cls.from_pretrained(folder, output_loading_info=True)
            loading[sub] = {k: sorted(map(str, v)) for k, v in info.items() if k != "error_msgs"}
            assert not any(loading[sub].values()), f"{sub}: {loading[sub]}"
            log(f"{sub}: loads with no missing/unexpected/mismatched keys")
    metrics["loading"] = loading
    data = {}
    for name, seed, videos, images in SETS:
        if name not in args.sets:
            continue
        d = render_set(args.capfilt, args.work, name, seed, videos, images)
        rows = [json.loads(l) for l in open(os.path.join(d, "truth.jsonl"))]
        alt = {json.loads(l)["id"]: json.loads(l)["text"] for l in open(os.path.join(d, "alt.jsonl"))}
        items = []  # (row, frame label, image)
        for r in rows:
            r["web_text"] = alt[r["web_text_id"]]
            for label, im in frames(d, r):
                items.append((r, label, im))
        data[name] = items
        log(f"{name}: {len(rows)} files, {len(items)} pictures")

    if "itm" not in args.skip:
        folder = os.path.join(args.models, "demo-blip-itm")
        proc = BlipProcessor.from_pretrained(folder)
        model = BlipForImageTextRetrieval.from_pretrained(folder).eval()
        res = {}
        for name, items in data.items():
            probs = []
            for i in range(0, len(items), 64):
                chunk = items[i:i + 64]
                enc = proc(images=[im for _, _, im in chunk], text=[r["web_text"] for r, _, _ in chunk],
                           padding=True, return_tensors="pt")
                with torch.no_grad():
                    s = model(**enc).itm_score
                probs += torch.softmax(s, dim=1)[:, 1].tolist()
            noisy = [r["web_text_noisy"] for r, _, _ in items]
            per_frame = prf([p < 0.5 for p in probs], noisy)
            by_file = {}
            for (r, _, _), p in zip(items, probs):
                by_file.setdefault(r["path"], (r, []))[1].append(p)
            per_file = prf([bool(np.mean(ps) < 0.5) for _, ps in by_file.values()],
                           [r["web_text_noisy"] for r, _ in by_file.values()])
            kinds = {}
            for (r, _, _), p in zip(items, probs):
                k = kinds.setdefault(r["noise"], [0, 0])
                k[0] += 1
                k[1] += p < 0.5
            errors = [{"picture": lab, "text": r["web_text"], "noisy": r["web_text_noisy"], "p_match": round(p, 3)}
                      for (r, lab, _), p in zip(items, probs) if (p < 0.5) != r["web_text_noisy"]]
            res[name] = {"per_picture": per_frame, "per_file": per_file,
                         "dropped_share_by_noise_kind": {k: v[1] / v[0] for k, v in kinds.items()},
                         "errors": errors[:20]}
            log(f"ITM {name}: per picture P {per_frame['precision']:.3f} R {per_frame['recall']:.3f} "
                f"({per_frame['noisy']} noisy of {per_frame['total']}); per file P {per_file['precision']:.3f} "
                f"R {per_file['recall']:.3f}; kinds {res[name]['dropped_share_by_noise_kind']}")
        allp = [x for n in data for x in [res[n]["per_picture"]]]
        tp, fp, fn = (sum(x[k] for x in allp) for k in ("tp", "fp", "fn"))
        res["all_per_picture"] = {"precision": tp / max(1, tp + fp), "recall": tp / max(1, tp + fn)}
        log(f"ITM all pictures: P {res['all_per_picture']['precision']:.3f} R {res['all_per_picture']['recall']:.3f}")
        metrics["filter"] = res

    if "caption" not in args.skip:
        folder = os.path.join(args.models, "demo-blip-caption")
        proc = BlipProcessor.from_pretrained(folder)
        model = BlipForConditionalGeneration.from_pretrained(folder).eval()
        greedy = {}
        modes = {"greedy": {}, "beam": {"num_beams": 3}, "nucleus": {"do_sample": True, "top_p": 0.9, "top_k": 0}}
        res = {}
        for name, items in data.items():
            res[name] = {}
            for mode, kw in modes.items():
                torch.manual_seed(0)
                caps = []
                for i in range(0, len(items), 64):
                    chunk = items[i:i + 64]
                    enc = proc(images=[im for _, _, im in chunk], return_tensors="pt")
                    with torch.no_grad():
                        out = model.generate(**enc, **kw)
                    caps += proc.batch_decode(out, skip_special_tokens=True)
                ok, wrong = 0, []
                for (r, lab, _), c in zip(items, caps):
                    p = parse_caption(c)
                    good = p is not None and attrs(p) == attrs(r)
                    ok += good
                    if not good:
                        wrong.append({"picture": lab, "caption": c, "truth": r["still_caption"]})
                res[name][mode] = {"accuracy": ok / len(items), "n": len(items), "wrong": wrong[:10],
                                   "examples": caps[:3]}
                if mode == "greedy":
                    greedy[name] = caps
                log(f"caption {name} {mode}: {ok}/{len(items)} = {ok / len(items):.3f}  e.g. {caps[0]!r}")
        metrics["caption"] = res
        # CapFilt's second use of the filter: keep a synthetic caption when ITM says it matches.
        folder = os.path.join(args.models, "demo-blip-itm")
        iproc = BlipProcessor.from_pretrained(folder)
        itm = BlipForImageTextRetrieval.from_pretrained(folder).eval()
        for name, items in data.items():
            probs = []
            for i in range(0, len(items), 64):
                enc = iproc(images=[im for _, _, im in items[i:i + 64]], text=greedy[name][i:i + 64], padding=True,
                            return_tensors="pt")
                with torch.no_grad():
                    probs += torch.softmax(itm(**enc).itm_score, dim=1)[:, 1].tolist()
            right = [(p_ >= 0.5) for (r, _, _), c, p_ in zip(items, greedy[name], probs)
                     if parse_caption(c) is not None and attrs(parse_caption(c)) == attrs(r)]
            wrong = [(p_ < 0.5) for (r, _, _), c, p_ in zip(items, greedy[name], probs)
                     if not (parse_caption(c) is not None and attrs(parse_caption(c)) == attrs(r))]
            res[name]["filter_on_greedy_captions"] = {"right_kept": sum(right), "right": len(right),
                                                      "wrong_dropped": sum(wrong), "wrong": len(wrong)}
            log(f"filter on greedy captions {name}: kept {sum(right)}/{len(right)} right, dropped "
                f"{sum(wrong)}/{len(wrong)} wrong")

    if "clip" not in args.skip:
        folder = os.path.join(args.models, "demo-clip")
        proc = CLIPProcessor.from_pretrained(folder)
        model = CLIPModel.from_pretrained(folder).eval()
        res = {}
        matched, unmatched = [], []
        for name, items in data.items():
            m_, u_ = [], []
            for i in range(0, len(items), 64):
                chunk = items[i:i + 64]
                texts = [r["web_text"] for r, _, _ in chunk]
                enc = proc(images=[im for _, _, im in chunk], text=texts, padding=True, return_tensors="pt")
                with torch.no_grad():
                    out = model(**enc)
                cos = torch.nn.functional.cosine_similarity(out.image_embeds, out.text_embeds).tolist()
                for (r, _, _), c in zip(chunk, cos):
                    (u_ if r["web_text_noisy"] else m_).append(c)
            res[name] = {"matched_mean_cos": float(np.mean(m_)), "unmatched_mean_cos": float(np.mean(u_)) if u_ else None,
                         "matched_n": len(m_), "unmatched_n": len(u_)}
            matched += m_
            unmatched += u_
            log(f"CLIP {name}: matched {res[name]['matched_mean_cos']:.3f} (n={len(m_)}) unmatched "
                f"{res[name]['unmatched_mean_cos']} (n={len(u_)})")
        cands = sorted(set(matched + unmatched))
        best = max(cands, key=lambda t: sum(c >= t for c in matched) + sum(c < t for c in unmatched))
        acc = (sum(c >= best for c in matched) + sum(c < best for c in unmatched)) / (len(matched) + len(unmatched))
        res["all"] = {"matched_mean_cos": float(np.mean(matched)), "unmatched_mean_cos": float(np.mean(unmatched)),
                      "matched_min_cos": float(np.min(matched)), "unmatched_max_cos": float(np.max(unmatched)),
                      "best_threshold": round(float(best), 3), "accuracy_at_best_threshold": acc}
        lo, hi = res["all"]["unmatched_max_cos"], res["all"]["matched_min_cos"]
        # Midway between the classes when they separate: robust to a little drift either way.
        res["all"]["suggested_threshold"] = round((lo + hi) / 2, 2) if lo < hi else round(float(best), 2)
        log(f"CLIP all: {res['all']}")
        metrics["clip"] = res

    path = os.path.join(args.models, "demo-metrics.json")
    old = json.load(open(path)) if os.path.exists(path) else {}
    old.update(metrics)
    with open(path, "w") as f:
        json.dump(old, f, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
