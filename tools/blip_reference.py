"""Shared helpers for the BLIP reference scripts (fixtures, full-size check, bench).

Reference implementation: transformers 5.24.0 (tools/requirements.txt) BlipForConditionalGeneration,
BlipForImageTextRetrieval, BertTokenizer (what BlipProcessor loads) and BlipImageProcessorPil (the
Pillow-based processor; torchvision is deliberately not installed).
"""
import os
import random
import unicodedata

import numpy as np
import torch
from transformers import BertTokenizer, BlipConfig
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy
from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

WORDS = """a an the of in on at to with and or but is are was were be been being has have had do does did
it its this that these those there here he she they we you i me him her them us my your his their our
cat cats dog dogs man men woman women child children person people boy girl baby car cars bus truck train
bike bicycle motorcycle boat plane airplane street road city building house room kitchen table chair sofa
couch bed window door wall floor tree trees grass field park beach sea ocean water river lake mountain snow
sky cloud clouds sun light night day morning evening sunset red blue green yellow white black brown orange
pink purple gray grey small large big little young old tall long short new open close front back top side
sitting standing walking running playing riding holding eating looking lying flying parked driving wearing
photo picture image view close-up group couple pair two three four five several many some one other next
near over under behind beside between through down up out into onto across along around inside outside
food pizza plate bowl cup glass bottle fruit banana apple sandwich cake flower flowers vase book phone
computer laptop screen television clock sign light lights umbrella bag hat shirt jacket dress shoes ball
frisbee kite surfboard skateboard skis board game team player players crowd horse horses cow cows sheep
bird birds elephant elephants giraffe giraffes zebra zebras bear bears animal animals dark bright sunny
play run walk ride sit stand look hold eat fly drive wear make take give go come see watch wait
caf re un in dis over under pre post anti non
""".split()
SUFFIXES = ["s", "es", "ing", "ed", "er", "ers", "est", "ly", "tion", "ness", "ment", "ful", "less", "able", "y", "en"]
EXTRA_CHARS = ("ßøæœåðþłđħ" "αβγδεζηθικλμνξοπρστυφχψως" "абвгдежзийклмнопрстуфхцчшщъыьэюя"
               "日本語中文字测试标点的时候我们" "のテキストカタ" "ñçé")  # accented ones vanish after stripping


def build_vocab(layout):
    """A real-format BERT vocab.txt: specials, characters (+ '##' forms), words and suffix pieces.

    layout "tiny": [PAD] [UNK] [CLS] [SEP] [MASK] at 0..4 (so the Swift side cannot assume BERT's ids).
    layout "bert": bert-base-uncased's special positions ([PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102,
                   [MASK]=103) padded with [unusedN] to 30522 entries, so [DEC] becomes 30522 as on the hub.
    Hangul, Devanagari, Arabic and emoji are left out on purpose: they must become [UNK].
    """
    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()] + list(EXTRA_CHARS)
    body = []
    for c in chars:
        body.append(c)
    for c in chars:
        if c.isalnum():
            body.append("##" + c)
    body += ["##" + s for s in SUFFIXES]
    body += WORDS
    body += ["1990", "2000", "100", "##00", "##000"]
    seen, uniq = set(), []
    for t in body:
        if t not in seen:
            seen.add(t)
            uniq.append(t)
    if layout == "tiny":
        return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + uniq
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"] + uniq
    i = 99
    while len(vocab) < 30522:
        vocab.append(f"[unused{i}]")
        i += 1
    return vocab


def write_tokenizer(folder, vocab):
    """vocab.txt + tokenizer_config.json as BlipProcessor.save_pretrained writes them: BertTokenizer with
    [DEC] as bos_token and [ENC] as an extra special token, appended after the vocabulary."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "vocab.txt")
    with open(path, "w", encoding="utf-8") as f:
        for t in vocab:
            f.write(t + "\n")
    tok = BertTokenizer.from_pretrained(folder) if os.path.exists(os.path.join(folder, "tokenizer_config.json")) \
        else BertTokenizer(vocab={t: i for i, t in enumerate(vocab)})
    tok.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})
    tok.model_max_length = 512
    # tokenizer.json (kept) records the ids of the added [DEC]/[ENC] tokens, as on the hub.
    tok.save_pretrained(folder)
    return load_tokenizer(folder)


def load_tokenizer(folder):
    return BertTokenizer.from_pretrained(folder)


def load_legacy_tokenizer(folder):
    return BertTokenizerLegacy.from_pretrained(folder)


def blip_config(vocab_size, bos, sep, pad, *, text, vision, image_text_hidden_size=256):
    text = dict(text, vocab_size=vocab_size, bos_token_id=bos, sep_token_id=sep, pad_token_id=pad)
    return BlipConfig(text_config=text, vision_config=vision, image_text_hidden_size=image_text_hidden_size)


def tiny_config(vocab_size, bos, sep, pad, image_size=32, patch=8):
    return blip_config(
        vocab_size, bos, sep, pad,
        text=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  max_position_embeddings=64),
        vision=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                    image_size=image_size, patch_size=patch),
        image_text_hidden_size=16)


def base_config(vocab_size, bos, sep, pad):
    """Salesforce/blip-image-captioning-base and blip-itm-base-coco's config.json values, written out
    by hand (BlipConfig()'s defaults differ: 8 text heads, vision initializer_range 1e-10)."""
    return blip_config(
        vocab_size, bos, sep, pad,
        text=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                  max_position_embeddings=512, hidden_act="gelu", layer_norm_eps=1e-12, initializer_range=0.02,
                  encoder_hidden_size=768, projection_dim=768, use_cache=True, is_decoder=True),
        vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                    image_size=384, patch_size=16, hidden_act="gelu", layer_norm_eps=1e-5,
                    initializer_range=0.02, projection_dim=512),
        image_text_hidden_size=256)


def processor(size):
    return BlipImageProcessorPil(size={"height": size, "width": size})


def randomize(model, seed, sep_bias=None, sep=None):
    """Weights large enough that every layer visibly changes its input (transformers' init makes
    layers near-identity, which would let porting errors hide)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name.lower() and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif "embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = int(np.prod(p.shape[1:]))
                p.copy_(1.3 / np.sqrt(fan_in) * torch.randn(p.shape, generator=g))
        if sep_bias is not None:
            # With tied embeddings and the scales above a random decoder mostly repeats its last token;
            # weaker word and stronger position embeddings and a sharper head transform give varied
            # captions, and a [SEP] bias makes them end at different lengths (early stopping paths).
            emb = model.text_decoder.bert.embeddings
            emb.word_embeddings.weight.mul_(0.3)
            emb.position_embeddings.weight.mul_(4.0)
            model.text_decoder.cls.predictions.transform.dense.weight.mul_(3.0)
            model.text_decoder.cls.predictions.bias[sep] += sep_bias


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
    img += rng.normal(0, 12, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def tokenizer_cases(rng):
    cases = [
        "", " ", "   \t\n  ", "a", "A", "hello world", "Hello World!", "HELLO, WORLD!!!", "a picture of",
        "A picture of a cat sitting on a couch.", "two dogs playing in the snow", "it's", "don't stop", "rock'n'roll",
        "!!!???...", "hello,,,world", "...and then---he left;;;", "(parens) [brackets] {braces} <angles>",
        "a+b=c; x*y/z % 5 ^ 2 ~ `tick` | pipe \\ backslash", "@user #hashtag $100 &co *star* _under_",
        "12345", "3.14159", "1,000,000", "2024-01-31", "phone: +1 (555) 123-4567", "v1.2.3-beta4", "0x1F",
        "½ ¾ ² ³ ①②", "Café déjà vu", "naïve résumé", "ÅNGSTRÖM", "e\u0301cole", "Cafe\u0301", "ﬁne ﬂour",
        "Ⅻ Ⅳ", "🐶🐱 dogs & cats 😀😀", "👩‍👩‍👧‍👦 family", "❤️ love", "日本語のテキスト", "中文测试，标点。",
        "我们的时候", "한국어", "हिन्दी में", "مرحبا", "ΟΔΟΣ οδός", "İstanbul", "Straße", "ßøæœ ÆØ", "Łódź",
        "tab\there", "new\nline", "carriage\r\nreturn", "nbsp\u00a0space", "ideographic\u3000space",
        "zero\u200bwidth", "em\u2003space", "soft\u00adhyphen", "bell\u0007char", "nul\u0000char",
        "repl\ufffdchar", "line\u2028sep", "next\u0085line", "https://example.com/path?q=1&r=2#frag",
        "user@example.com", "snake_case_name camelCaseName", "ALL CAPS WITH NUMBERS 42 AND 7",
        "mixed123numbers456", "x²+y²=z²", "™ © ® § ¶ † ‡ • …", "“quoted” ‘single’ «guillemets» „low“",
        "en–dash em—dash", "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３", "Ǆemal ǅ ǆ",
        "a" * 99, "b" * 100, "c" * 101, "supercalifragilisticexpialidocious" * 3,
        "playing riders walked bigger quickly unopened", "photographers photographing photographs",
        "the cat sat on the mat " * 10, "🙂" * 20, "!?" * 30, "[CLS] hello [SEP]", "[DEC] a picture",
        "[UNK] [PAD] [MASK]", "[cls] lower", "x[SEP]y",
    ]
    words = WORDS + ["zebra", "café", "naïve", "über", "东京", "qwxz", "photograph", "riding", "Birds"]
    for _ in range(60):
        n = rng.randint(1, 12)
        s = " ".join(rng.choice(words) for _ in range(n))
        if rng.random() < 0.5:
            s = s.capitalize() + rng.choice([".", "!", "?", "...", "", ","])
        cases.append(s)
    alphabet = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + list(" \t\n.,;:!?'\"-()[]{}#$%&") +
                list("éèêëàâäôöûüçñßøåæœÉÀÖÜ") + list("αβγδΩπσςжзийк") + list("日本中文字") +
                ["😀", "🎉", "👍", "\u0301", "\u200d", "\u00a0", "\u3000", "、", "。"])
    for _ in range(80):
        n = rng.randint(1, 50)
        cases.append("".join(rng.choice(alphabet) for _ in range(n)))
    return cases
