#!/usr/bin/env python3
"""Tests experiments/paper_figures.py on a synthetic grid whose answers are known by construction.

    /usr/bin/python3 tests/python/test_paper_figures.py

The grid: mnist (vgg meets the target: NC1 down 100x, NC4 0.01, an exact simplex-ETF geometry.json;
resnet has two TPT interruptions; densenet misses it: NC1 down 3.2x, NC4 0.08, and measured DeepFool),
cifar10 (vgg at a depth other than the paper's, with a noisy geometry.json; resnet failed after 6 epochs;
densenet never reaches TPT) and stl10 (no data, pending, no data: no panel, but rows in the tables).
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from run_files import write  # tests/python/run_files.py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "experiments", "paper_figures.py")
EPOCHS, ONSET = 30, 10  # measured every epoch 0..30; train error reaches 0 at ONSET


def metrics(reduction, nc4_final, onset=ONSET, epochs=EPOCHS, deepfool=False):
    """NC1 flat at 1 until onset, then decaying exponentially to exactly 1/reduction at the last epoch; the
    other measures decay linearly; a few nulls that the plots must skip."""
    lines = []
    for e in range(epochs + 1):
        t = 0.0 if onset is None or e <= onset else (e - onset) / (epochs - onset)
        nc1 = 1.0 if t == 0 else reduction ** -t
        line = {"epoch": e, "lr": 0.0679, "train_error": max(0.0, 0.5 * (1 - e / onset)) if onset else 0.1,
                "test_error": 0.05 - 0.01 * t, "train_loss": 2.0 / (e + 1), "test_loss": 2.5 / (e + 1), "nc1": nc1,
                "equinorm_means": 0.3 * (1 - t) + 0.01, "equinorm_classifiers": 0.2 * (1 - t) + 0.01,
                "equiangular_means": 0.25 * (1 - t) + 0.02, "equiangular_classifiers": 0.15 * (1 - t) + 0.02,
                "maxangle_means": 0.2 * (1 - t) + 0.01, "maxangle_classifiers": 0.1 * (1 - t) + 0.01,
                "nc3": 0.5 * (1 - t) + 0.05, "nc4": 0.2 * (1 - t) + nc4_final * t, "nc4_train": 0.1 * (1 - t),
                "in_terminal_phase": onset is not None and e >= onset, "wall_seconds": 1.0 * e}
        if e == 0:
            line["nc4"] = None  # skipped point by point
        if deepfool:
            line["deepfool"] = {"mean_relative_perturbation": 0.1 + 0.01 * e}
        lines.append(line)
    return lines


def summary(dataset, arch, depth, lines, onset, interruptions=None):
    """What nc-experiment's make_summary writes for these lines."""
    last = lines[-1]
    s = {"dataset": dataset, "arch": arch, "depth": depth, "width": 0.125, "epochs": len(lines) - 1,
         "tpt_onset_epoch": onset, "first_zero_error_epoch": onset,
         "test_accuracy_at_first_zero_error": None if onset is None else 1 - lines[onset]["test_error"],
         "test_accuracy_at_last_epoch": 1 - last["test_error"], "final": last}
    if onset is not None:
        first = lines[onset]
        tp = {"from_epoch": onset, "to_epoch": last["epoch"]}
        for k in ("nc1", "equinorm_means", "equinorm_classifiers", "equiangular_means", "equiangular_classifiers",
                  "maxangle_means", "nc3", "nc4", "train_error", "test_error"):
            tp[k] = {"at_onset": first[k], "final": last[k]}
        tp["nc1_reduction"] = first["nc1"] / last["nc1"]
        s["terminal_phase"] = tp
    if interruptions:
        s["tpt_interruptions"] = [{"epoch": e, "train_error": 0.002, "loss_before": 0.01, "loss_after": 0.3}
                                  for e in interruptions]
    return s


def etf_geometry(c=10):
    gram = [[1.0 if i == j else -1.0 / (c - 1) for j in range(c)] for i in range(c)]
    return {"epoch": EPOCHS, "num_classes": c, "mean_cosines": gram, "classifier_cosines": gram,
            "mean_norms": [1.0] * c, "classifier_norms": [1.0] * c}


def noisy_geometry(c=10):
    g = etf_geometry(c)
    g["mean_cosines"] = [[1.0 if i == j else -1.0 / (c - 1) + 0.01 * ((i * j) % 3) for j in range(c)]
                         for i in range(c)]
    g["mean_cosines"][0][1] = g["mean_cosines"][1][0] = None  # nc-experiment writes null for a zero vector
    return g


def make_grid(grid):
    """The grid described in the module docstring; returns {cell name: cell}."""
    cells = []

    def cell(dataset, arch, depth, status, lines=None, onset=ONSET, paper_depth=None, geometry=None,
             interruptions=None, with_summary=True):
        name = "%s-%s" % (dataset, arch)
        entry = {"name": name, "dataset": dataset, "arch": arch, "depth": depth,
                 "paper_depth": depth if paper_depth is None else paper_depth, "status": status, "run": "cells/" + name,
                 "command": "nc-experiment ...", "wall_seconds": 12.5, "threads": 2, "commit": "abc1234", "note": ""}
        if status == "no data":
            entry["note"] = "no files under the data root"
        cells.append(entry)
        if lines is None:
            return
        run = os.path.join(grid, entry["run"])
        write(os.path.join(run, "metrics.jsonl"), lines)
        if with_summary:
            write(os.path.join(run, "summary.json"), summary(dataset, arch, depth, lines, onset, interruptions))
        if geometry:
            write(os.path.join(run, "geometry.json"), geometry)

    cell("mnist", "vgg", 11, "done", metrics(100.0, 0.01), geometry=etf_geometry())
    cell("mnist", "resnet", 18, "done", metrics(50.0, 0.02), interruptions=[12, 15])
    cell("mnist", "densenet", 40, "done", metrics(3.2, 0.08, deepfool=True))
    cell("cifar10", "vgg", 11, "done", metrics(20.0, 0.03), paper_depth=19, geometry=noisy_geometry())
    partial = metrics(10.0, 0.1)[:6]
    partial[3]["nc1"] = 0.0  # NC1 <= 0: skipped on the log axis
    cell("cifar10", "resnet", 18, "failed", partial, with_summary=False)
    cell("cifar10", "densenet", 40, "done", metrics(1.0, 0.2, onset=None), onset=None)
    cell("stl10", "vgg", 11, "no data")
    cell("stl10", "resnet", 18, "pending")
    cell("stl10", "densenet", 40, "no data")
    write(os.path.join(grid, "grid.json"), {"scale": "cpu", "cells": cells})
    return {c["name"]: c for c in cells}


def run(*args):
    return subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True, timeout=120)


class PaperFiguresTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.grid = os.path.join(cls.tmp.name, "grid")
        cls.cells = make_grid(cls.grid)
        cls.out = os.path.join(cls.tmp.name, "out")
        cls.result = run(cls.grid, "--out", cls.out)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def load(self, name):
        with open(os.path.join(self.out, name)) as f:
            return f.read() if name.endswith(".md") else json.load(f)

    def test_runs_and_writes_every_file(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        names = ["fig%d_%s.png" % p for p in ((1, "geometry"), (2, "equinorm"), (3, "equiangularity"),
                                               (4, "maxangle"), (5, "nc3"), (6, "nc1"), (7, "nc4"), (8, "deepfool"))]
        names += ["table1.md", "table1.json", "nc_table.md", "nc_table.json", "figures.json"]
        for name in names:
            path = os.path.join(self.out, name)
            self.assertTrue(os.path.isfile(path), name)
            self.assertGreater(os.path.getsize(path), 0, name)
            if name.endswith(".png"):
                self.assertLess(os.path.getsize(path), 300 * 1024, name)
            self.assertIn("wrote " + path, self.result.stdout)
        self.assertEqual([f for f in os.listdir(self.out) if f.endswith(".tmp")], [])  # no temp file left

    def test_manifest_panels_and_rows(self):
        figures = self.load("figures.json")["figures"]
        for name in ("fig2_equinorm.png", "fig3_equiangularity.png", "fig4_maxangle.png"):
            self.assertEqual(figures[name]["panels"], ["mnist", "cifar10"], name)  # stl10 has no data
            self.assertEqual(figures[name]["rows"], ["train class means", "classifiers"], name)
        for name in ("fig5_nc3.png", "fig6_nc1.png", "fig7_nc4.png"):
            self.assertEqual(figures[name]["panels"], ["mnist", "cifar10"], name)
            self.assertEqual(len(figures[name]["rows"]), 1, name)
        self.assertEqual(figures["fig8_deepfool.png"]["panels"], ["mnist"])  # only mnist densenet measured it
        self.assertEqual(figures["fig1_geometry.png"]["rows"], ["vgg"])
        self.assertEqual(figures["fig1_geometry.png"]["panels"], ["mnist", "cifar10", "simplex ETF (C=10)"])
        for panel, labels in figures["fig6_nc1.png"]["log_y_tick_labels"].items():
            self.assertGreaterEqual(len(labels), 2, panel)

    def test_geometry_titles(self):
        geo = self.load("figures.json")["figures"]["fig1_geometry.png"]
        for key in ("mnist/vgg", "simplex ETF (C=10)"):  # exact ETFs: deviation 0
            self.assertLess(abs(float(geo["titles"][key].split()[-1])), 1e-12, geo["titles"][key])
        self.assertLess(geo["max_deviation"]["mnist/vgg"], 1e-12)
        self.assertAlmostEqual(geo["max_deviation"]["cifar10/vgg"], 0.02, places=12)
        self.assertTrue(geo["titles"]["cifar10/vgg"].endswith(" 0.02"), geo["titles"]["cifar10/vgg"])

    def test_table1_has_every_cell(self):
        md = self.load("table1.md")
        rows = [l for l in md.splitlines() if l.startswith("| ") and not l.startswith("| dataset")]
        self.assertEqual(len(rows), len(self.cells))
        for name, cell in self.cells.items():
            self.assertTrue(any(r.startswith("| %s | %s |" % (cell["dataset"], cell["arch"])) and cell["status"] in r
                                for r in rows), name)
        self.assertIn("| cifar10 | vgg | 11 (paper: 19) |", md)
        self.assertIn("| mnist | vgg | 11 | 95.00 → 96.00 | 99.40 → 99.56 | 10 | done |", md)
        self.assertEqual(sum("no data" in r for r in rows), 2)
        data = {(r["dataset"], r["arch"]): r for r in self.load("table1.json")["rows"]}
        self.assertEqual(len(data), len(self.cells))
        self.assertEqual(data[("stl10", "vgg")]["status"], "no data")
        self.assertEqual(data[("cifar10", "resnet")]["status"], "failed")
        self.assertAlmostEqual(data[("mnist", "vgg")]["test_accuracy_at_last_epoch"], 0.96, places=12)

    def test_nc_table(self):
        cells = {(c["dataset"], c["arch"]): c for c in self.load("nc_table.json")["cells"]}
        self.assertEqual(len(cells), len(self.cells))
        good, bad = cells[("mnist", "vgg")], cells[("mnist", "densenet")]
        self.assertLess(abs(good["nc1_reduction"] / 100.0 - 1), 1e-9)
        self.assertLess(abs(bad["nc1_reduction"] / 3.2 - 1), 1e-9)
        self.assertTrue(good["meets_target"])
        self.assertFalse(bad["meets_target"])
        self.assertIn("NC1 only 3.2x", bad["reason"])
        self.assertIn("NC4 0.08", bad["reason"])
        self.assertEqual(cells[("cifar10", "densenet")]["reason"], "no TPT")
        self.assertEqual(cells[("cifar10", "resnet")]["reason"], "failed, no summary")
        self.assertEqual(cells[("mnist", "resnet")]["tpt_interruptions"], [12, 15])
        self.assertEqual(cells[("mnist", "resnet")]["flickers"], [12, 15])  # 2 and 5 epochs after onset
        self.assertEqual(cells[("mnist", "resnet")]["spikes"], [])
        self.assertEqual(good["values"]["nc1"], {"at_onset": 1.0, "final": 0.01})
        md = self.load("nc_table.md")
        self.assertIn("train error flickered (threshold held < 20 epochs) at 12,15", md)
        self.assertIn("| 1 → 0.01 |", md)  # NC1 of the good cell, 3 significant digits
        self.assertIn("| 100x | yes |", md)
        self.assertIn("no (NC1 only 3.2x; NC4 0.08)", md)
        rows = [l for l in md.splitlines() if l.startswith("| ") and not l.startswith("| dataset")]
        self.assertEqual(len(rows), len(self.cells))

    def test_fig8_and_fig1_skipped_when_nothing_to_draw(self):
        with tempfile.TemporaryDirectory() as tmp:
            write(os.path.join(tmp, "cells", "a", "metrics.jsonl"), metrics(100.0, 0.01))
            write(os.path.join(tmp, "grid.json"), {"scale": "cpu", "cells": [
                {"name": "a", "dataset": "kmnist", "arch": "resnet", "depth": 18, "paper_depth": 18, "status": "done",
                 "run": "cells/a"}]})
            result = run(tmp)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertFalse(os.path.exists(os.path.join(tmp, "fig8_deepfool.png")))
            self.assertFalse(os.path.exists(os.path.join(tmp, "fig1_geometry.png")))
            with open(os.path.join(tmp, "figures.json")) as f:
                manifest = json.load(f)
            self.assertEqual(manifest["skipped"]["fig8_deepfool.png"], "no cell measured deepfool")
            self.assertIn("fig1_geometry.png", manifest["skipped"])
            self.assertEqual(manifest["figures"]["fig6_nc1.png"]["panels"], ["kmnist"])
            with open(os.path.join(tmp, "table1.md")) as f:
                self.assertIn("| kmnist | resnet | 18 | – | – | – | done |", f.read())  # no summary, no paper numbers

    def test_malformed_metrics_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            make_grid(tmp)
            path = os.path.join(tmp, "cells", "cifar10-vgg", "metrics.jsonl")
            with open(path) as f:
                lines = f.readlines()
            lines[2] = '{"epoch": 2, "nc1": \n'
            with open(path, "w") as f:
                f.writelines(lines)
            result = run(tmp, "--out", os.path.join(tmp, "out"))
            self.assertEqual(result.returncode, 1)
            self.assertIn(path, result.stderr)
            self.assertIn("line 3", result.stderr)
            self.assertFalse(os.path.exists(os.path.join(tmp, "out", "figures.json")))  # nothing half-written

    def test_missing_grid_json(self):
        with tempfile.TemporaryDirectory() as tmp:
            result = run(tmp)
            self.assertEqual(result.returncode, 2)
            self.assertIn(os.path.join(tmp, "grid.json"), result.stderr)



def nc_table_of_one_cell(dataset, arch, depth, lines, cell_summary):
    """paper_figures.py on a grid of one done cell: its nc_table.json row and nc_table.md."""
    name = "%s-%s" % (dataset, arch)
    with tempfile.TemporaryDirectory() as tmp:
        write(os.path.join(tmp, "cells", name, "metrics.jsonl"), lines)
        write(os.path.join(tmp, "cells", name, "summary.json"), cell_summary)
        write(os.path.join(tmp, "grid.json"), {"scale": "cpu", "cells": [
            {"name": name, "dataset": dataset, "arch": arch, "depth": depth, "paper_depth": depth,
             "status": "done", "run": "cells/" + name}]})
        r = run(tmp)
        if r.returncode != 0:
            raise AssertionError(r.stderr)
        with open(os.path.join(tmp, "nc_table.json")) as f:
            row = json.load(f)["cells"][0]
        with open(os.path.join(tmp, "nc_table.md")) as f:
            return row, f.read()


class DerivedInterruptionTest(unittest.TestCase):
    """A run from before nc-experiment recorded tpt_interruptions: the spike is found in metrics.jsonl."""

    def test_spike_after_onset_is_found_in_the_metrics(self):
        lines = metrics(40.0, 0.01)
        lines[20]["train_error"], lines[20]["train_loss"] = 0.3, 0.9  # a late loss spike
        row, md = nc_table_of_one_cell("mnist", "vgg", 11, lines, summary("mnist", "vgg", 11, lines, ONSET))
        self.assertEqual(row["tpt_interruptions"], [20])
        # NC1 = 40^-((e - 10)/20) after onset: from epoch 21 to 30 it falls 40^(9/20) = 5.26x.
        self.assertAlmostEqual(row["nc1_reduction_last_stretch"], 40.0 ** 0.45, places=9)
        self.assertIn("train error flickered (threshold held < 20 epochs) at 20", md)


class EvidenceTest(unittest.TestCase):
    """The NC table's evidence for a cell that misses the target: NC1 = (epoch / 10)^-1 from onset 10 at the
    initial rate (so 10x by epoch 100) over 80 epochs, a flicker at 12, a loss spike at 60 and NC1 up 5x at 66
    with the train error fine (a spike between measurements); the learning rate decays at 70."""

    def test_spike_flicker_and_power_law(self):
        lines = metrics(2.0, 0.08, epochs=80)
        for l in lines:
            if l["epoch"] >= ONSET:
                l["nc1"] = ONSET / l["epoch"]
            if l["epoch"] >= 70:
                l["lr"] = 0.00679
        lines[12]["train_error"] = lines[60]["train_error"] = 0.01
        lines[66]["nc1"] = 5 * lines[65]["nc1"]  # a spike between measurements: train error fine, NC1 up 5x
        row, md = nc_table_of_one_cell("svhn", "vgg", 11, lines, summary("svhn", "vgg", 11, lines, ONSET, [12, 60]))
        self.assertEqual(row["spikes"], [60])     # the threshold had held from 13 to 59
        self.assertEqual(row["flickers"], [12])   # 2 epochs after onset
        # fitted from 13 (after the flicker) to 59 (before the spike): exactly 1
        self.assertAlmostEqual(row["nc1_power_law_exponent_at_initial_lr"], 1.0, places=9)
        self.assertEqual(row["nc1_reversals_between_measurements"], [66])
        self.assertIn("loss spike at epoch 60", md)
        self.assertIn("NC1 rose 3x or more since the previous measurement at epoch 66", md)
        self.assertIn("NC1 ~ epoch^-1.00 at the initial rate: 10x from onset by epoch ~100", md)
        self.assertIn("train NC4 0, test error", md)  # NC4 (test) 0.08 misses; the train-set one is 0


if __name__ == "__main__":
    unittest.main()
