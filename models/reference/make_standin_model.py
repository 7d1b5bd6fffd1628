"""Tiny stand-in grounding models with the model contract's I/O (tests only, no training).

Run (throwaway venv, never the repo's):
    /tmp/gvenv/bin/pip install onnx==1.23.2 onnxruntime==1.32.0 numpy
    /tmp/gvenv/bin/python models/reference/make_standin_model.py
Writes into tests/fixtures/:
  grounding_standin.onnx    image [1,2,Z,Y,X], text [1,L,384], text_mask [1,L] -> prob [1,1,Z,Y,X]
                            prob = sigmoid(20 * image[:, 0:1] - 10 + mean(text * text_mask[..., None]))
                            i.e. "foreground where the PET channel > 0.5 (SUV > 5)", nudged by the
                            text so the test can tell that text and mask reach the graph.
  grounding_wrong_name.onnx the same graph with its image input called "img"
  grounding_wrong_rank.onnx image input of rank 4 ([1,2,Y,X]) and prob of rank 4
Opset 17, as the contract requires of models/grounding.onnx.
"""

import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

L = 48
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "fixtures")


def const(name, values, dtype=TensorProto.INT64):
    arr = np.array(values)
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name + "_v", dtype, arr.shape, arr.ravel().tolist()))


def build(image_name="image", rank=5):
    spatial = ["Z", "Y", "X"][5 - rank:]
    image = helper.make_tensor_value_info(image_name, TensorProto.FLOAT, [1, 2, *spatial])
    text = helper.make_tensor_value_info("text", TensorProto.FLOAT, [1, L, 384])
    mask = helper.make_tensor_value_info("text_mask", TensorProto.FLOAT, [1, L])
    prob = helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 1, *spatial])
    nodes = [
        const("starts", [0]), const("ends", [1]), const("axes1", [1]), const("axes2", [2]),
        const("a", [20.0], TensorProto.FLOAT), const("b", [10.0], TensorProto.FLOAT),
        helper.make_node("Slice", [image_name, "starts", "ends", "axes1"], ["pet"]),
        helper.make_node("Mul", ["pet", "a"], ["pet_a"]),
        helper.make_node("Sub", ["pet_a", "b"], ["logit0"]),
        helper.make_node("Unsqueeze", ["text_mask", "axes2"], ["mask3"]),
        helper.make_node("Mul", ["text", "mask3"], ["masked"]),
        helper.make_node("ReduceMean", ["masked"], ["tmean"], keepdims=0),
        helper.make_node("Add", ["logit0", "tmean"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
    ]
    graph = helper.make_graph(nodes, "grounding_standin", [image, text, mask], [prob])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="petground make_standin_model.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, model in [("grounding_standin.onnx", build()),
                        ("grounding_wrong_name.onnx", build(image_name="img")),
                        ("grounding_wrong_rank.onnx", build(rank=4))]:
        onnx.save(model, os.path.join(OUT, name))
    # Self-check with Python onnxruntime: the closed form above.
    sess = ort.InferenceSession(os.path.join(OUT, "grounding_standin.onnx"),
                                providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    img = rng.random((1, 2, 16, 16, 32), dtype=np.float32)
    txt = rng.standard_normal((1, L, 384), dtype=np.float32)
    m = np.zeros((1, L), np.float32)
    m[0, :10] = 1
    (p,) = sess.run(["prob"], {"image": img, "text": txt, "text_mask": m})
    want = 1 / (1 + np.exp(-(20 * img[:, :1] - 10 + (txt * m[..., None]).mean())))
    assert p.shape == (1, 1, 16, 16, 32) and np.allclose(p, want, atol=1e-6)


if __name__ == "__main__":
    main()
