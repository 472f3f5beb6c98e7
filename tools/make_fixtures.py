"""Writes the golden fixtures for the Swift CLIP tests into Tests/ModelsTests/Fixtures.

Everything is generated (no model hub): a byte-level BPE vocabulary in CLIP's file format,
procedural photo-like images (PNG + raw RGB8 .bin), two tiny random CLIP checkpoints and the
outputs of transformers' CLIPTokenizer, CLIPImageProcessorPil (Pillow) and CLIPModel on them.

  clip-tiny-gelu   hidden_act=gelu,       F32 weights, legacy eos_token_id=2 (argmax pooling),
                   shortest_edge 32 == crop 32, image 32 / patch 8
  clip-tiny-quick  hidden_act=quick_gelu, F16 weights, eos_token_id=<|endoftext|> id (first-eos
                   pooling), shortest_edge 40 > crop 32 (exercises the centre crop), patch 16

Run: tools/.venv/bin/python tools/make_fixtures.py   (seeds fixed; output is deterministic)
"""
import json
import os
import random
import shutil
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import CLIPModel
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

sys.path.insert(0, os.path.dirname(__file__))
from clip_reference import (BOS, EOS, MULTILINGUAL, corpus_lines, load_tokenizer, photo_like, preprocessor,
                            randomize, reference_outputs, tiny_clip_config, train_clip_bpe, write_tokenizer_files)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ModelsTests", "Fixtures")
IMAGE_SIZES = [(57, 43), (101, 77), (64, 64), (33, 120), (47, 47), (29, 31), (120, 90), (75, 101)]
MODEL_TEXTS = [
    "a photo of a cat",
    "A red car parked beside the river, late afternoon light.",
    "two dogs 🐶🐶 playing!!!",
    "",
    "Straße über Café — naïve résumé",
    " ".join(["a very long caption that keeps going"] * 20),
]


def tokenizer_cases(rng):
    cases = [
        "", " ", "   \t\n  ", "a", "A", "hello world", "Hello World!", "HELLO, WORLD!!!",
        "it's", "It'S", "I'LL be there, we've got it, they're here, you'd know, I'm sure, don't",
        "'s", "''s", "!'s", "'''", "rock'n'roll", "o'clock", "'ll'll've", "quote's end'",
        "!!!???...", "hello,,,world", "...and then---he left;;;", "(parens) [brackets] {braces} <angles>",
        "a+b=c; x*y/z % 5 ^ 2 ~ `tick` | pipe \\ backslash", "@user #hashtag $100 &co *star* _under_",
        "12345", "3.14159", "1,000,000", "2024-01-31", "phone: +1 (555) 123-4567", "v1.2.3-beta4", "0x1F", "½ ¾ ² ³ ①②",
        "Café déjà vu", "naïve résumé", "ÅNGSTRÖM", "e\u0301cole", "Cafe\u0301", "ﬁne ﬂour", "Ⅻ Ⅳ",
        "🐶🐱 dogs & cats 😀😀", "👩‍👩‍👧‍👦 family", "🇫🇷🇩🇪 flags", "❤️ love ❤", "thumbs 👍🏽 up",
        "日本語のテキスト", "中文测试，标点。", "한국어", "हिन्दी में", "مرحبا", "ΟΔΟΣ οδός", "İstanbul", "Straße",
        "tab\there", "new\nline", "carriage\r\nreturn", "nbsp\u00a0space", "ideographic\u3000space", "zero\u200bwidth",
        "em\u2003space", "soft\u00adhyphen", "bell\u0007char", "<|startoftext|>", "<|endoftext|>",
        "a <|endoftext|> b", "<|ENDOFTEXT|>", "<|startoftext|>hi there<|endoftext|>",
        "https://example.com/path?q=1&r=2#frag", "user@example.com", "C:\\Windows\\System32", "snake_case_name camelCaseName",
        "ALL CAPS SENTENCE WITH NUMBERS 42 AND 7", "mixed123numbers456", "x²+y²=z²", "™ © ® § ¶ † ‡ • …",
        "Ǆemal ǅ ǆ", "ΣΊΣΥΦΟΣ", "ﬀ ﬃ", "Å Å", "\u2126 ohm", "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３",
    ]
    cases += MULTILINGUAL
    long_para = ("The quick brown fox jumps over the lazy dog while the photographer adjusts the lens, "
                 "checks the light meter, and waits for the perfect moment at sunset. ")
    cases += [long_para * 3, "word " * 100, "😀" * 60, "1" * 120, "!?" * 90, ("Ünïcödé " * 40).strip()]
    lines = [l for l in corpus_lines(1) if 10 < len(l) < 200]
    cases += rng.sample(lines, 60)
    alphabet = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + list(" \t\n.,;:!?'\"-()[]{}") +
                list("éèêëàâäôöûüçñßøåæœÉÀÖÜ") + list("αβγδΩπσςжзийк") + list("日本中文字") + ["😀", "🎉", "👍", "\u0301", "\u200d"])
    for _ in range(70):
        n = rng.randint(1, 60)
        cases.append("".join(rng.choice(alphabet) for _ in range(n)))
    return cases


def write_f32(path, array):
    np.ascontiguousarray(array, dtype="<f4").tofile(path)


def main():
    torch.manual_seed(0)
    rng = random.Random(1234)
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(ROOT)

    # Tokenizer: real-format vocab/merges, and ids from transformers' CLIPTokenizer.
    vocab, merges = train_clip_bpe(num_merges=1200)
    tok_dir = os.path.join(ROOT, "tokenizer")
    write_tokenizer_files(tok_dir, vocab, merges)
    tokenizer = load_tokenizer(tok_dir)
    cases = tokenizer_cases(rng)
    ids = [tokenizer(t, truncation=True, max_length=77)["input_ids"] for t in cases]
    with open(os.path.join(tok_dir, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"texts": cases, "input_ids": ids}, f, ensure_ascii=False)
    print(f"tokenizer: {len(vocab)} tokens, {len(merges)} merges, {len(cases)} cases, "
          f"{sum(len(i) == 77 for i in ids)} truncated")

    # Images.
    img_dir = os.path.join(ROOT, "images")
    os.makedirs(img_dir)
    nrng = np.random.default_rng(7)
    images, manifest = [], []
    for i, (w, h) in enumerate(IMAGE_SIZES):
        im = photo_like(w, h, nrng)
        Image.fromarray(im).save(os.path.join(img_dir, f"img{i}.png"))
        im.tofile(os.path.join(img_dir, f"img{i}.bin"))
        # The PNG round trip must be lossless, or the .bin would not be the image transformers saw.
        assert np.array_equal(np.array(Image.open(os.path.join(img_dir, f"img{i}.png")).convert("RGB")), im)
        images.append(im)
        manifest.append({"name": f"img{i}", "width": w, "height": h})
    with open(os.path.join(img_dir, "images.json"), "w") as f:
        json.dump(manifest, f, indent=1)

    # Pillow resize cases: both pass orders Pillow 13 chooses between, one-axis resizes, strong
    # reductions, upscaling, and the other filters. Outputs are 8-bit and must match exactly.
    resize_dir = os.path.join(ROOT, "resize")
    os.makedirs(resize_dir)
    cases = [("img6", 30, 22, 3), ("img6", 100, 20, 3), ("img6", 120, 45, 3), ("img6", 60, 90, 3),
             ("img7", 224, 300, 3), ("img7", 20, 11, 3), ("img3", 32, 116, 3), ("img1", 17, 13, 3),
             ("img1", 101, 10, 3), ("img6", 47, 35, 2), ("img7", 40, 53, 1), ("img1", 33, 25, 4),
             ("img3", 11, 40, 5), ("img5", 64, 70, 3)]
    by_name = {m["name"]: im for m, im in zip(manifest, images)}
    blob = bytearray()
    for src, w, h, f in cases:
        blob += np.array(Image.fromarray(by_name[src]).resize((w, h), resample=f)).tobytes()
    with open(os.path.join(resize_dir, "expected.bin"), "wb") as fh:
        fh.write(blob)
    with open(os.path.join(resize_dir, "cases.json"), "w") as fh:
        json.dump([{"source": c[0], "width": c[1], "height": c[2], "filter": c[3]} for c in cases], fh, indent=1)

    # A processor whose crop is larger than the resized image (transformers zero-pads, then crops)
    # and non-square crop/exact-size resizes.
    pad_dir = os.path.join(ROOT, "processor-pad")
    for sub, kwargs in [("pad", dict(size={"shortest_edge": 24}, crop_size={"height": 30, "width": 28})),
                        ("exact", dict(size={"height": 37, "width": 23}, crop_size={"height": 21, "width": 31}))]:
        folder = os.path.join(pad_dir, sub)
        os.makedirs(folder)
        proc = CLIPImageProcessorPil(**kwargs)
        proc.save_pretrained(folder)
        pv = np.stack([proc(images=[Image.fromarray(im)], return_tensors="np")["pixel_values"][0] for im in images])
        write_f32(os.path.join(folder, "pixel_values.f32"), pv)
        with open(os.path.join(folder, "shape.json"), "w") as fh:
            json.dump(list(pv.shape), fh)

    bos, eos = vocab[BOS], vocab[EOS]
    specs = [
        ("clip-tiny-gelu", "gelu", 2, 32, 8, 32, 32, torch.float32, 11),
        ("clip-tiny-quick", "quick_gelu", eos, 32, 16, 40, 32, torch.float16, 12),
    ]
    for name, act, eos_id, image_size, patch, shortest, crop, dtype, seed in specs:
        folder = os.path.join(ROOT, name)
        write_tokenizer_files(folder, vocab, merges)
        config = tiny_clip_config(len(vocab), act, eos_id, image_size, patch, bos, 1)
        model = CLIPModel(config).eval()
        randomize(model, seed)
        state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
        if dtype != torch.float32:
            # Round the weights to the storage dtype first so the reference runs on exactly the
            # values the Swift side will load (and convert back to fp32).
            state = {k: v.to(dtype).to(torch.float32) for k, v in state.items()}
            model.load_state_dict(state)
        save_file({k: v.to(dtype).contiguous() for k, v in state.items()}, os.path.join(folder, "model.safetensors"),
                  metadata={"format": "pt"})
        model.config.save_pretrained(folder)
        proc = preprocessor(shortest, crop)
        proc.save_pretrained(folder)
        tokenizer = load_tokenizer(folder)
        pixel_values, enc, out = reference_outputs(model, tokenizer, proc, images, MODEL_TEXTS)
        write_f32(os.path.join(folder, "pixel_values.f32"), pixel_values.numpy())
        expected = {
            "reference": "transformers CLIPModel.forward with CLIPImageProcessorPil and CLIPTokenizer",
            "images": [m["name"] for m in manifest],
            "texts": MODEL_TEXTS,
            "input_ids": enc["input_ids"].tolist(),
            "attention_mask": enc["attention_mask"].tolist(),
            "pixel_values_shape": list(pixel_values.shape),
            "image_embeds": out.image_embeds.tolist(),
            "text_embeds": out.text_embeds.tolist(),
            "logits_per_image": out.logits_per_image.tolist(),
            "logit_scale": float(model.logit_scale.detach().exp()),
        }
        with open(os.path.join(folder, "expected.json"), "w", encoding="utf-8") as f:
            json.dump(expected, f, ensure_ascii=False)
        print(f"{name}: pixel_values {tuple(pixel_values.shape)}, logits range "
              f"[{out.logits_per_image.min():.3f}, {out.logits_per_image.max():.3f}]")

    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print(f"fixtures: {total / 1024:.0f} KiB in {ROOT}")


if __name__ == "__main__":
    main()
