"""Full-size check (not run in CI): a ViT-B/32-sized CLIP with random weights, compared end to
end between transformers and the Swift `capfilt embed` command.

  tools/.venv/bin/python tools/fullsize_clip.py --out out/clip-b32 --capfilt .build-clip/release/capfilt

Writes the checkpoint folder (config.json with transformers' CLIPConfig defaults = ViT-B/32:
vision 768×12 layers patch 32 at 224 px, text 512×12 layers, projection 512, vocab 49408,
quick_gelu; legacy eos_token_id 2 like openai/clip-vit-base-patch32), photo-like images of
assorted sizes as PNG and PPM, runs transformers (CLIPImageProcessorPil + CLIPTokenizer +
CLIPModel, fp32) and the Swift binary, and prints the max absolute differences.
With --skip-compare it only writes the checkpoint (used by `make bench`).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel

sys.path.insert(0, os.path.dirname(__file__))
from clip_reference import (BOS, EOS, load_tokenizer, photo_like, preprocessor, randomize, reference_outputs,
                            train_clip_bpe, write_tokenizer_files)

SIZES = [(640, 480), (500, 333), (224, 224), (300, 500), (1280, 720), (97, 131), (800, 600), (256, 384)]
TEXTS = [
    "a photo of a cat", "a diagram of a neural network", "two dogs 🐶 playing in the snow!!!",
    "Straße über Café — naïve résumé", "", " ".join(["a long caption that goes on"] * 20),
    "a red car parked beside a river at sunset", "1234 5678",
]


def write_checkpoint(out, seed=3):
    vocab, merges = train_clip_bpe(num_merges=1200)
    write_tokenizer_files(out, vocab, merges)
    config = CLIPConfig(text_config={"bos_token_id": vocab[BOS], "eos_token_id": 2, "pad_token_id": 1})
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    randomize(model, seed)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()},
              os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    model.config.save_pretrained(out)
    preprocessor(224, 224).save_pretrained(out)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="out/clip-b32")
    ap.add_argument("--capfilt", default=".build-clip/release/capfilt")
    ap.add_argument("--skip-compare", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.skip_compare and os.path.exists(os.path.join(args.out, "model.safetensors")):
        print(f"{args.out}: checkpoint exists")
        return
    torch.set_num_threads(2)
    model = write_checkpoint(args.out)
    print(f"wrote {args.out}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters")
    if args.skip_compare:
        return

    rng = np.random.default_rng(11)
    images, paths = [], []
    img_dir = os.path.join(args.out, "check-images")
    os.makedirs(img_dir, exist_ok=True)
    for i, (w, h) in enumerate(SIZES):
        im = photo_like(w, h, rng)
        Image.fromarray(im).save(os.path.join(img_dir, f"img{i}.png"))
        path = os.path.join(img_dir, f"img{i}.ppm")
        Image.fromarray(im).save(path)
        images.append(im)
        paths.append(path)

    tokenizer = load_tokenizer(args.out)
    _, _, out = reference_outputs(model, tokenizer, preprocessor(224, 224), images, TEXTS)

    cmd = [args.capfilt, "embed", "--model", args.out, *paths]
    for t in TEXTS:
        cmd += ["--text", t]
    res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    swift_img = np.array([x["embedding"] for x in res["images"]], dtype=np.float64)
    swift_txt = np.array([x["embedding"] for x in res["texts"]], dtype=np.float64)
    ref_img = out.image_embeds.double().numpy()
    ref_txt = out.text_embeds.double().numpy()
    scale = float(model.logit_scale.detach().exp())
    swift_logits = scale * swift_img @ swift_txt.T
    d_img = np.abs(swift_img - ref_img).max()
    d_txt = np.abs(swift_txt - ref_txt).max()
    d_log = np.abs(swift_logits - out.logits_per_image.double().numpy()).max()
    print(f"ViT-B/32 random weights, {len(images)} images {SIZES}, {len(TEXTS)} texts")
    print(f"max |Δ| image_embeds {d_img:.3g}, text_embeds {d_txt:.3g}, logits_per_image {d_log:.3g} "
          f"(model {res['model']})")
    ok = max(d_img, d_txt, d_log) < 1e-4
    print("PASS (< 1e-4)" if ok else "FAIL (>= 1e-4)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
