"""Writes the golden fixtures for the Swift BLIP tests into Tests/BLIPTests/Fixtures.

Everything is generated (no model hub): a real-format BERT vocab.txt, procedural photo-like images
(raw RGB8 .bin), two tiny random checkpoints saved with save_pretrained (so tied weights are left
out exactly as on the hub) and the outputs of transformers on them:

  tokenizer/     vocab + BertTokenizer ids for >200 varied strings (+ the legacy Python tokenizer's, for
                 the record), and decode() of a few id sequences
  blip-cap-tiny  BlipForConditionalGeneration: pixel_values, vision last_hidden_state, decoder logits
                 (teacher-forced), greedy / beam generate() with and without a prompt, scores
  blip-itm-tiny  BlipForImageTextRetrieval: ITM probabilities and ITC cosines for every image × text
  sampling.json  fixed logits and the distributions transformers' warpers leave after
                 repetition penalty, temperature, top-k and top-p

Run: /work/wt-clip/tools/.venv/bin/python tools/make_blip_fixtures.py   (seeded; deterministic)
"""
import json
import os
import random
import shutil
import sys

import numpy as np
import torch
from transformers import BlipForConditionalGeneration, BlipForImageTextRetrieval
from transformers.generation.logits_process import (RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                                                    TopKLogitsWarper, TopPLogitsWarper)
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from blip_reference import (build_vocab, load_legacy_tokenizer, photo_like, processor, randomize, tiny_config,
                            tokenizer_cases, write_tokenizer)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BLIPTests", "Fixtures")
IMAGE_SIZES = [(57, 43), (101, 77), (33, 120), (29, 31), (64, 64), (120, 90)]
ITM_TEXTS = ["a picture of a cat", "Two dogs playing in the snow!", "", "a red car parked beside the river",
             "Straße über Café — naïve résumé 日本"]
GEN_CASES = [
    # name, prompt, generate kwargs
    ("greedy", None, dict(max_new_tokens=12)),
    ("greedy_min", None, dict(max_new_tokens=10, min_new_tokens=6)),
    ("greedy_prompt", "a picture of", dict(max_new_tokens=10)),
    ("greedy_rep", None, dict(max_new_tokens=12, repetition_penalty=1.5)),
    ("beam3", None, dict(max_new_tokens=12, num_beams=3, num_return_sequences=3)),
    ("beam3_early", None, dict(max_new_tokens=12, num_beams=3, early_stopping=True)),
    ("beam4_lp", "a picture of", dict(max_new_tokens=10, num_beams=4, length_penalty=2.0, num_return_sequences=2)),
    ("beam3_lp0_never", None, dict(max_new_tokens=9, num_beams=3, length_penalty=0.0, early_stopping="never")),
    ("beam3_neg_rep", None, dict(max_new_tokens=12, num_beams=3, length_penalty=-0.5, repetition_penalty=1.3,
                                 min_new_tokens=3)),
]


def write_f32(path, array):
    np.ascontiguousarray(array, dtype="<f4").tofile(path)


def generate_cases(model, tok, pixel_values):
    out = []
    for name, prompt, kw in GEN_CASES:
        kwargs = dict(do_sample=False, **kw)
        kwargs.setdefault("num_beams", 1)
        if prompt is not None:
            enc = tok([prompt] * pixel_values.shape[0], return_tensors="pt")
            input_ids, attention_mask = enc["input_ids"], enc["attention_mask"]
        else:
            input_ids = attention_mask = None
        with torch.no_grad():
            r = model.generate(pixel_values=pixel_values, input_ids=input_ids, attention_mask=attention_mask,
                               return_dict_in_generate=True, output_scores=True, **kwargs)
        seqs = r.sequences.tolist()
        item = {"name": name, "prompt": prompt, "kwargs": {k: v for k, v in kwargs.items()},
                "sequences": seqs, "texts": tok.batch_decode(r.sequences, skip_special_tokens=True)}
        if kwargs["num_beams"] > 1:
            item["sequences_scores"] = r.sequences_scores.tolist()
        else:
            # Margin between the best and second-best token at each step: near-ties would make the test
            # depend on rounding, so the script refuses them.
            margins = [float((s.topk(2).values[:, 0] - s.topk(2).values[:, 1]).min()) for s in r.scores]
            assert min(margins) > 1e-3, (name, min(margins))
        out.append(item)
        print(f"  {name}: {item['texts'][:2]}")
    return out


def sampling_cases():
    g = torch.Generator().manual_seed(5)
    cases = []
    settings = [dict(temperature=1.0, top_k=0, top_p=1.0), dict(temperature=0.7, top_k=50, top_p=0.9),
                dict(temperature=1.3, top_k=5, top_p=1.0), dict(temperature=1.0, top_k=0, top_p=0.5),
                dict(temperature=0.5, top_k=20, top_p=0.95, repetition_penalty=1.4)]
    for i, s in enumerate(settings):
        logits = torch.randn(1, 60, generator=g) * 2.5
        previous = torch.tensor([[0, 7, 7, 13, 21]])
        x = logits.clone()
        if s.get("repetition_penalty"):
            x = RepetitionPenaltyLogitsProcessor(s["repetition_penalty"])(previous, x)
        if s["temperature"] != 1.0:
            x = TemperatureLogitsWarper(s["temperature"])(previous, x)
        if s["top_k"]:
            x = TopKLogitsWarper(s["top_k"])(previous, x)
        if s["top_p"] < 1.0:
            x = TopPLogitsWarper(s["top_p"])(previous, x)
        probs = torch.softmax(x, dim=-1)
        cases.append(dict(s, logits=logits[0].tolist(), previous=previous[0].tolist(), probs=probs[0].tolist()))
    return cases


def main():
    torch.manual_seed(0)
    rng = random.Random(4321)
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(ROOT)

    vocab = build_vocab("tiny")
    tok_dir = os.path.join(ROOT, "tokenizer")
    tok = write_tokenizer(tok_dir, vocab)
    legacy = load_legacy_tokenizer(tok_dir)
    cases = tokenizer_cases(rng)
    ids = [tok(t)["input_ids"] for t in cases]
    legacy_ids = [legacy(t)["input_ids"] for t in cases]
    disagree = [i for i in range(len(cases)) if ids[i] != legacy_ids[i]]
    decode_ids = [ids[i] for i in range(0, len(cases), 7)] + [[tok.bos_token_id, 43, 462, 3, 0, 0]]
    with open(os.path.join(tok_dir, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"texts": cases, "input_ids": ids, "legacy_input_ids": legacy_ids,
                   "decode_ids": decode_ids,
                   "decoded": [tok.decode(d, skip_special_tokens=True) for d in decode_ids]}, f, ensure_ascii=False)
    print(f"tokenizer: {len(vocab)} + 2 tokens, {len(cases)} cases, {sum(1 in i for i in ids)} with [UNK], "
          f"legacy tokenizer disagrees on {len(disagree)}: {[cases[i] for i in disagree][:6]}")

    img_dir = os.path.join(ROOT, "images")
    os.makedirs(img_dir)
    nrng = np.random.default_rng(11)
    images, manifest = [], []
    for i, (w, h) in enumerate(IMAGE_SIZES):
        im = photo_like(w, h, nrng)
        im.tofile(os.path.join(img_dir, f"img{i}.bin"))
        images.append(im)
        manifest.append({"name": f"img{i}", "width": w, "height": h})
    with open(os.path.join(img_dir, "images.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    pil = [Image.fromarray(im) for im in images]

    bos, sep, pad = tok.bos_token_id, tok.sep_token_id, tok.pad_token_id
    config = tiny_config(len(tok), bos, sep, pad)
    proc = processor(32)

    # Captioning model.
    folder = os.path.join(ROOT, "blip-cap-tiny")
    cap = BlipForConditionalGeneration(config).eval()
    randomize(cap, 24, sep_bias=3.5, sep=sep)
    cap.save_pretrained(folder)
    write_tokenizer(folder, vocab)
    proc.save_pretrained(folder)
    cap = BlipForConditionalGeneration.from_pretrained(folder).eval()   # what a user gets from the folder
    pixel_values = proc(images=pil, return_tensors="pt")["pixel_values"]
    write_f32(os.path.join(folder, "pixel_values.f32"), pixel_values.numpy())
    teacher = tok(["a picture of a cat on the", "two dogs in the snow ."], padding=False)["input_ids"]
    teacher = [[bos] + t[1:-1] for t in teacher]
    n = min(len(t) for t in teacher)
    teacher = torch.tensor([t[:n] for t in teacher])
    with torch.no_grad():
        vision = cap.vision_model(pixel_values=pixel_values).last_hidden_state
        logits = cap(pixel_values=pixel_values[:2], input_ids=teacher).logits
    write_f32(os.path.join(folder, "vision_last_hidden_state.f32"), vision.numpy())
    write_f32(os.path.join(folder, "decoder_logits.f32"), logits.numpy())
    print(f"blip-cap-tiny: vision {tuple(vision.shape)}, logits {tuple(logits.shape)}")
    gens = generate_cases(cap, tok, pixel_values)
    with open(os.path.join(folder, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"reference": "transformers BlipForConditionalGeneration + BlipImageProcessorPil + BertTokenizer",
                   "pixel_values_shape": list(pixel_values.shape), "vision_shape": list(vision.shape),
                   "teacher_input_ids": teacher.tolist(), "logits_shape": list(logits.shape),
                   "generate": gens}, f, ensure_ascii=False)

    # Retrieval model.
    folder = os.path.join(ROOT, "blip-itm-tiny")
    itm = BlipForImageTextRetrieval(config).eval()
    randomize(itm, 22)
    itm.save_pretrained(folder)
    write_tokenizer(folder, vocab)
    proc.save_pretrained(folder)
    itm = BlipForImageTextRetrieval.from_pretrained(folder).eval()
    enc = tok(ITM_TEXTS, padding=True, return_tensors="pt")
    probs, cos = [], []
    with torch.no_grad():
        for i in range(len(images)):
            pv = pixel_values[i:i + 1].expand(len(ITM_TEXTS), -1, -1, -1)
            o = itm(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], pixel_values=pv)
            probs.append(torch.softmax(o.itm_score, dim=-1)[:, 1].tolist())
            o = itm(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], pixel_values=pv,
                    use_itm_head=False)
            cos.append(o.itm_score[0].tolist())
    with open(os.path.join(folder, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"reference": "transformers BlipForImageTextRetrieval (use_itm_head True / False)",
                   "texts": ITM_TEXTS, "input_ids": enc["input_ids"].tolist(),
                   "itm_probability": probs, "itc_cosine": cos}, f, ensure_ascii=False)
    print(f"blip-itm-tiny: itm range [{np.min(probs):.3f}, {np.max(probs):.3f}], "
          f"itc range [{np.min(cos):.3f}, {np.max(cos):.3f}]")

    with open(os.path.join(ROOT, "sampling.json"), "w") as f:
        json.dump(sampling_cases(), f)

    for d, _, fs in os.walk(ROOT):
        for fn in fs:
            if fn in ("special_tokens_map.json",):
                pass
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print(f"fixtures: {total / 1024:.0f} KiB in {ROOT}")


if __name__ == "__main__":
    main()
