"""Shared helpers for the CLIP reference scripts (fixtures and full-size check).

Reference implementation: transformers' CLIPModel, CLIPTokenizer (tokenizers-backed; transformers 5
has no pure-Python CLIP tokenizer any more) and CLIPImageProcessorPil, the Pillow-based image
processor. We instantiate CLIPImageProcessorPil explicitly, so the result does not depend on
whether torchvision happens to be installed.
"""
import inspect
import json
import os
import random
import unicodedata

import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer, Regex, normalizers, pre_tokenizers, trainers
from tokenizers.models import BPE
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

CLIP_PATTERN = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def bytes_to_unicode():
    """GPT-2/CLIP's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


MULTILINGUAL = [
    "Le café est délicieux, n'est-ce pas? Déjà vu à Paris, où l'été est chaud.",
    "Die Straße ist schön. Über den Wolken müssen Grüße groß sein.",
    "El niño comió piña en la montaña; ¿qué más? ¡Olé!",
    "Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο. ΟΔΟΣ",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "日本語のテキストと漢字、ひらがな、カタカナ。東京タワー。",
    "我们在北京吃饭。中文文本测试。",
    "한국어 문장입니다. 서울의 밤.",
    "हिन्दी में वाक्य। नमस्ते दुनिया",
    "مرحبا بالعالم، هذه جملة عربية.",
    "Emoji 🐶🐱🦊 party 🎉🎉 😀😃😄 with 👩‍👩‍👧‍👦 and 🇫🇷 flags ❤️",
    "İstanbul'da ılık bir gün; ŞEHİR ığdır",
    "naïve coöperation façade résumé Ångström Øresund ǅ",
]


def corpus_lines(seed=0):
    """English text from the Python standard library's docstrings plus multilingual lines."""
    import collections, json as j, os as o, re, string, textwrap, itertools, functools, pathlib, random as r, argparse, logging, unittest
    lines = []
    for mod in [collections, j, o, re, string, textwrap, itertools, functools, pathlib, r, argparse, logging, unittest]:
        for _, member in inspect.getmembers(mod):
            doc = inspect.getdoc(member)
            if doc:
                lines.extend(l for l in doc.splitlines() if l.strip())
    rng = random.Random(seed)
    for _ in range(200):
        lines.append(" ".join(str(rng.randint(0, 10 ** rng.randint(1, 6))) for _ in range(5)))
    lines.extend(MULTILINGUAL * 20)
    return lines


def clip_pretokenize(text):
    """CLIP's normalisation and pre-tokenisation, as the `tokenizers` pipeline of CLIPTokenizer
    does it, returning byte-level-mapped words."""
    pre = Tokenizer(BPE())
    pre.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    pre.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CLIP_PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    normalized = pre.normalizer.normalize_str(text)
    return [w for w, _ in pre.pre_tokenizer.pre_tokenize_str(normalized)]


def train_clip_bpe(num_merges, seed=0):
    """Learns byte-level BPE merges on corpus_lines() and lays out vocab/merges like OpenAI's CLIP
    files: 256 byte symbols, the same 256 with '</w>', one token per merge, then the two specials.
    A small deterministic trainer (ties broken by the pair's text) rather than tokenizers'
    BpeTrainer, whose tie-breaking varies between runs and would make the fixtures unstable."""
    import collections
    counts = collections.Counter()
    for line in corpus_lines(seed):
        counts.update(clip_pretokenize(line))
    words = [list(w[:-1]) + [w[-1] + "</w>"] for w in counts]
    freqs = [counts[w] for w in counts]
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pairs[(a, b)] += freqs[i]
            where[(a, b)].add(i)
    merges = []
    while len(merges) < num_merges and pairs:
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        if pairs[best] < 2:
            break
        merges.append(best)
        a, b = best
        for i in sorted(where[best]):
            w = words[i]
            for x, y in zip(w, w[1:]):
                pairs[(x, y)] -= freqs[i]
                if pairs[(x, y)] <= 0:
                    del pairs[(x, y)]
            merged, k = [], 0
            while k < len(w):
                if k + 1 < len(w) and w[k] == a and w[k + 1] == b:
                    merged.append(a + b)
                    k += 2
                else:
                    merged.append(w[k])
                    k += 1
            words[i] = merged
            for x, y in zip(merged, merged[1:]):
                pairs[(x, y)] += freqs[i]
                where[(x, y)].add(i)
        pairs.pop(best, None)
    byte_chars = list(bytes_to_unicode().values())
    vocab_list = byte_chars + [c + "</w>" for c in byte_chars] + [a + b for a, b in merges] + [BOS, EOS]
    assert len(set(vocab_list)) == len(vocab_list)
    return {t: i for i, t in enumerate(vocab_list)}, merges


def write_tokenizer_files(folder, vocab, merges):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "bos_token": BOS,
                   "eos_token": EOS, "pad_token": EOS, "unk_token": EOS, "do_lower_case": True}, f, indent=2)


def load_tokenizer(folder):
    """CLIPTokenizer built from the folder's vocab.json + merges.txt, as from_pretrained would."""
    with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
        merges = [tuple(l.split(" ")) for l in f.read().split("\n")[1:] if l]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def photo_like(width, height, rng):
    """Procedural 'photo': smooth gradients, blurred blobs, hard-edged shapes, sensor noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    for c in range(3):
        a, b, ph = rng.uniform(-2, 2), rng.uniform(-2, 2), rng.uniform(0, 6.28)
        img[..., c] = 128 + 90 * np.sin(a * x / width * 3.1 + b * y / height * 3.1 + ph)
    for _ in range(rng.integers(2, 6)):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(3, max(4, min(width, height) / 2))
        col = rng.uniform(0, 255, 3)
        mask = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
        img = img * (1 - mask[..., None]) + col * mask[..., None]
    for _ in range(rng.integers(1, 4)):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        x1, y1 = x0 + rng.integers(2, width), y0 + rng.integers(2, height)
        img[y0:y1, x0:x1] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 12, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def tiny_clip_config(vocab_size, hidden_act, eos_token_id, image_size, patch_size, bos_token_id, pad_token_id):
    text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=77, hidden_act=hidden_act,
                eos_token_id=eos_token_id, bos_token_id=bos_token_id, pad_token_id=pad_token_id, projection_dim=16)
    vision = dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  image_size=image_size, patch_size=patch_size, hidden_act=hidden_act, projection_dim=16)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)


def randomize(model, seed):
    """Replaces transformers' small init (which makes layers near-identity) with weights large
    enough that every layer visibly changes its input, so a porting error cannot hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                continue
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[-1] if p.dim() == 2 else int(np.prod(p.shape[1:]))
                std = 1.0 if "embedding" in name and p.dim() == 2 else 1.3 / np.sqrt(fan_in)
                p.copy_(std * torch.randn(p.shape, generator=g))


def preprocessor(shortest_edge, crop):
    return CLIPImageProcessorPil(size={"shortest_edge": shortest_edge}, crop_size={"height": crop, "width": crop})


def reference_outputs(model, tokenizer, processor, images, texts):
    """Runs transformers exactly as a user would: processor -> CLIPModel.forward."""
    pixel_values = processor(images=[Image.fromarray(im) for im in images], return_tensors="pt")["pixel_values"]
    enc = tokenizer(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], pixel_values=pixel_values)
    return pixel_values, enc, out
