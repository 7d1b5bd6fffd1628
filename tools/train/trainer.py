"""ConTEXTual Net 3D, scaled for CPU (PAPER.md section 4; issue 9): trains on a dataset built by
`petground-train dataset` and exports models/grounding.onnx per the model contract.

Network: 3D residual U-Net (one residual block per level, instance norm, LeakyReLU 0.01),
filters F = 8/16/32/64/128 by default (strides 1/2/2/2/2), transposed-conv upsampling; after the
transposed conv of the three deepest of the four decoder levels (64, 32, 16 channels), single-head
cross-attention from image voxels (queries) to the frozen MiniLM token embeddings (keys/values,
padding masked), applied as `vision * tanh(attn)`, then the skip concat; 2-class softmax.
Loss Dice (foreground) + CE (an empty target, a negative below: --neg-weight x the mean of the
8 highest foreground probabilities instead of Dice); AdamW (lr 1e-3: the paper's 5e-5 is for a 20x larger net and
250 epochs; a small net on few steps needs the larger rate), wd 1e-5, linear warmup then cosine;
no flips (left/right matter); seed fixed. Patches: Z windows of --crop-z slices (full Y, X) that
contain the lesion at a random offset; the net is fully convolutional, so export and inference
take the whole padded volume. With --group K, each step is instead one study's whole volume with
up to K of its sentences: the encoder runs once, and the sentences compete for the same image, so
the loss rewards the described lesion rather than any hot spot (and there is no crop/inference
mismatch in context or instance-norm statistics). --text-aug P trains a pair on its numberless
variant (strip_scaffold) with probability P, for findings that never had numbers. --neg-swap Q
(with --group) teaches the side word: a one-sided sentence whose study has no lesion at the
other side's site is, with probability Q, trained with "left"/"right" exchanged and an empty
target; --neg-site R does the same for the lung lobe, liver segment or vertebral level (a sibling
site the study has no lesion at), the confusions left after side words are learned.
Checkpoints every --ckpt-every steps; --resume continues. Uses CUDA when available."""
import argparse
import csv
import json
import math
import os
import random
import re
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import textenc


_SUV = r"(?:SUV\s*max(?:imum)?|max(?:imum)?\s+SUV|SUV)(?:\s+of)?\s*[:=]?\s*"
_IMG = r"(?:\(\s*)?(?:series\s+\d+,?\s+)?(?:axial\s+)?(?:image|img|slice|im)\s*(?:\)\s*)?"


def strip_scaffold(text):
    """The finding text (numbers already cut, CONTRACT section 4) with its emptied SUV and image
    phrases removed as a whole: what a sentence that never had numbers looks like, which is
    what the node sends the model for such findings. Used as text augmentation (--text-aug)."""
    s = re.sub(r"(?:with\s+|,\s*)?" + _SUV
               + r"(?=[,.;)]|\s+(?:on|series|image|img|im|slice|\(|$))", " ", text)
    s = re.sub(r"\bon\s+(?:image|img|im|slice)\s+(?=[a-z])", " ", s)
    s = re.sub(r"(?:,\s*|\bon\s+)?" + _IMG + r"(?=[,.;)]|$)", " ", s)
    s = re.sub(r"\(\s*\)", " ", s)
    s = re.sub(r"\s+([,.;)])", r"\1", s)
    s = re.sub(r"([,;])\s*(?=[,.;)])", "", s)
    return re.sub(r"\s{2,}", " ", s).strip()


def swap_sides(text):
    """`text` with "left" and "right" exchanged, or None unless exactly one side is named."""
    words = re.findall(r"[A-Za-z]+", text.lower())
    if ("left" in words) == ("right" in words):
        return None
    swap = {"left": "right", "right": "left", "Left": "Right", "Right": "Left"}
    return re.sub(r"\b(left|right|Left|Right)\b", lambda m: swap[m.group(1)], text)


def swapped_site(site):
    """The site code of the other side (left_axillary <-> right_axillary, lul <-> rul, ...),
    or the site itself when it has no side."""
    for a, b in (("left_", "right_"), ("right_", "left_")):
        if site.startswith(a):
            return b + site[len(a):]
    if len(site) == 3 and site[0] in "lr" and site[2] == "l":
        return ("r" if site[0] == "l" else "l") + site[1:]
    return site


_LOBE = re.compile(r"\b(right|left)\s+(upper|middle|lower)\s+lobe\b", re.I)
_SEGMENT = re.compile(r"\b(segment)\s+([2-8])\b", re.I)
_LEVEL = re.compile(r"\b([TL])(\d{1,2})\b")
LOBES = ("rul", "rml", "rll", "lul", "lll")
SEGMENTS = tuple(f"liver_s{n}" for n in range(4, 9))
LEVELS = ("t6", "t10", "l3")


def _cased(word, like):
    return word.capitalize() if like[:1].isupper() else word


def sibling_sites(text, site):
    """Counterfactual texts for --neg-site: `text` with its lung lobe, liver segment or
    vertebral level changed to each sibling site, as [(text, site code)]. These are the
    confusions the model makes when it knows the organ but not the place in it."""
    out = []
    if site in LOBES and len(_LOBE.findall(text)) == 1:
        side = {"r": "right", "l": "left"}
        part = {"u": "upper", "m": "middle", "l": "lower"}
        for code in LOBES:
            if code != site:
                out.append((_LOBE.sub(lambda m: f"{_cased(side[code[0]], m.group(1))} "
                                      f"{part[code[1]]} lobe", text), code))
    elif site in SEGMENTS and len(_SEGMENT.findall(text)) == 1:
        for code in SEGMENTS:
            if code != site:
                out.append((_SEGMENT.sub(lambda m: f"{m.group(1)} {code[-1]}", text), code))
    elif site in LEVELS and len(_LEVEL.findall(text)) == 1:
        for code in LEVELS:
            if code != site:
                out.append((_LEVEL.sub(code.upper(), text), code))
    return out


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.c1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False)
        self.n1 = nn.InstanceNorm3d(cout, affine=True)
        self.c2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.n2 = nn.InstanceNorm3d(cout, affine=True)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False),
                                      nn.InstanceNorm3d(cout, affine=True))

    def forward(self, x):
        y = F.leaky_relu(self.n1(self.c1(x)), 0.01)
        y = self.n2(self.c2(y))
        s = x if self.skip is None else self.skip(x)
        return F.leaky_relu(y + s, 0.01)


class CrossAttention(nn.Module):
    """Image voxels attend to text tokens; output = vision * tanh(attn) (no residual, no norm)."""

    def __init__(self, c, text_dim):
        super().__init__()
        self.q = nn.Conv3d(c, c, 1)
        self.k = nn.Linear(text_dim, c)
        self.v = nn.Linear(text_dim, c)
        self.scale = 1.0 / math.sqrt(c)

    def forward(self, x, text, mask):
        b, c = x.shape[0], x.shape[1]
        q = self.q(x).flatten(2).transpose(1, 2)            # [B, N, C]
        k = self.k(text)                                    # [B, L, C]
        v = self.v(text)
        scores = torch.matmul(q, k.transpose(1, 2)) * self.scale  # [B, N, L]
        scores = scores + (1.0 - mask)[:, None, :] * -1e4   # padding tokens get ~0 weight
        attn = torch.matmul(torch.softmax(scores, dim=-1), v)     # [B, N, C]
        attn = attn.transpose(1, 2).reshape(x.shape)
        return x * torch.tanh(attn)


class ConTEXTualNet3D(nn.Module):
    def __init__(self, filters=(16, 32, 64, 128), text_dim=textenc.DIM, attn_levels=3):
        super().__init__()
        f = filters
        self.enc = nn.ModuleList([ResBlock(2, f[0])] +
                                 [ResBlock(f[i - 1], f[i], 2) for i in range(1, len(f))])
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        self.attn = nn.ModuleList()
        n_dec = len(f) - 1
        for j, i in enumerate(reversed(range(1, len(f)))):
            self.up.append(nn.ConvTranspose3d(f[i], f[i - 1], 2, 2))
            self.dec.append(ResBlock(2 * f[i - 1], f[i - 1]))
            # Decoder level j = 0 is the deepest.
            self.attn.append(CrossAttention(f[i - 1], text_dim) if j < attn_levels else None)
        self.head = nn.Conv3d(f[0], 2, 1)
        self.n_dec = n_dec

    def encode(self, image):
        skips = []
        x = image
        for blk in self.enc:
            x = blk(x)
            skips.append(x)
        return skips

    def forward(self, image, text, mask, repeat=1):
        """`repeat` > 1: one image, `repeat` sentences (text/mask batch = repeat): the encoder
        runs once and its features are shared by every sentence's decoder pass."""
        skips = self.encode(image)
        if repeat > 1:
            skips = [s.expand(repeat, *s.shape[1:]) for s in skips]
        x = skips.pop()
        for up, dec, att in zip(self.up, self.dec, self.attn):
            x = up(x)
            if att is not None:
                x = att(x, text, mask)
            x = dec(torch.cat([x, skips.pop()], 1))
        return self.head(x)  # logits [B, 2, Z, Y, X]


class Exported(nn.Module):
    """The contract's interface: prob = softmax(logits)[:, 1:2]."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image, text, text_mask):
        return torch.softmax(self.net(image, text, text_mask), dim=1)[:, 1:2]


NEG_TOPK = 8  # ~4 mL at 8 mm: the size of a small lesion on the model grid


def dice_ce(logits, target, neg_weight=0.5):
    """Dice (foreground) + CE. A sample with an empty target (a --neg-swap/--neg-site
    negative) has a Dice loss of ~1 whatever the prediction (no gradient), so it is scored by
    `neg_weight` x the mean of its NEG_TOPK highest foreground probabilities instead. The weight
    must stay small: for a lesion the model cannot yet tell its positive and negative texts
    apart on, Dice(p) + r*w*p (r = negatives per positive) is lowest at p = sqrt(2/(r*w)) - 1, a
    hedge below the 0.5 threshold when r*w > 0.5 (seen with w = 1: recall fell to 0.40)."""
    ce = F.cross_entropy(logits, target.long())
    p = torch.softmax(logits, 1)[:, 1]
    t = target.float()
    dims = tuple(range(1, t.ndim))
    inter = (p * t).sum(dims)
    dice = 1 - (2 * inter + 1e-5) / (p.sum(dims) + t.sum(dims) + 1e-5)
    empty = t.sum(dims) == 0
    if bool(empty.any()):
        peak = p.flatten(1).topk(NEG_TOPK, dim=1).values.mean(1)
        dice = torch.where(empty, neg_weight * peak, dice)
    return dice.mean() + ce, dice.mean().item(), ce.item()


class Data:
    def __init__(self, root, pairs, crop_z, texts, text_aug=0.0, rng=None, neg_swap=0.0,
                 neg_site=0.0):
        self.root = Path(root)
        self.pairs = pairs
        self.crop_z = crop_z
        self.texts = texts
        self.images = {}
        self.text_aug = text_aug
        self.neg_swap = neg_swap
        self.neg_site = neg_site
        self.rng = rng or random.Random(0)
        self.sites = {}
        for p in pairs:
            self.sites.setdefault(p["study"], set()).add(p["site"])

    def negative(self, p):
        """With probability --neg-swap, a one-sided pair whose study has no lesion at the
        other side's site becomes a negative: the side-swapped text with an empty target.
        Otherwise, with probability --neg-site, a lobe/segment/level pair becomes one with a
        sibling site the study has no lesion at (sibling_sites)."""
        if self.neg_swap and self.rng.random() < self.neg_swap:
            other = swapped_site(p["site"])
            swapped = swap_sides(p["text"])
            if swapped is not None and other != p["site"] and other not in self.sites[p["study"]]:
                return self.texts[swapped]
        if self.neg_site and self.rng.random() < self.neg_site:
            free = [t for t, code in sibling_sites(p["text"], p["site"])
                    if code not in self.sites[p["study"]]]
            if free:
                return self.texts[self.rng.choice(free)]
        return None

    def text(self, p):
        """The pair's text, or with probability --text-aug its numberless variant."""
        if self.text_aug and self.rng.random() < self.text_aug:
            return self.texts[strip_scaffold(p["text"])]
        return self.texts[p["text"]]

    def image(self, rel):
        if rel not in self.images:  # float16 in memory: ~2.4 MB per study
            self.images[rel] = np.load(self.root / rel).astype(np.float16)
        return self.images[rel]

    def sample(self, p, rng, crop=True):
        img = self.image(p["image"])
        lab = np.load(self.root / p["label"])
        z = img.shape[1]
        if crop and self.crop_z < z:
            zs = np.nonzero(lab.any(axis=(1, 2)))[0]
            lo = max(0, int(zs.max()) - self.crop_z + 1)
            hi = min(int(zs.min()), z - self.crop_z)
            z0 = rng.randint(lo, max(lo, hi))
            img = img[:, z0:z0 + self.crop_z]
            lab = lab[z0:z0 + self.crop_z]
        tok, mask = self.text(p)
        return img.astype(np.float32), lab, tok, mask

    def batch(self, idx, rng, crop=True):
        items = [self.sample(self.pairs[i], rng, crop) for i in idx]
        return [torch.from_numpy(np.stack(x)) for x in zip(*items)]

    def group(self, idx):
        """One study's whole volume [1, 2, Z, Y, X] with several of its sentences: labels
        [K, Z, Y, X], tokens [K, L, D], masks [K, L]. The sentences compete for the same image,
        so the loss rewards picking the described lesion, not any hot spot."""
        img = self.image(self.pairs[idx[0]]["image"]).astype(np.float32)[None]
        labs, enc = [], []
        for i in idx:
            p = self.pairs[i]
            lab = np.load(self.root / p["label"])
            neg = self.negative(p)
            if neg is not None:
                lab = np.zeros_like(lab)
            labs.append(lab)
            enc.append(neg if neg is not None else self.text(p))
        labs = np.stack(labs)
        toks = np.stack([e[0] for e in enc])
        masks = np.stack([e[1] for e in enc])
        return [torch.from_numpy(x) for x in (img, labs, toks, masks)]


def study_groups(pairs, k, rng):
    """One epoch of steps: every pair once, grouped by study, at most `k` per step."""
    by_study = {}
    for i, p in enumerate(pairs):
        by_study.setdefault(p["study"], []).append(i)
    steps = []
    for idx in by_study.values():
        idx = idx[:]
        rng.shuffle(idx)
        steps += [idx[j:j + k] for j in range(0, len(idx), k)]
    rng.shuffle(steps)
    return steps


def lr_at(step, base, warmup, total, time_frac=0.0):
    """Linear warmup, then cosine to 0 over the steps -- or over the time limit when that ends
    the run first (`time_frac` = elapsed / limit), so a time-boxed run still anneals."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = max((step - warmup) / max(1, total - warmup), time_frac)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def export(net, path, device):
    net = net.to("cpu").eval()
    model = Exported(net).eval()
    z, y, x = 64, 64, 64
    args = (torch.zeros(1, 2, z, y, x), torch.zeros(1, textenc.L, textenc.DIM),
            torch.ones(1, textenc.L))
    d = torch.export.Dim
    dyn = {"image": {2: 16 * d("z16", min=1, max=64), 3: 16 * d("y16", min=1, max=64),
                     4: 16 * d("x16", min=1, max=64)},
           "text": None, "text_mask": None}
    prog = torch.onnx.export(model, args, dynamo=True, opset_version=17,
                             input_names=["image", "text", "text_mask"], output_names=["prob"],
                             dynamic_shapes=dyn)
    prog.save(str(path))
    net.to(device)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=1e-5)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--crop-z", type=int, default=32)
    ap.add_argument("--group", type=int, default=0,
                    help="K > 0: each step is one study's whole volume with up to K of its "
                         "sentences (encoder run once); --batch and --crop-z are then unused")
    ap.add_argument("--filters", default="8,16,32,64,128")
    ap.add_argument("--text-aug", type=float, default=0.0,
                    help="probability of training a pair on its numberless text variant")
    ap.add_argument("--neg-swap", type=float, default=0.0,
                    help="with --group: probability that a one-sided pair is trained as a "
                         "negative (side-swapped text, empty target) when its study has no "
                         "lesion on the other side")
    ap.add_argument("--neg-site", type=float, default=0.0,
                    help="with --group: probability that a lung-lobe, liver-segment or "
                         "vertebral-level pair is trained as a negative (a sibling site the "
                         "study has no lesion at, empty target)")
    ap.add_argument("--neg-weight", type=float, default=0.5,
                    help="loss weight of a negative's peak probability (see dice_ce)")
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--encoder-dir", default=None)
    ap.add_argument("--export-only", action="store_true", help="export the last checkpoint")
    ap.add_argument("--init", default=None,
                    help="start from this checkpoint's weights (fresh optimiser and schedule)")
    ap.add_argument("--time-limit", type=float, default=0, help="stop (and export) after N s")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    set_seed(a.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = [json.loads(l) for l in open(Path(a.data) / "manifest.jsonl") if l.strip()]
    train = [p for p in pairs if p["split"] == "train"]
    val = [p for p in pairs if p["split"] == "val"][:24]
    enc = textenc.TextEncoder(textenc.encoder_dir(a.encoder_dir))
    all_texts = [p["text"] for p in train + val]
    if a.text_aug:
        all_texts += [strip_scaffold(p["text"]) for p in train]
    if a.neg_swap:
        all_texts += [t for t in (swap_sides(p["text"]) for p in train) if t]
    if a.neg_site:
        all_texts += [t for p in train for t, _ in sibling_sites(p["text"], p["site"])]
    texts = textenc.encode_all(all_texts, enc, out / "text_cache.npz")
    print(f"{len(train)} train pairs, {len(val)} val pairs, {len(texts)} texts, device {device}")

    filters = tuple(int(v) for v in a.filters.split(","))
    net = ConTEXTualNet3D(filters).to(device)
    nparam = sum(p.numel() for p in net.parameters())
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=a.wd)
    step = 0
    rng = random.Random(a.seed)
    ckpt = out / "checkpoint.pt"
    if (a.resume or a.export_only) and ckpt.is_file():
        st = torch.load(ckpt, map_location=device, weights_only=False)
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        rng.setstate(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        print(f"resumed at step {step}")
    if a.init and step == 0:
        net.load_state_dict(torch.load(a.init, map_location=device, weights_only=False)["model"])
        print(f"initialised from {a.init}")
    (out / "config.json").write_text(json.dumps({**vars(a), "params": nparam}, indent=1))
    print(f"{nparam} parameters")
    data = Data(a.data, train, a.crop_z, texts, a.text_aug, random.Random(a.seed + 1),
                a.neg_swap if a.group else 0.0, a.neg_site if a.group else 0.0)
    vdata = Data(a.data, val, a.crop_z, texts)
    log_path = out / "loss.csv"
    new_log = not log_path.is_file() or not a.resume
    log = open(log_path, "w" if new_log else "a", newline="")
    w = csv.writer(log)
    if new_log:
        w.writerow(["step", "loss", "dice_loss", "ce", "lr", "sec_per_step", "val_loss"])
    t_start = time.time()
    order = []

    def save():
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "step": step,
                    "rng": rng.getstate(), "torch_rng": torch.get_rng_state(),
                    "filters": filters}, tmp)
        os.replace(tmp, ckpt)

    while step < a.steps and not a.export_only:
        if a.time_limit and time.time() - t_start > a.time_limit:
            print("time limit reached")
            break
        net.train()
        t0 = time.time()
        if a.group:
            if not order:
                order = study_groups(train, a.group, rng)
            idx, order = order[0], order[1:]
            img, lab, tok, mask = [t.to(device) for t in data.group(idx)]
            repeat = len(idx)
        else:
            if len(order) < a.batch:
                order = list(range(len(train)))
                rng.shuffle(order)
            idx, order = order[:a.batch], order[a.batch:]
            img, lab, tok, mask = [t.to(device) for t in data.batch(idx, rng)]
            repeat = 1
        for g in opt.param_groups:
            frac = (time.time() - t_start) / a.time_limit if a.time_limit else 0.0
            g["lr"] = lr_at(step, a.lr, a.warmup, a.steps, frac)
        loss, dl, ce = dice_ce(net(img, tok, mask, repeat), lab, a.neg_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        vloss = ""
        if step % a.val_every == 0 and val:
            net.eval()
            vr = random.Random(0)
            with torch.no_grad():
                ls = [dice_ce(net(*[t.to(device) for t in (b[0], b[2], b[3])]), b[1].to(device))[0].item()
                      for b in (vdata.batch([i], vr, crop=not a.group)
                                    for i in range(len(val)))]
            vloss = f"{np.mean(ls):.4f}"
        w.writerow([step, f"{loss.item():.4f}", f"{dl:.4f}", f"{ce:.4f}",
                    f"{opt.param_groups[0]['lr']:.6f}", f"{time.time() - t0:.3f}", vloss])
        log.flush()
        if step % 20 == 0 or vloss:
            print(f"step {step} loss {loss.item():.4f} dice {dl:.4f} ce {ce:.4f} "
                  f"{time.time() - t0:.2f}s/step {('val ' + vloss) if vloss else ''}", flush=True)
        if step % a.ckpt_every == 0:
            save()
    if not a.export_only:
        save()
    export(net, out / "grounding.onnx", device)
    print(f"exported {out / 'grounding.onnx'} at step {step}")


if __name__ == "__main__":
    main()
