"""The reference side of `make bench`'s end-to-end comparison (issue #14): the whole CapFilt job as a
Python user writes it — the `ffmpeg` CLI samples frames into a temp folder, then transformers' models
as documented (processor -> model) caption, filter and score every frame, and the results go into a
SQLite file. tools/bench_e2e.sh runs it next to `capfilt run` on the same corpus and checkpoints.

  tools/.venv/bin/python tools/e2e_reference.py --corpus out/bench-e2e/corpus --blip out/blip-base \
      --clip out/clip-b32 --out out/bench-e2e/python.sqlite

Per video (every video file under CORPUS/videos, web texts from the manifest CORPUS/web.jsonl):
  ffmpeg -i VIDEO -vf fps=1/2,scale=<384 on the short side> -q:v 2 TMP/%05d.jpg
  (the same frames as capfilt's `sample: every 2s` on the corpus tools/bench_e2e.sh renders: 25 fps,
  frames at 0, 2, 4, 6 s; the script checks the count against --expect-frames when given)
Per frame (PIL image of the JPEG):
  caption  BlipProcessor + BlipForConditionalGeneration.generate(do_sample=True, top_p=0.9, top_k=50,
           num_return_sequences=3, min_new_tokens=20, max_new_tokens=20): exactly 20 new tokens each,
           as the capfilt side (same settings in its YAML); distinct captions kept, as capfilt does
  filter   BlipForImageTextRetrieval on every text of the frame (web alt-texts + the captions):
           ITM (use_itm_head=True, one pixel_values row per (image, text) pair, as the model's forward
           takes them), P(match) = softmax(itm_score)[:, 1], kept when >= 0.5; ITC (use_itm_head=False,
           one image row against all texts of the frame)
  score    CLIPProcessor + CLIPModel on the frame and all its texts: cosine of image_embeds and text_embeds
fp32 (the checkpoints' dtype), torch.set_num_threads(--threads), torch.inference_mode, torch.manual_seed.
Prints frames, pairs, tokens and wall seconds, and one JSON line (prefixed `E2E_RESULT `) for the shell.
"""
import time

T0 = time.perf_counter()  # before torch/transformers are imported: the job's whole time counts

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections import defaultdict  # noqa: E402

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import (BlipForConditionalGeneration, BlipForImageTextRetrieval, BlipProcessor,  # noqa: E402
                          CLIPModel, CLIPProcessor)

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".webm", ".avi")


def short_side_scale(size):
    """ffmpeg scale expression: `size` px on the short side, the other side even and in proportion."""
    return f"scale='if(gt(iw,ih),-2,{size})':'if(gt(iw,ih),{size},-2)'"


def extract_frames(ffmpeg, video, every, size, folder):
    subprocess.run([ffmpeg, "-v", "error", "-nostdin", "-i", video, "-vf", f"fps=1/{every},{short_side_scale(size)}",
                    "-q:v", "2", os.path.join(folder, "%05d.jpg")], check=True)
    return sorted(glob.glob(os.path.join(folder, "*.jpg")))


def read_manifest(path):
    """{absolute media path: [web texts]}; manifest paths are relative to the manifest's folder."""
    base = os.path.dirname(os.path.abspath(path))
    texts = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                texts[os.path.normpath(os.path.join(base, row["path"]))].append(row["text"])
    return texts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="out/bench-e2e/corpus", help="folder with videos/ (capfilt synth)")
    ap.add_argument("--manifest", help="JSONL web texts (default CORPUS/web.jsonl)")
    ap.add_argument("--blip", default="out/blip-base", help="folder with caption/ and itm/ checkpoints")
    ap.add_argument("--clip", default="out/clip-b32", help="CLIPModel checkpoint folder")
    ap.add_argument("--out", default="out/bench-e2e/python.sqlite")
    ap.add_argument("--ffmpeg", default="ffmpeg")
    ap.add_argument("--every", type=float, default=2.0, help="seconds between sampled frames")
    ap.add_argument("--short-side", type=int, default=384)
    ap.add_argument("--num-captions", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=20, help="min_new_tokens = max_new_tokens")
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--top-k", type=int, default=50)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--expect-frames", type=int, help="fail unless ffmpeg gives this many frames in all")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    web = read_manifest(args.manifest or os.path.join(args.corpus, "web.jsonl"))
    videos = sorted(p for p in glob.glob(os.path.join(os.path.abspath(args.corpus), "videos", "**", "*"), recursive=True)
                    if p.lower().endswith(VIDEO_EXTENSIONS))

    t_load = time.perf_counter()
    cap_proc = BlipProcessor.from_pretrained(os.path.join(args.blip, "caption"))
    captioner = BlipForConditionalGeneration.from_pretrained(os.path.join(args.blip, "caption")).eval()
    itm_proc = BlipProcessor.from_pretrained(os.path.join(args.blip, "itm"))
    itm_model = BlipForImageTextRetrieval.from_pretrained(os.path.join(args.blip, "itm")).eval()
    clip_proc = CLIPProcessor.from_pretrained(args.clip)
    clip_model = CLIPModel.from_pretrained(args.clip).eval()
    load_s = time.perf_counter() - t_load

    if os.path.exists(args.out):
        os.remove(args.out)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    db = sqlite3.connect(args.out)
    db.executescript("""
        CREATE TABLE frames(id INTEGER PRIMARY KEY, video TEXT, t REAL, width INTEGER, height INTEGER, jpeg BLOB);
        CREATE TABLE pairs(frame_id INTEGER, origin TEXT, text TEXT, itm REAL, itc REAL, clip REAL, kept INTEGER);
    """)
    seconds = defaultdict(float)
    frames = pairs = new_tokens = 0
    with torch.inference_mode():
        for video in videos:
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                paths = extract_frames(args.ffmpeg, video, args.every, args.short_side, tmp)
                seconds["decode"] += time.perf_counter() - t
                for i, path in enumerate(paths):
                    image = Image.open(path).convert("RGB")
                    with open(path, "rb") as f:
                        jpeg = f.read()
                    frame_id = db.execute("INSERT INTO frames(video, t, width, height, jpeg) VALUES (?, ?, ?, ?, ?)",
                                          (os.path.relpath(video, args.corpus), i * args.every, image.width, image.height,
                                           jpeg)).lastrowid
                    frames += 1

                    t = time.perf_counter()
                    inputs = cap_proc(images=image, return_tensors="pt")
                    ids = captioner.generate(**inputs, do_sample=True, top_p=args.top_p, top_k=args.top_k,
                                             num_return_sequences=args.num_captions,
                                             min_new_tokens=args.tokens, max_new_tokens=args.tokens)
                    new_tokens += (ids.shape[1] - inputs["input_ids"].shape[1] if "input_ids" in inputs
                                   else ids.shape[1] - 1) * ids.shape[0]
                    captions = list(dict.fromkeys(cap_proc.batch_decode(ids, skip_special_tokens=True)))
                    seconds["caption"] += time.perf_counter() - t

                    texts = [("web", w) for w in web.get(os.path.normpath(video), [])] + [("synthetic", c) for c in captions]
                    strings = [s for _, s in texts]

                    t = time.perf_counter()
                    itm_in = itm_proc(images=[image] * len(strings), text=strings, padding=True, return_tensors="pt")
                    itm = itm_model(**itm_in).itm_score.softmax(dim=1)[:, 1]
                    itc_in = itm_proc(images=image, text=strings, padding=True, return_tensors="pt")
                    itc = itm_model(**itc_in, use_itm_head=False).itm_score[0]
                    seconds["filter"] += time.perf_counter() - t

                    t = time.perf_counter()
                    clip_in = clip_proc(text=strings, images=image, padding=True, truncation=True, return_tensors="pt")
                    out = clip_model(**clip_in)
                    cosine = (out.image_embeds @ out.text_embeds.T)[0]
                    seconds["score"] += time.perf_counter() - t

                    db.executemany("INSERT INTO pairs VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   [(frame_id, origin, s, float(itm[j]), float(itc[j]), float(cosine[j]),
                                     int(float(itm[j]) >= args.threshold)) for j, (origin, s) in enumerate(texts)])
                    db.commit()
                    pairs += len(texts)
    db.close()
    wall = time.perf_counter() - T0
    if args.expect_frames is not None and frames != args.expect_frames:
        raise SystemExit(f"ffmpeg gave {frames} frames, expected {args.expect_frames}")
    split = ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items())
    print(f"python reference: {len(videos)} videos, {frames} frames, {pairs} pairs, {new_tokens} new tokens "
          f"({args.num_captions} x {args.tokens} per frame), torch {torch.__version__}, {args.threads} threads")
    print(f"  wall {wall:.2f} s (models loaded in {load_s:.2f} s; {split})")
    print("E2E_RESULT " + json.dumps({"wall_s": round(wall, 3), "load_s": round(load_s, 3), "videos": len(videos),
                                      "frames": frames, "pairs": pairs, "new_tokens": new_tokens,
                                      "stages_s": {k: round(v, 3) for k, v in seconds.items()}}))


if __name__ == "__main__":
    main()
