#!/usr/bin/env python3
"""Tests experiments/high_rate_window.py on a hand-made grid whose answers are known.

    python3 tests/python/test_high_rate_window.py

Cell a: onset 10, NC1 = 10 / epoch at lr 0.1 until the decay at 80 (so 8x by 80), then flat; no spike.
Cell b: the same until a spike at 50 (train error 0.3 after 40 settled epochs), NC1 back to 1.
Cell c: never reaches the terminal phase.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from run_files import write  # tests/python/run_files.py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "experiments", "high_rate_window.py")


def lines(spike_at=None):
    out = []
    for e in (0, 5, 10, 20, 40, 50, 60, 80, 90, 100):
        nc1 = 1.0 if e <= 10 else 10.0 / min(e, 80)
        err = 0.5 if e < 10 else 0.0
        if spike_at is not None and e >= spike_at:
            nc1, err = (1.0, 0.3) if e == spike_at else (0.9, 0.0)
        out.append({"epoch": e, "lr": 0.1 if e <= 80 else 0.01, "nc1": nc1, "train_error": err})
    return out


class HighRateWindowTest(unittest.TestCase):
    def test_table(self):
        with tempfile.TemporaryDirectory() as grid:
            write(os.path.join(grid, "grid.json"), {"cells": [{"name": n, "run": "cells/" + n} for n in "abc"]})
            write(os.path.join(grid, "cells/a/metrics.jsonl"), lines())
            write(os.path.join(grid, "cells/a/summary.json"), {"tpt_onset_epoch": 10, "tpt_interruptions": []})
            write(os.path.join(grid, "cells/b/metrics.jsonl"), lines(spike_at=50))
            write(os.path.join(grid, "cells/b/summary.json"),
                  {"tpt_onset_epoch": 10, "tpt_interruptions": [{"epoch": 50}]})
            write(os.path.join(grid, "cells/c/metrics.jsonl"), [{"epoch": 0, "nc1": 1.0, "train_error": 0.5}])
            write(os.path.join(grid, "cells/c/summary.json"), {"tpt_onset_epoch": None})
            out = os.path.join(grid, "window.json")
            r = subprocess.run([sys.executable, SCRIPT, grid, "--epochs", "45,80", "--json", out],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out) as f:
                rows = {c["name"]: c["window"] for c in json.load(f)["cells"]}
        a, b = rows["a"], rows["b"]
        self.assertEqual(a["at"]["45"], {"epoch": 40, "nc1_reduction": 4.0})   # last measured at or before 45
        self.assertEqual(a["at"]["80"], {"epoch": 80, "nc1_reduction": 8.0})
        self.assertEqual(a["peak_at_initial_lr"], {"epoch": 80, "nc1_reduction": 8.0})
        self.assertIsNone(a["first_spike_or_reversal"])
        self.assertEqual(a["final"]["epoch"], 100)
        self.assertEqual(b["peak_at_initial_lr"]["epoch"], 40)
        self.assertEqual(b["first_spike_or_reversal"], 50)
        self.assertEqual(rows["c"], {"tpt_onset_epoch": None})
        self.assertIn("| a | 10 | 4.0× | 8.0× | 8.0× (80) | none | 8.0× (100) |", r.stdout)


if __name__ == "__main__":
    unittest.main()
