"""Inference half of `petground-train evaluate`: runs models/grounding.onnx with onnxruntime on
every pair of one split (the sentence text, and once per study the empty text for the
vision-only baseline) and writes the probability maps, cropped to the unpadded model grid, as
float32 .npy for the Rust side (post-processing, PAPER section 5 metric, report). The node's own
Rust inference path was written in parallel; this uses the same model and text-encoder files."""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import textenc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--split", default="test", help="train, val, test or all")
    ap.add_argument("--max-studies", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--encoder-dir", default=None)
    a = ap.parse_args()
    data, out = Path(a.data), Path(a.out)
    (out / "preds").mkdir(parents=True, exist_ok=True)
    pairs = [json.loads(l) for l in open(data / "manifest.jsonl") if l.strip()]
    if a.split != "all":
        pairs = [p for p in pairs if p["split"] == a.split]
    studies = sorted({p["study"] for p in pairs})
    if a.max_studies:
        studies = studies[:a.max_studies]
        pairs = [p for p in pairs if p["study"] in set(studies)]
    enc = textenc.TextEncoder(textenc.encoder_dir(a.encoder_dir))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    sess = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
    times = []

    def run(image, text, grid):
        tok, mask = enc.encode(text)
        t0 = time.time()
        prob = sess.run(["prob"], {"image": image[None], "text": tok[None], "text_mask": mask[None]})[0]
        times.append(time.time() - t0)
        z, y, x = grid["dims"]
        return np.ascontiguousarray(prob[0, 0, :z, :y, :x].astype(np.float32))

    images = {}
    for i, p in enumerate(pairs):
        if p["study"] not in images:
            images.clear()
            images[p["study"]] = np.load(data / p["image"]).astype(np.float32)
            np.save(out / "preds" / f"{p['study']}-empty.npy",
                    run(images[p["study"]], "", p["model_grid"]))
        np.save(out / "preds" / f"{p['id']}.npy", run(images[p["study"]], p["text"], p["model_grid"]))
        if (i + 1) % 20 == 0:
            print(f"{i + 1}/{len(pairs)} pairs, {np.mean(times):.2f} s per forward", flush=True)
    (out / "inference.json").write_text(json.dumps({
        "pairs": [p["id"] for p in pairs], "split": a.split, "model": a.model,
        "forward_s_mean": float(np.mean(times)) if times else None,
        "forward_s_max": float(np.max(times)) if times else None, "forwards": len(times)}))
    print(f"{len(pairs)} pairs, {len(studies)} studies, {np.mean(times):.2f} s per forward")


if __name__ == "__main__":
    main()
