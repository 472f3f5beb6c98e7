"""Trains the small demo models that capfilt ships (issue #5): a BLIP captioner, a BLIP ITM/ITC
filter and a CLIP scorer for the procedural shape domain of `capfilt synth`
(Sources/Demo/DemoCorpus.swift), saved with transformers' own classes as ordinary Hugging Face
checkpoint folders:

  models/demo-blip-caption/  BlipForConditionalGeneration + BertTokenizer ([DEC] bos) + BlipImageProcessor
  models/demo-blip-itm/      BlipForImageTextRetrieval (ITM head and ITC projections trained)
  models/demo-clip/          CLIPModel + CLIPTokenizer (byte-level BPE) + CLIPImageProcessor

Training data is rendered here in Python by an exact port of DemoCorpus.render (checked pixel for
pixel against `capfilt synth` PNG stills when --capfilt is given), at 320x240 like the demo videos,
with shapes anywhere along their motion paths and codec-like damage; nothing is stored.

  /work/wt-clip/tools/.venv/bin/python tools/train_demo.py --seed 1000 \
      --capfilt .build-demo/debug/capfilt            # then tools/eval_demo.py

The defaults reproduce the committed BLIP models; the committed CLIP came from
`--only clip --images 4000 --rotate 0` (models/README.md). Runtime with 1 torch thread on the shared
2-core dev machine (other builds running): data ~1 min, captioner ~15 min, filter ~8.5 min, CLIP ~14 min. `--only caption|itm|clip` trains one model (the filter then starts from the saved
captioner's vision encoder); the rendered data is cached under --work.

Deterministic for a seed on one machine (torch CPU; default 1 thread: on a 2-core machine shared with
builds, 2 OpenMP threads were 10-40x slower per step than 1).
"""
import argparse
import json
import math
import os
import random
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_domain import (BLIP_IMAGE, CLIP_IMAGE, attrs, degrade, make_blip_processor, make_clip_processor,
                         negative_text, positive_text, random_scene, render, still_caption)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def check_render(capfilt, work):
    """Our Python renderer must equal DemoCorpus.render: compare every lossless (PNG) still."""
    from PIL import Image
    d = os.path.join(work, "render-check")
    subprocess.run([capfilt, "synth", d, "--videos", "0", "--images", "60", "--seed", "1999", "--size", "320x240",
                    "--no-hostile"], check=True, stdout=subprocess.DEVNULL)
    n = 0
    for line in open(os.path.join(d, "truth.jsonl")):
        r = json.loads(line)
        if r["path"].endswith(".png"):
            a = np.array(Image.open(os.path.join(d, r["path"])).convert("RGB"))
            assert np.array_equal(a, render(r, 0.5)), f"Python render differs from capfilt on {r['path']}"
            n += 1
    log(f"render check: {n} PNG stills from capfilt equal the Python renderer")


def make_data(n, seed, blip_proc, clip_proc, args_rotate=0.1):
    rng = random.Random(seed)
    scenes, images = [], []
    for i in range(n):
        s = random_scene(rng, moving=rng.random() < 0.75)
        t = rng.random()
        img = render(s, t)
        if args_rotate > 0 and rng.random() < args_rotate:
            # A rotated video whose container lost its display matrix (capfilt synth's rotated MKVs)
            # decodes sideways; the scene is still the same scene.
            img = np.ascontiguousarray(np.rot90(img, rng.choice([1, 3])))
        images.append(degrade(img, rng))
        scenes.append(s)
    bpv, cpv = [], []
    for i in range(0, n, 500):
        bpv.append(blip_proc.image_processor(images=images[i:i + 500], return_tensors="pt")["pixel_values"])
        cpv.append(clip_proc.image_processor(images=images[i:i + 500], return_tensors="pt")["pixel_values"])
    return scenes, torch.cat(bpv), torch.cat(cpv)


def lr_at(step, steps, lr, warmup=100):
    if step < warmup:
        return lr * (step + 1) / warmup
    return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def same_scene_targets(scenes_a, scenes_b):
    a = [attrs(s) for s in scenes_a]
    b = [attrs(s) for s in scenes_b]
    m = torch.tensor([[float(x == y) for y in b] for x in a])
    return m


def blip_config(vocab_size, tok):
    from transformers import BlipConfig
    text = dict(vocab_size=vocab_size, hidden_size=128, intermediate_size=256, num_hidden_layers=3,
                num_attention_heads=4, max_position_embeddings=512, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.sep_token_id, sep_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id,
                projection_dim=128)
    vision = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
                  image_size=BLIP_IMAGE, patch_size=16, projection_dim=128, initializer_range=0.02)
    return BlipConfig(text_config=text, vision_config=vision, projection_dim=128, image_text_hidden_size=64)


def train_captioner(args, proc, scenes, pv):
    from transformers import BlipForConditionalGeneration
    tok = proc.tokenizer
    torch.manual_seed(args.seed)
    model = BlipForConditionalGeneration(blip_config(len(tok), tok))
    texts = sorted({still_caption(s) for s in scenes})
    enc = tok(texts, padding="max_length", max_length=12, return_tensors="pt")
    index = {t: i for i, t in enumerate(texts)}
    ids_all = enc["input_ids"].clone()
    ids_all[:, 0] = tok.bos_token_id  # BLIP's decoder starts from [DEC], as generate() does
    mask_all = enc["attention_mask"]
    cap_idx = torch.tensor([index[still_caption(s)] for s in scenes])
    opt = torch.optim.AdamW(model.parameters(), lr=args.caption_lr, weight_decay=0.05)
    g = torch.Generator().manual_seed(args.seed)
    model.train()
    t0 = time.time()
    for step in range(args.caption_steps):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step, args.caption_steps, args.caption_lr)
        b = torch.randint(0, len(scenes), (args.batch,), generator=g)
        ids, mask = ids_all[cap_idx[b]], mask_all[cap_idx[b]]
        labels = ids.masked_fill(mask == 0, -100)
        out = model(pixel_values=pv[b], input_ids=ids, attention_mask=mask, labels=labels)
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == args.caption_steps - 1:
            log(f"captioner step {step} loss {out.loss.item():.4f} ({time.time() - t0:.0f}s)")
    model.eval()
    return model


def train_itm(args, proc, scenes, pv, vision_state):
    from transformers import BlipForImageTextRetrieval
    tok = proc.tokenizer
    torch.manual_seed(args.seed + 1)
    model = BlipForImageTextRetrieval(blip_config(len(tok), tok))
    if vision_state is not None:
        model.vision_model.load_state_dict(vision_state)  # CapFilt: filter and captioner share a start
    # CapFilt starts the filter from the same pretrained vision encoder as the captioner. To fit
    # CPU time we keep its first layers frozen (their outputs are computed once) and fine-tune the
    # last --itm-vision-layers layers, the post layer norm, the text encoder and both heads.
    K = args.itm_vision_layers if vision_state is not None else len(model.vision_model.encoder.layers)
    layers = model.vision_model.encoder.layers
    frozen = len(layers) - K
    if frozen > 0:
        for p in list(model.vision_model.embeddings.parameters()) + [p for l in layers[:frozen] for p in l.parameters()]:
            p.requires_grad_(False)
        with torch.no_grad():
            feats = []
            for i in range(0, len(pv), 256):
                h = model.vision_model.embeddings(pv[i:i + 256])
                for l in layers[:frozen]:
                    h = l(h)
                feats.append(h)
            feats = torch.cat(feats)
        log(f"itm: vision layers 0..{frozen - 1} frozen (features {tuple(feats.shape)}), {K} trained")

    def vision(b):
        if frozen > 0:
            h = feats[b]
        else:
            h = model.vision_model.embeddings(pv[b])
        for l in layers[max(frozen, 0):]:
            h = l(h)
        return model.vision_model.post_layernorm(h)

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.05)
    rng = random.Random(args.seed + 1)
    g = torch.Generator().manual_seed(args.seed + 1)
    model.train()
    t0 = time.time()
    B = args.batch
    for step in range(args.itm_steps):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step, args.itm_steps, args.lr)
        b = torch.randint(0, len(scenes), (B,), generator=g).tolist()
        sc = [scenes[i] for i in b]
        pos = [positive_text(s, rng) for s in sc]
        neg = [negative_text(s, rng)[0] for s in sc]
        image_embeds = vision(b)
        # ITM: every image with one right and one wrong text.
        enc = tok(pos + neg, padding=True, truncation=True, max_length=40, return_tensors="pt")
        img2 = torch.cat([image_embeds, image_embeds])
        h = model.text_encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                               encoder_hidden_states=img2,
                               encoder_attention_mask=torch.ones(img2.shape[:2], dtype=torch.long)).last_hidden_state
        itm_logits = model.itm_head(h[:, 0, :])
        itm_labels = torch.cat([torch.ones(B, dtype=torch.long), torch.zeros(B, dtype=torch.long)])
        loss_itm = F.cross_entropy(itm_logits, itm_labels)
        # ITC: unimodal text encoder, contrast against the batch (same attributes count as positives)
        # and against each image's hard negative.
        th = model.text_encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        tf = F.normalize(model.text_proj(th[:, 0, :]), dim=-1)
        vf = F.normalize(model.vision_proj(image_embeds[:, 0, :]), dim=-1)
        sim = vf @ tf.t() / args.temp  # B x 2B
        tgt = torch.cat([same_scene_targets(sc, sc), torch.zeros(B, B)], dim=1)
        loss_i2t = -(F.log_softmax(sim, dim=1) * (tgt / tgt.sum(1, keepdim=True))).sum(1).mean()
        simt = sim[:, :B].t()
        tt = same_scene_targets(sc, sc)
        loss_t2i = -(F.log_softmax(simt, dim=1) * (tt / tt.sum(1, keepdim=True))).sum(1).mean()
        loss = loss_itm + 0.5 * (loss_i2t + loss_t2i)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == args.itm_steps - 1:
            acc = (itm_logits.argmax(1) == itm_labels).float().mean().item()
            log(f"itm step {step} itm {loss_itm.item():.4f} acc {acc:.3f} itc {(loss_i2t + loss_t2i).item() / 2:.4f} "
                f"({time.time() - t0:.0f}s)")
    model.eval()
    return model


def train_clip(args, proc, scenes, pv):
    from transformers import CLIPConfig, CLIPModel
    tok = proc.tokenizer
    torch.manual_seed(args.seed + 2)
    bos, eos = tok.convert_tokens_to_ids("<|startoftext|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    text = dict(vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4,
                max_position_embeddings=77, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos, projection_dim=64)
    vision = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
                  image_size=CLIP_IMAGE, patch_size=16, projection_dim=64)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=64))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    rng = random.Random(args.seed + 2)
    g = torch.Generator().manual_seed(args.seed + 2)
    model.train()
    t0 = time.time()
    B = args.batch
    for step in range(args.clip_steps):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step, args.clip_steps, args.lr)
        b = torch.randint(0, len(scenes), (B,), generator=g).tolist()
        sc = [scenes[i] for i in b]
        pos = [positive_text(s, rng) for s in sc]
        neg = [negative_text(s, rng)[0] for s in sc]
        enc = tok(pos + neg, padding=True, truncation=True, max_length=77, return_tensors="pt")
        # transformers 5: get_*_features return model outputs whose pooler_output is the projection.
        tf = model.get_text_features(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).pooler_output
        tf = F.normalize(tf, dim=-1)
        vf = F.normalize(model.get_image_features(pixel_values=pv[b]).pooler_output, dim=-1)
        scale = model.logit_scale.exp().clamp(max=100)
        sim = scale * vf @ tf.t()
        tgt = torch.cat([same_scene_targets(sc, sc), torch.zeros(B, B)], dim=1)
        loss_i2t = -(F.log_softmax(sim, dim=1) * (tgt / tgt.sum(1, keepdim=True))).sum(1).mean()
        tt = same_scene_targets(sc, sc)
        loss_t2i = -(F.log_softmax(sim[:, :B].t(), dim=1) * (tt / tt.sum(1, keepdim=True))).sum(1).mean()
        loss = 0.5 * (loss_i2t + loss_t2i)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == args.clip_steps - 1:
            log(f"clip step {step} loss {loss.item():.4f} scale {scale.item():.1f} ({time.time() - t0:.0f}s)")
    model.eval()
    return model


def save(model, proc, proc_dir, folder):
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    # Like Hub checkpoints: preprocessor_config.json + tokenizer files (no processor_config.json).
    proc.image_processor.save_pretrained(folder)
    proc.tokenizer.save_pretrained(folder)
    # transformers 5 writes only tokenizer.json; Hub checkpoints (and capfilt's Swift tokenizers)
    # also carry the slow-tokenizer files, so copy them from where the processor was built.
    import shutil
    for name in ("vocab.txt", "vocab.json", "merges.txt", "special_tokens_map.json"):
        src = os.path.join(proc_dir, name)
        if os.path.exists(src):
            shutil.copy(src, os.path.join(folder, name))
    size = os.path.getsize(os.path.join(folder, "model.safetensors"))
    log(f"saved {folder} ({size / 1e6:.2f} MB weights)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--out", default=os.path.join(ROOT, "models"))
    ap.add_argument("--work", default=os.path.join(ROOT, "out", "demo-train"))
    ap.add_argument("--capfilt", help="capfilt binary, to check the Python renderer against DemoCorpus")
    ap.add_argument("--images", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-4, help="ITM and CLIP learning rate")
    ap.add_argument("--caption-lr", type=float, default=1e-3)
    ap.add_argument("--temp", type=float, default=0.07)
    ap.add_argument("--caption-steps", type=int, default=2000)
    ap.add_argument("--itm-steps", type=int, default=1000)
    ap.add_argument("--clip-steps", type=int, default=1500)
    ap.add_argument("--itm-vision-layers", type=int, default=4, help="last vision layers the filter fine-tunes")
    ap.add_argument("--rotate", type=float, default=0.1, help="share of training pictures turned sideways")
    ap.add_argument("--only-data", action="store_true", help="render and cache the training data, then stop")
    ap.add_argument("--only", choices=["caption", "itm", "clip"], action="append")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads; 1 is much faster than 2 on a busy 2-core machine (OpenMP waits)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    t_start = time.time()
    os.makedirs(args.work, exist_ok=True)
    if args.capfilt:
        check_render(args.capfilt, args.work)
    only = set(args.only or ["caption", "itm", "clip"])
    blip_proc = make_blip_processor(os.path.join(args.work, "blip-processor"))
    clip_proc = make_clip_processor(os.path.join(args.work, "clip-processor"))
    cache = os.path.join(args.work, f"data-{args.seed}-{args.images}-r{args.rotate}.pt")
    if os.path.exists(cache):
        scenes, bpv, cpv = torch.load(cache)
    else:
        scenes, bpv, cpv = make_data(args.images, args.seed, blip_proc, clip_proc, args.rotate)
        torch.save((scenes, bpv, cpv), cache)
    if args.only_data:
        return
    log(f"data: {len(scenes)} images, blip {tuple(bpv.shape)}, clip {tuple(cpv.shape)}")
    vision_state = None
    if "caption" in only:
        cap = train_captioner(args, blip_proc, scenes, bpv)
        save(cap, blip_proc, os.path.join(args.work, "blip-processor"), os.path.join(args.out, "demo-blip-caption"))
        vision_state = cap.vision_model.state_dict()
    elif "itm" in only:
        from transformers import BlipForConditionalGeneration
        p = os.path.join(args.out, "demo-blip-caption")
        if os.path.isdir(p):
            vision_state = BlipForConditionalGeneration.from_pretrained(p).vision_model.state_dict()
    if "itm" in only:
        itm = train_itm(args, blip_proc, scenes, bpv, vision_state)
        save(itm, blip_proc, os.path.join(args.work, "blip-processor"), os.path.join(args.out, "demo-blip-itm"))
    if "clip" in only:
        clip = train_clip(args, clip_proc, scenes, cpv)
        save(clip, clip_proc, os.path.join(args.work, "clip-processor"), os.path.join(args.out, "demo-clip"))
    log(f"done in {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
