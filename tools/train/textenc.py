"""Frozen text encoder for training and evaluation (model contract): models/tokenizer.json
(all-MiniLM-L6-v2's, fixed length L = 48, truncate, pad id 0) and models/text_encoder.onnx
(int8 all-MiniLM-L6-v2) run with onnxruntime -- the very files the node uses. Each distinct
sentence is encoded once and cached."""
import hashlib
import json
import os
from pathlib import Path

import numpy as np

L = 48
DIM = 384
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def encoder_dir(flag=None):
    """models/ of the repo when it has both files, else tools/train/.models (setup-env)."""
    for d in ([Path(flag)] if flag else []) + [REPO / "models", HERE / ".models"]:
        if (d / "text_encoder.onnx").is_file() and (d / "tokenizer.json").is_file():
            return d
    raise SystemExit("text encoder not found: put text_encoder.onnx + tokenizer.json in models/ "
                     "or run tools/train/setup-env (it fills tools/train/.models)")


class TextEncoder:
    def __init__(self, directory):
        import onnxruntime as ort
        from tokenizers import Tokenizer
        self.dir = Path(directory)
        self.tok = Tokenizer.from_file(str(self.dir / "tokenizer.json"))
        # Override the file's own padding (fixed 128) and truncation: the contract's L, pad 0.
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=L)
        self.tok.enable_padding(length=L, pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        self.sess = ort.InferenceSession(str(self.dir / "text_encoder.onnx"), opts,
                                         providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.sess.get_inputs()]
        self.output = self.sess.get_outputs()[0].name
        self.sha = hashlib.sha256((self.dir / "text_encoder.onnx").read_bytes()).hexdigest()[:16]

    def ids(self, text):
        enc = self.tok.encode(text)
        ids = np.asarray(enc.ids, dtype=np.int64)[None]
        mask = np.asarray(enc.attention_mask, dtype=np.int64)[None]
        return ids, mask

    def encode(self, text):
        """(tokens [L, 384] float32, mask [L] float32)."""
        ids, mask = self.ids(text)
        feeds = {}
        for name in self.inputs:
            if name == "input_ids":
                feeds[name] = ids
            elif name == "attention_mask":
                feeds[name] = mask
            elif name == "token_type_ids":
                feeds[name] = np.zeros_like(ids)
        out = self.sess.run([self.output], feeds)[0]
        return out[0].astype(np.float32), mask[0].astype(np.float32)


def encode_all(texts, enc, cache_path):
    """dict text -> (tokens, mask), cached in an .npz keyed by encoder hash + text."""
    cache = {}
    cache_path = Path(cache_path)
    if cache_path.is_file():
        z = np.load(cache_path, allow_pickle=False)
        keys = json.loads(str(z["keys"]))
        if z["sha"].item() == enc.sha:
            # Read each array once (NpzFile re-reads on every access) and copy rows out.
            tok, mask = z["tok"], z["mask"]
            for i, k in enumerate(keys):
                cache[k] = (tok[i].copy(), mask[i].copy())
    missing = [t for t in sorted(set(texts)) if t not in cache]
    for t in missing:
        cache[t] = enc.encode(t)
    if missing:
        keys = sorted(cache)
        tmp = cache_path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=json.dumps(keys), sha=np.array(enc.sha),
                 tok=np.stack([cache[k][0] for k in keys]), mask=np.stack([cache[k][1] for k in keys]))
        os.replace(tmp, cache_path)
    return cache
