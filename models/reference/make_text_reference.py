"""Reference token ids and text-encoder outputs for tests/ground_text.rs.

Run (from the repository root, in a throwaway venv, never the repo's):
    python3 -m venv /tmp/gvenv && /tmp/gvenv/bin/pip install onnxruntime==1.32.0 tokenizers==0.23.3 numpy
    /tmp/gvenv/bin/python models/reference/make_text_reference.py
Writes models/reference/text_reference.json. The Python `tokenizers` package (the same Rust
library) and Python onnxruntime 1.32.0 on CPU are the references the Rust side must reproduce:
token ids exactly, encoder output within 1e-4.
"""

import json
import os

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

L = 48  # fixed text length of the model contract
HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)

# Finding texts as petground::report produces them (CONTRACT §4: SUV value and image number
# removed), one with accents/odd punctuation, one longer than L tokens (truncation).
SENTENCES = [
    "Right hilar lymph node, SUVmax , image .",
    "Intensely FDG-avid left supraclavicular lymph node (SUVmax ) on image , compatible with metastasis.",
    "Lésion hépatique segment VII — SUV max  ; coupe .",
    "Multiple FDG avid lesions: " + ", ".join(f"node {i} in the mediastinum" for i in range(12)) + ".",
    "",
]
ENCODED = 0  # index of the sentence whose full encoder output is stored


def main():
    tok = Tokenizer.from_file(os.path.join(MODELS, "tokenizer.json"))
    # Override the file's own padding (fixed 128) and truncation: contract L = 48, pad id 0.
    tok.enable_truncation(max_length=L)
    tok.enable_padding(length=L, pad_id=0, pad_token="[PAD]")
    cases = []
    for s in SENTENCES:
        e = tok.encode(s)
        cases.append({"text": s, "ids": e.ids, "attention_mask": e.attention_mask,
                      "type_ids": e.type_ids})

    sess = ort.InferenceSession(os.path.join(MODELS, "text_encoder.onnx"),
                                providers=["CPUExecutionProvider"])
    c = cases[ENCODED]
    feeds = {
        "input_ids": np.array([c["ids"]], dtype=np.int64),
        "attention_mask": np.array([c["attention_mask"]], dtype=np.int64),
        "token_type_ids": np.array([c["type_ids"]], dtype=np.int64),
    }
    (out,) = sess.run(["last_hidden_state"], feeds)
    assert out.shape == (1, L, 384), out.shape
    ref = {
        "generator": "models/reference/make_text_reference.py",
        "onnxruntime": ort.__version__,
        "L": L,
        "cases": cases,
        "encoded_case": ENCODED,
        # Full [L, 384] output of the encoded case, row-major, float32 printed with 9 digits.
        "last_hidden_state": [float(f"{v:.9g}") for v in out[0].ravel().tolist()],
    }
    with open(os.path.join(HERE, "text_reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
