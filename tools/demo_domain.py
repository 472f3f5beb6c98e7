"""The demo domain in Python: scenes, captions, web-text noise and an exact port of
DemoCorpus.render (Sources/Demo/DemoCorpus.swift), plus the tokenizer/processor builders shared
by tools/train_demo.py and tools/eval_demo.py.

Run with the reference venv: /work/wt-clip/tools/.venv/bin/python (see tools/requirements.txt).
"""
import io
import json
import os
import random
import re

import numpy as np
from PIL import Image

COLORS = {
    "red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220), "yellow": (240, 220, 40),
    "purple": (140, 50, 180), "orange": (250, 140, 30), "white": (245, 245, 245), "black": (15, 15, 15),
}
COLOR_NAMES = sorted(COLORS)
SHAPES = ["circle", "square", "triangle"]
MOTIONS = ["left", "right", "up", "down", "still"]
NUMBERS = ["", "a", "two", "three"]
SPAM = ["buy cheap watches online", "click here for free prizes", "IMG_2041.JPG", "best deals 2026 limited offer",
        "untitled", "download now"]
# Extra junk for the filter to generalise beyond the six spam strings above.
JUNK_WORDS = ["buy", "cheap", "watches", "online", "click", "here", "for", "free", "prizes", "best", "deals", "limited",
              "offer", "untitled", "download", "now", "img", "dsc", "photo", "image", "picture", "new", "sale", "jpg",
              "png", "2026", "2041", "0001", "file", "copy", "final", "the", "and", "of"]
PREFIXES = ["a picture of ", "a photo of ", "an image of "]


def caption(count, color, shape, background, motion="still"):
    noun = shape if count == 1 else shape + "s"
    moving = "" if motion == "still" else f" moving {motion}"
    return f"{NUMBERS[count]} {color} {noun}{moving} on a {background} background"


def still_caption(s):
    return caption(s["count"], s["color"], s["shape"], s["background"])


CAPTION_RE = re.compile(r"^(?:(?:a|an) (?:picture|photo|image) of )?(a|two|three) (\w+) (circle|square|triangle)(s?)"
                        r"(?: moving (left|right|up|down))? on a (\w+) background$")


def parse_caption(text):
    """Attributes of a caption in the demo grammar, or None when it does not parse."""
    m = CAPTION_RE.match(text.strip().lower())
    if not m:
        return None
    count = NUMBERS.index(m.group(1))
    if (count == 1) == (m.group(4) == "s"):
        return None
    if m.group(2) not in COLORS or m.group(6) not in COLORS:
        return None
    return {"count": count, "color": m.group(2), "shape": m.group(3), "background": m.group(6),
            "motion": m.group(5) or "still"}


def attrs(s):
    return (s["count"], s["color"], s["shape"], s["background"])


def random_scene(rng, moving=True):
    color = rng.choice(COLOR_NAMES)
    background = rng.choice([c for c in COLOR_NAMES if c != color])
    return {"shape": rng.choice(SHAPES), "color": color, "background": background,
            "motion": rng.choice(MOTIONS) if moving else "still", "count": rng.randint(1, 3)}


def render(scene, t, width=320, height=240):
    """Exactly DemoCorpus.render: same centres, radius, travel, pixel-centre tests and colours."""
    bg, fg = COLORS[scene["background"]], COLORS[scene["color"]]
    r = float(min(width, height)) * 0.12
    travel = float(min(width, height)) * 0.25
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    xs += 0.5
    ys += 0.5
    inside = np.zeros((height, width), dtype=bool)
    n = scene["count"]
    for k in range(n):
        x = float(width) * (k + 1) / float(n + 1)
        y = float(height) / 2
        d = (t - 0.5) * 2 * travel
        m = scene["motion"]
        if m == "left":
            x -= d
        elif m == "right":
            x += d
        elif m == "up":
            y -= d
        elif m == "down":
            y += d
        dx, dy = xs - x, ys - y
        if scene["shape"] == "circle":
            inside |= dx * dx + dy * dy <= r * r
        elif scene["shape"] == "square":
            inside |= (np.abs(dx) <= r * 0.9) & (np.abs(dy) <= r * 0.9)
        else:
            inside |= (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = bg
    img[inside] = fg
    return img


def degrade(img, rng):
    """Codec-like damage so frames decoded from H.264/MPEG-4 look familiar: JPEG/WebP round trips
    (4:2:0 chroma), slight colour-range shifts, a little blur. Returns a PIL image."""
    im = Image.fromarray(img)
    k = rng.random()
    if k < 0.35:
        a = np.asarray(im).astype(np.float32)
        gain = np.array([rng.uniform(0.92, 1.08) for _ in range(3)], dtype=np.float32)
        off = np.array([rng.uniform(-10, 10) for _ in range(3)], dtype=np.float32)
        im = Image.fromarray(np.clip(a * gain + off, 0, 255).round().astype(np.uint8))
    k = rng.random()
    if k < 0.4:
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=rng.randint(35, 95))
        im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    elif k < 0.6:
        buf = io.BytesIO()
        im.save(buf, format="WEBP", quality=rng.randint(50, 95))
        im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return im


# ---------------------------------------------------------------- web texts (positives / negatives)

def positive_text(s, rng):
    """A text that a single frame of scene s supports: any motion word (a frame cannot show motion)."""
    text = caption(s["count"], s["color"], s["shape"], s["background"], rng.choice(MOTIONS))
    if rng.random() < 0.15:
        text = rng.choice(PREFIXES) + text
    return text


def negative_text(s, rng):
    """A wrong text for scene s: DemoCorpus's three noise kinds plus hard negatives. Returns (text, kind)."""
    kinds = ["attribute", "other_scene", "spam", "junk", "shape", "count", "background", "swap", "color_is_bg"]
    weights = [3, 2, 2, 1, 3, 3, 3, 2, 1]
    kind = rng.choices(kinds, weights)[0]
    t = dict(s)
    t["motion"] = rng.choice(MOTIONS)
    if kind == "spam":
        return rng.choice(SPAM), kind
    if kind == "junk":
        return " ".join(rng.choice(JUNK_WORDS) for _ in range(rng.randint(1, 5))), kind
    if kind == "attribute":
        t["color"] = rng.choice([c for c in COLOR_NAMES if c not in (s["color"], s["background"])])
    elif kind == "other_scene":
        t = random_scene(rng)
        while attrs(t) == attrs(s):
            t = random_scene(rng)
    elif kind == "shape":
        t["shape"] = rng.choice([x for x in SHAPES if x != s["shape"]])
    elif kind == "count":
        t["count"] = rng.choice([c for c in (1, 2, 3) if c != s["count"]])
    elif kind == "background":
        t["background"] = rng.choice([c for c in COLOR_NAMES if c not in (s["color"], s["background"])])
    elif kind == "swap":
        t["color"], t["background"] = s["background"], s["color"]
    elif kind == "color_is_bg":
        t["color"] = s["background"]
        t["background"] = rng.choice([c for c in COLOR_NAMES if c not in (s["color"], s["background"])])
    text = caption(t["count"], t["color"], t["shape"], t["background"], t["motion"])
    if rng.random() < 0.15:
        text = rng.choice(PREFIXES) + text
    return text, kind


# ---------------------------------------------------------------- tokenizers and processors

BLIP_IMAGE = 96
CLIP_IMAGE = 96


def bert_vocab():
    """A tiny BERT WordPiece vocabulary: BERT's specials, the domain words, then single characters
    (and their ## continuations) so any text tokenizes without [UNK] for ASCII."""
    words = ["a", "an", "the", "one", "two", "three", "of", "on", "in", "with", "and", "picture", "photo", "image",
             "moving", "background", "still", "shape", "shapes"]
    words += COLOR_NAMES + SHAPES + [s + "s" for s in SHAPES] + ["left", "right", "up", "down"]
    words += JUNK_WORDS + ["watches", "prizes", "deals"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789") + list(".,_!?'\"-:;/()&#@$%*+=<>[]{}|~`^\\")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for w in words + chars:
        if w not in tokens:
            tokens.append(w)
    for c in "abcdefghijklmnopqrstuvwxyz0123456789":
        tokens.append("##" + c)
    for w in ["##s", "##es"]:
        if w not in tokens:
            tokens.append(w)
    return tokens


def make_blip_processor(folder):
    """BertTokenizer + BlipImageProcessor configured like Salesforce/blip-image-captioning-base
    (bos_token [DEC], additional special token [ENC] as added tokens after vocab.txt), image size BLIP_IMAGE."""
    from transformers import BertTokenizer, BlipProcessor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil
    os.makedirs(folder, exist_ok=True)
    tokens = bert_vocab()
    vocab_path = os.path.join(folder, "vocab.txt")
    with open(vocab_path, "w") as f:
        f.write("\n".join(tokens) + "\n")
    tok = BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True, model_max_length=512)
    tok.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})
    image_processor = BlipImageProcessorPil(size={"height": BLIP_IMAGE, "width": BLIP_IMAGE})
    proc = BlipProcessor(image_processor=image_processor, tokenizer=tok)
    proc.save_pretrained(folder)
    # As in Salesforce/blip-image-captioning-base: [DEC] is the bos token, [ENC] an extra special token.
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "[DEC]", "cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
                   "sep_token": "[SEP]", "unk_token": "[UNK]", "additional_special_tokens": ["[ENC]"]}, f, indent=2)
    return proc


def clip_corpus():
    rng = random.Random(0)
    lines = []
    for _ in range(3000):
        s = random_scene(rng)
        lines.append(positive_text(s, rng))
        lines.append(negative_text(s, rng)[0])
    lines += SPAM * 20
    return lines


def make_clip_processor(folder, num_merges=300):
    """CLIP-format byte-level BPE (256 bytes, 256 bytes+</w>, merges, <|startoftext|>, <|endoftext|>)
    learnt on the domain texts, as tools/clip_reference.py does for the fixtures; CLIPImageProcessor
    with shortest edge == crop == CLIP_IMAGE."""
    from tokenizers import Tokenizer, Regex, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import CLIPProcessor, CLIPTokenizer
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from clip_reference import BOS, CLIP_PATTERN, EOS, bytes_to_unicode
    os.makedirs(folder, exist_ok=True)
    tok = Tokenizer(BPE(end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CLIP_PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    byte_chars = list(bytes_to_unicode().values())
    trainer = trainers.BpeTrainer(vocab_size=512 + num_merges, min_frequency=2, show_progress=False,
                                  initial_alphabet=byte_chars, end_of_word_suffix="</w>")
    tok.train_from_iterator(clip_corpus(), trainer=trainer)
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges][:num_merges]
    vocab_list = byte_chars + [c + "</w>" for c in byte_chars]
    seen = set(vocab_list)
    kept = []
    for a, b in merges:
        if a in seen and b in seen and a + b not in seen:
            kept.append((a, b))
            vocab_list.append(a + b)
            seen.add(a + b)
    vocab_list += [BOS, EOS]
    vocab = {t: i for i, t in enumerate(vocab_list)}
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in kept:
            f.write(f"{a} {b}\n")
    tokenizer = CLIPTokenizer(vocab=vocab, merges=kept, model_max_length=77)
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": CLIP_IMAGE},
                                            crop_size={"height": CLIP_IMAGE, "width": CLIP_IMAGE})
    proc = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    proc.save_pretrained(folder)
    return proc
