"""Saves a PyTorch model's last-layer features in the files `collapse-analyze` reads, so a PyTorch run can be
measured with exactly the definitions nc-experiment uses (docs/metrics.md).

    import torch, torch_export                      # this file, e.g. on PYTHONPATH
    torch_export.export(model, model.fc, train_loader, "out/")            # ResNet: the classifier is model.fc
    torch_export.export(model, model.fc, test_loader, "out/", prefix="test_")
    # then: collapse-analyze --features out/features.npy --labels out/labels.npy --weights out/weights.npy \\
    #           --bias out/bias.npy --test-features out/test_features.npy --test-labels out/test_labels.npy

A forward hook on the classifier (an nn.Linear) records its input (the features H, N x p) and the labels of
each batch; the classifier's weight (C x p, as nn.Linear stores it) and bias are saved beside them. The model
runs in eval mode under torch.no_grad(), as nc-experiment's analysis does. Only NumPy is needed to use the
recorder itself (FeatureRecorder), which is what the tests check without PyTorch installed.

The other way round, `load_safetensors(path)` reads a collapse checkpoint (RUN/checkpoints/epoch-NNNN/
model.safetensors) as {name: array} with NumPy alone, or as torch tensors when torch is importable, so that a
width-1 ResNet loads into torchvision's (README, "Analysing features from any framework") without the
safetensors package.
"""
import json
import os
import struct

import numpy as np


_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64,
           "U8": np.uint8}


def load_safetensors(path, as_torch=True):
    """{name: array} from a safetensors file (8-byte little-endian header length, JSON header, raw data);
    torch tensors when as_torch and torch is importable. ValueError naming the file when it is malformed."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: not a safetensors file (shorter than its 8-byte header length)" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("%s: header of %d bytes past the end of the file (%d bytes)" % (path, n, len(data)))
    header = json.loads(data[8:8 + n])
    body = memoryview(data)[8 + n:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(entry.get("dtype"))
        begin, end = entry["data_offsets"]
        shape = entry["shape"]
        if dtype is None or not 0 <= begin <= end <= len(body) or \
                end - begin != int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize:
            raise ValueError("%s: tensor '%s' has a bad dtype, shape or offsets (%s)" % (path, name, entry))
        out[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).copy()
    if as_torch:
        try:
            import torch
        except ImportError:
            return out
        return {k: torch.from_numpy(v) for k, v in out.items()}
    return out


def _numpy(x):
    """A tensor (torch or anything with .detach()/.cpu()/.numpy()) or an array, as a NumPy array."""
    for step in ("detach", "cpu"):
        if hasattr(x, step):
            x = getattr(x, step)()
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


class FeatureRecorder:
    """A forward hook (module, inputs, output) that keeps the classifier's inputs, batch by batch."""

    def __init__(self):
        self.features = []

    def __call__(self, module, inputs, output):
        h = _numpy(inputs[0])
        if h.ndim != 2:
            raise ValueError("torch_export: the classifier's input has shape %s; expected (batch, p): hook the final "
                             "nn.Linear, after any flatten" % (h.shape,))
        self.features.append(h.astype(np.float32, copy=False))

    def save(self, out_dir, labels, weight, bias=None, prefix=""):
        """Writes PREFIXfeatures.npy and PREFIXlabels.npy, and (without a prefix) weights.npy and bias.npy."""
        os.makedirs(out_dir, exist_ok=True)
        features = np.concatenate(self.features) if self.features else np.zeros((0, 0), np.float32)
        labels = np.concatenate([_numpy(y).reshape(-1) for y in labels]).astype(np.int64)
        if len(labels) != len(features):
            raise ValueError("torch_export: %d labels for %d feature rows" % (len(labels), len(features)))
        np.save(os.path.join(out_dir, prefix + "features.npy"), np.ascontiguousarray(features))
        np.save(os.path.join(out_dir, prefix + "labels.npy"), labels)
        if not prefix:
            w = _numpy(weight).astype(np.float32)
            if w.ndim != 2 or w.shape[1] != features.shape[1]:
                raise ValueError("torch_export: classifier weight of shape %s does not match features of dimension %d; "
                                 "pass the nn.Linear's weight (C, p)" % (w.shape, features.shape[1]))
            np.save(os.path.join(out_dir, "weights.npy"), np.ascontiguousarray(w))
            if bias is not None:
                np.save(os.path.join(out_dir, "bias.npy"), _numpy(bias).astype(np.float32))


def export(model, classifier, loader, out_dir, prefix="", device="cpu"):
    """Runs every (images, labels) batch of `loader` through `model` and saves what collapse-analyze reads.
    Use prefix="test_" for a test split (the weights are then not written again)."""
    import torch  # only here: the recorder above works without PyTorch

    recorder = FeatureRecorder()
    handle = classifier.register_forward_hook(recorder)
    was_training = model.training
    labels = []
    try:
        model.eval()
        with torch.no_grad():
            for images, y in loader:
                model(images.to(device))
                labels.append(y)
    finally:
        handle.remove()
        model.train(was_training)
    recorder.save(out_dir, labels, classifier.weight, classifier.bias, prefix)
