#!/usr/bin/env python3
"""Tests experiments/plot_nc.py on synthetic run folders.

    /usr/bin/python3 tests/python/test_plot_nc.py

Two runs: "early" reaches the terminal phase at epoch 10 with lr decays at 30 and 35; "late" (a 30-epoch
MNIST-like schedule) decays at 10 and 20 and reaches it only at 25, which the plot must warn about.
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "experiments", "plot_nc.py")


def load_plot_nc():
    spec = importlib.util.spec_from_file_location("plot_nc", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(folder, onset, milestones, epochs=40):
    os.makedirs(folder)
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
        for e in range(0, epochs + 1, 5):
            lr = 0.05 * 0.1 ** sum(e > m for m in milestones)
            nc1 = 0.5 if e <= onset else 0.5 * (0.2 / 0.5) ** ((e - onset) / (epochs - onset))  # 0.5 -> 0.2
            f.write(json.dumps({"epoch": e, "lr": lr, "train_error": 0.0 if e >= onset else 0.3, "test_error": 0.1,
                                "train_loss": 1.0 / (e + 1), "test_loss": 1.5 / (e + 1), "nc1": nc1,
                                "equinorm_means": 0.1, "equinorm_classifiers": 0.05, "equiangular_means": 0.1,
                                "equiangular_classifiers": 0.05, "maxangle_means": 0.1, "maxangle_classifiers": 0.05,
                                "nc3": 0.3, "nc4": 0.02, "nc4_train": 0.0}) + "\n")
    summary = {"dataset": "mnist", "arch": "resnet", "depth": 18, "width": 0.125, "epochs": epochs,
               "lr_milestones": milestones, "tpt_onset_epoch": onset, "first_zero_error_epoch": onset,
               "test_accuracy_at_first_zero_error": 0.9, "test_accuracy_at_last_epoch": 0.91234567,
               "status": "finished",
               "terminal_phase": {"from_epoch": onset, "to_epoch": epochs, "nc1": {"at_onset": 0.5, "final": 0.2},
                                  "nc1_reduction": 2.5}}
    with open(os.path.join(folder, "summary.json"), "w") as f:
        json.dump(summary, f)  # no lr_decayed_before_tpt: older runs are judged from milestones and onset


class PlotNcTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.early = os.path.join(self.tmp.name, "early")
        self.late = os.path.join(self.tmp.name, "late")
        write_run(self.early, onset=10, milestones=[30, 35])
        write_run(self.late, onset=25, milestones=[10, 20])

    def tearDown(self):
        self.tmp.cleanup()

    def plot(self, *args):
        return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)

    def test_one_run_writes_into_its_folder_and_warns_about_an_early_decay(self):
        done = self.plot(self.early)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertNotIn("warning", done.stderr)
        for name in ("nc_metrics", "error", "loss", "nc1", "equinorm", "equiangular", "maxangle", "nc3", "nc4"):
            self.assertTrue(os.path.getsize(os.path.join(self.early, "plots", name + ".png")) > 5000, name)
        done = self.plot(self.late)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("decayed before the terminal phase began", done.stderr)

    def test_several_runs_need_out_and_leave_the_runs_alone(self):
        done = self.plot(self.early, self.late)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("--out", done.stderr)
        out = os.path.join(self.tmp.name, "overlay")
        done = self.plot(self.early, self.late, "--out", out)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "nc_metrics.png")))
        self.assertFalse(os.path.exists(os.path.join(self.early, "plots")))

    def test_overlay_colours_by_run_with_markers_in_the_legend_and_readable_log_ticks(self):
        plot_nc = load_plot_nc()
        runs = [(d, *plot_nc.read_run(d)) for d in (self.early, self.late)]
        fig, ax = plot_nc.plt.subplots()
        name, title, ylabel, keys, log = [p for p in plot_nc.PANELS if p[0] == "equinorm"][0]
        plot_nc.draw(ax, runs, title, ylabel, keys, log)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        for expected in ("early, class means", "early, classifiers", "late, class means", "TPT onset", "lr ÷10"):
            self.assertIn(expected, labels)
        colours = {line.get_label(): line.get_color() for line in ax.get_lines() if not line.get_label().startswith("_")}
        self.assertEqual(colours["early, class means"], colours["early, classifiers"])  # one colour per run
        self.assertNotEqual(colours["early, class means"], colours["late, class means"])
        self.assertEqual(ax.get_xlabel(), "epoch")
        self.assertEqual(ax.get_ylabel(), ylabel)

        fig, ax = plot_nc.plt.subplots()
        name, title, ylabel, keys, log = [p for p in plot_nc.PANELS if p[0] == "nc1"][0]
        plot_nc.draw(ax, runs[:1], title, ylabel, keys, log)  # NC1 from 0.5 to 0.2: less than a decade
        fig.canvas.draw()
        low, high = ax.get_ylim()
        shown = [t.get_text() for t, v in zip(ax.get_yticklabels(), ax.get_yticks()) if t.get_text() and low <= v <= high]
        self.assertGreaterEqual(len(shown), 2, shown)

    def test_facts_are_formatted(self):
        plot_nc = load_plot_nc()
        text, warnings = plot_nc.facts(self.early, *plot_nc.read_run(self.early))
        joined = "\n".join(text)
        self.assertIn("0.9123", joined)
        self.assertNotIn("0.91234567", joined)
        self.assertNotIn("None", joined)
        self.assertIn("lr ÷10 after epochs 30, 35", joined)
        self.assertEqual(warnings, [])


if __name__ == "__main__":
    unittest.main()
