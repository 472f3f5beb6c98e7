"""Full-size check (not run in CI): BLIP checkpoints with random weights at the size of
Salesforce/blip-image-captioning-base and Salesforce/blip-itm-base-coco (ViT-B/16 at 384 px, 12-layer
BERT-base text model, 12 heads, vocab 30524 with [DEC] = 30522 and [SEP] = 102 as on the hub),
compared between transformers and the Swift models by the env-gated test BLIPFullSizeTests.

  /work/wt-clip/tools/.venv/bin/python tools/fullsize_blip.py --out out/blip-base
  BLIP_FULLSIZE_DIR=$PWD/out/blip-base swift test -c release -Xswiftc -enable-testing \
      --scratch-path .build-blip --filter BLIPFullSizeTests      (~1 min; a debug build takes ~17 min)

Writes out/blip-base/{caption,itm}/ (checkpoint folders as save_pretrained writes them, ~0.9 GB
each), images as raw RGB8 and expected.json with transformers' outputs: vision last_hidden_state
(first 8 tokens of each image), decoder logits (teacher forced, last position), greedy and beam-3
generate() tokens and scores, ITM probabilities and ITC cosines. With --skip-compare it only writes
the checkpoints (used by `make bench`).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from transformers import BlipForConditionalGeneration, BlipForImageTextRetrieval

sys.path.insert(0, os.path.dirname(__file__))
from blip_reference import base_config, build_vocab, photo_like, processor, randomize, write_tokenizer

SIZES = [(640, 480), (500, 333)]
TEXTS = ["a picture of a cat sitting on a couch", "two dogs playing in the snow", "Straße über Café — naïve"]


def write_checkpoints(out, seed=3):
    vocab = build_vocab("bert")
    folders = {}
    for kind, cls in [("caption", BlipForConditionalGeneration), ("itm", BlipForImageTextRetrieval)]:
        folder = os.path.join(out, kind)
        folders[kind] = folder
        if os.path.exists(os.path.join(folder, "model.safetensors")):
            continue
        os.makedirs(folder, exist_ok=True)
        tok = write_tokenizer(folder, vocab)
        assert (tok.bos_token_id, tok.sep_token_id, tok.pad_token_id) == (30522, 102, 0)
        config = base_config(len(tok), tok.bos_token_id, tok.sep_token_id, tok.pad_token_id)
        torch.manual_seed(seed)
        model = cls(config).eval()
        if kind == "caption":
            randomize(model, seed, sep_bias=3.0, sep=tok.sep_token_id)
        else:
            randomize(model, seed + 1)
        model.save_pretrained(folder)
        processor(384).save_pretrained(folder)
        print(f"{folder}: written")
    return folders


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="out/blip-base")
    ap.add_argument("--skip-compare", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    folders = write_checkpoints(args.out)
    if args.skip_compare:
        return
    rng = np.random.default_rng(5)
    images = [photo_like(w, h, rng) for w, h in SIZES]
    manifest = []
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    for i, im in enumerate(images):
        im.tofile(os.path.join(args.out, "images", f"img{i}.bin"))
        manifest.append({"name": f"img{i}", "width": im.shape[1], "height": im.shape[0]})
    proc = processor(384)
    pixel_values = proc(images=[Image.fromarray(im) for im in images], return_tensors="pt")["pixel_values"]
    from transformers import BertTokenizer
    tok = BertTokenizer.from_pretrained(folders["caption"])
    expected = {"images": manifest, "texts": TEXTS}

    cap = BlipForConditionalGeneration.from_pretrained(folders["caption"]).eval()
    with torch.no_grad():
        vision = cap.vision_model(pixel_values=pixel_values).last_hidden_state
        ids = tok(["a picture of a dog on the", "a picture of a red car on"])["input_ids"]
        n = min(len(i) for i in ids) - 1
        teacher = torch.tensor([[tok.bos_token_id] + i[1:n] for i in ids])
        logits = cap(pixel_values=pixel_values, input_ids=teacher).logits
        expected["vision_first_tokens"] = vision[:, :8, :].reshape(len(images), -1).tolist()
        expected["teacher_input_ids"] = teacher.tolist()
        expected["decoder_last_logits"] = logits[:, -1, :].tolist()
        gens = {}
        for name, kw in [("greedy", dict(num_beams=1)),
                         ("beam3", dict(num_beams=3, num_return_sequences=3)),
                         ("greedy_prompt", dict(num_beams=1, prompt="a picture of"))]:
            prompt = kw.pop("prompt", None)
            enc = tok([prompt] * len(images), return_tensors="pt") if prompt else {}
            r = cap.generate(pixel_values=pixel_values, input_ids=enc.get("input_ids"),
                             attention_mask=enc.get("attention_mask"), max_new_tokens=20, do_sample=False,
                             return_dict_in_generate=True, output_scores=True, **kw)
            g = {"prompt": prompt, "sequences": r.sequences.tolist(),
                 "texts": tok.batch_decode(r.sequences, skip_special_tokens=True)}
            if kw["num_beams"] > 1:
                g["sequences_scores"] = r.sequences_scores.tolist()
                g["num_beams"] = kw["num_beams"]
            else:
                g["min_margin"] = min(float((s.topk(2).values[:, 0] - s.topk(2).values[:, 1]).min()) for s in r.scores)
            gens[name] = g
            print(name, g["texts"][:2], g.get("min_margin"))
        expected["generate"] = gens
    del cap

    itm = BlipForImageTextRetrieval.from_pretrained(folders["itm"]).eval()
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    probs, cos = [], []
    with torch.no_grad():
        for i in range(len(images)):
            pv = pixel_values[i:i + 1].expand(len(TEXTS), -1, -1, -1)
            o = itm(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], pixel_values=pv)
            probs.append(torch.softmax(o.itm_score, dim=-1)[:, 1].tolist())
            o = itm(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], pixel_values=pv, use_itm_head=False)
            cos.append(o.itm_score[0].tolist())
    expected["itm_probability"] = probs
    expected["itc_cosine"] = cos
    with open(os.path.join(args.out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False)
    print(f"ITM {probs}\nITC {cos}\nwrote {args.out}/expected.json")


if __name__ == "__main__":
    main()
