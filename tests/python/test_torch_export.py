#!/usr/bin/env python3
"""Tests experiments/torch_export.py: the recorder with NumPy stand-ins for tensors (always), then a real
PyTorch model when /usr/bin/python3 has torch (Debian: python3-torch); collapse-analyze must read what it
writes and give the metrics computed here in float64 from the same features.

    BUILD_DIR=build /usr/bin/python3 tests/python/test_torch_export.py
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import torch_export  # noqa: E402

BUILD = os.environ.get("BUILD_DIR", os.path.join(ROOT, "build"))
ANALYZE = os.path.join(BUILD, "collapse-analyze")


class FakeTensor:
    """What the recorder uses of a torch.Tensor: detach(), cpu(), numpy()."""

    def __init__(self, array):
        self.array = np.asarray(array)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.array


def nc1(h, y, classes):
    """Tr(Sigma_W Sigma_B^+)/C in float64 (docs/metrics.md)."""
    mu = h.mean(0)
    means = np.stack([h[y == c].mean(0) for c in range(classes)])
    within = sum((h[y == c] - means[c]).T @ (h[y == c] - means[c]) for c in range(classes)) / len(h)
    between = (means - mu).T @ (means - mu) / classes
    return np.trace(within @ np.linalg.pinv(between, rcond=1e-10, hermitian=True)) / classes


class TorchExportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        rng = np.random.default_rng(3)
        self.classes, self.p = 3, 5
        self.means = rng.normal(size=(self.classes, self.p)) * 4
        self.y = np.repeat(np.arange(self.classes), 20)
        self.h = (self.means[self.y] + rng.normal(size=(len(self.y), self.p))).astype(np.float32)
        self.w = rng.normal(size=(self.classes, self.p)).astype(np.float32)
        self.b = rng.normal(size=self.classes).astype(np.float32)

    def tearDown(self):
        self.tmp.cleanup()

    def analyze(self, out):
        if not os.access(ANALYZE, os.X_OK):
            self.skipTest("no %s" % ANALYZE)
        json_path = os.path.join(out, "metrics.json")
        done = subprocess.run([ANALYZE, "--features", os.path.join(out, "features.npy"), "--labels",
                               os.path.join(out, "labels.npy"), "--weights", os.path.join(out, "weights.npy"),
                               "--bias", os.path.join(out, "bias.npy"), "--json", json_path],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(json_path) as f:
            return json.load(f)

    def test_recorder_writes_what_collapse_analyze_reads(self):
        recorder = torch_export.FeatureRecorder()
        labels = []
        for start in range(0, len(self.y), 16):  # batches, as a loader gives them
            recorder(None, (FakeTensor(self.h[start:start + 16]),), None)
            labels.append(FakeTensor(self.y[start:start + 16]))
        recorder.save(self.tmp.name, labels, FakeTensor(self.w), FakeTensor(self.b))
        np.testing.assert_array_equal(np.load(os.path.join(self.tmp.name, "features.npy")), self.h)
        np.testing.assert_array_equal(np.load(os.path.join(self.tmp.name, "labels.npy")), self.y)
        metrics = self.analyze(self.tmp.name)
        self.assertAlmostEqual(metrics["nc1"], nc1(self.h.astype(np.float64), self.y, self.classes), places=6)
        logits = self.h @ self.w.T + self.b
        self.assertAlmostEqual(metrics["train_error"], float(np.mean(logits.argmax(1) != self.y)), places=12)

    def test_wrong_shapes_are_explained(self):
        recorder = torch_export.FeatureRecorder()
        with self.assertRaisesRegex(ValueError, "expected \\(batch, p\\)"):
            recorder(None, (FakeTensor(np.zeros((2, 3, 4))),), None)
        recorder(None, (FakeTensor(self.h),), None)
        with self.assertRaisesRegex(ValueError, "does not match features"):
            recorder.save(self.tmp.name, [FakeTensor(self.y)], FakeTensor(self.w.T))

    def test_real_torch_model(self):
        try:
            import torch
        except ImportError:
            self.skipTest("no torch for %s (Debian: python3-torch)" % sys.executable)
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(self.p, 8), torch.nn.ReLU(), torch.nn.Linear(8, self.classes))
        data = torch.utils.data.TensorDataset(torch.tensor(self.h), torch.tensor(self.y))
        torch_export.export(model, model[2], torch.utils.data.DataLoader(data, batch_size=16), self.tmp.name)
        h = model[1](model[0](torch.tensor(self.h))).detach().numpy()
        np.testing.assert_allclose(np.load(os.path.join(self.tmp.name, "features.npy")), h, rtol=1e-6)
        self.assertTrue(model.training)  # restored
        metrics = self.analyze(self.tmp.name)
        self.assertAlmostEqual(metrics["nc1"], nc1(h.astype(np.float64), self.y, self.classes), places=5)


class CheckpointIntoTorchvisionTest(unittest.TestCase):
    """The README's snippet: a width-1 ResNet18 checkpoint of nc-experiment loads into torchvision's resnet18
    (strict: every name and shape matches), and its classifier is the one collapse-analyze reads."""

    def test_readme_snippet(self):
        try:
            import torch
            import torchvision
        except ImportError:
            self.skipTest("no torch/torchvision for %s (Debian: python3-torch python3-torchvision)" % sys.executable)
        experiment = os.path.join(BUILD, "nc-experiment")
        data = os.path.join(ROOT, "..", "shared", "datasets")
        if not os.access(experiment, os.X_OK) or not os.path.isdir(os.path.join(data, "mnist")):
            self.skipTest("no %s or no MNIST under %s" % (experiment, data))
        with tempfile.TemporaryDirectory() as tmp:
            run = os.path.join(tmp, "run")
            done = subprocess.run([experiment, "--dataset", "mnist", "--data-root", data, "--arch", "resnet",
                                   "--depth", "18", "--width", "1", "--per-class", "2", "--test-per-class", "1",
                                   "--epochs", "1", "--batch-size", "10", "--measure-epochs", "1",
                                   "--export-features", "--threads", "1", "--quiet", "--out", run],
                                  capture_output=True, text=True)
            self.assertEqual(done.returncode, 0, done.stdout[-2000:] + done.stderr)
            model = torchvision.models.resnet18(num_classes=10)
            model.conv1 = torch.nn.Conv2d(1, 64, 3, 1, 1, bias=False)  # MNIST: 1 channel, nc-experiment's 3x3 stem
            model.maxpool = torch.nn.Identity()
            state = torch_export.load_safetensors(os.path.join(run, "checkpoints", "epoch-0001", "model.safetensors"))
            model.load_state_dict(state)  # strict
            exported = os.path.join(run, "features", "epoch-1")
            np.testing.assert_array_equal(model.fc.weight.detach().numpy(),
                                          np.load(os.path.join(exported, "weights.npy")))
            np.testing.assert_array_equal(model.fc.bias.detach().numpy(), np.load(os.path.join(exported, "bias.npy")))

    def test_malformed_file_is_named(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.safetensors")
            with open(path, "wb") as f:
                f.write((1000).to_bytes(8, "little") + b"{}")
            with self.assertRaisesRegex(ValueError, "bad.safetensors: header of 1000 bytes past the end"):
                torch_export.load_safetensors(path, as_torch=False)


if __name__ == "__main__":
    unittest.main()
