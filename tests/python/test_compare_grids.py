#!/usr/bin/env python3
"""Tests experiments/compare_grids.py on two hand-written published grids.

    /usr/bin/python3 tests/python/test_compare_grids.py

Cell a-vgg: the first grid spikes (misses), the second meets the target with the better test accuracy:
the paper's rule picks the second. Cell a-resnet: the first has the better accuracy but misses the
target: the rule still picks it (it chooses by test error, not by collapse). Cell b-vgg: only in the
first grid.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "experiments", "compare_grids.py")


def write_grid(folder, lr, cells):
    """cells: name -> (nc1_reduction, nc4_final, interruptions, meets_target, test_accuracy)"""
    os.makedirs(folder)
    nc = {"target": {}, "cells": []}
    table1 = {"rows": []}
    grid = {"cells": []}
    for name, (reduction, nc4, breaks, meets, accuracy) in cells.items():
        nc["cells"].append({"name": name, "status": "done", "tpt_onset_epoch": 10, "nc1_reduction": reduction,
                            "values": {"nc4": {"at_onset": 0.1, "final": nc4}}, "tpt_interruptions": breaks,
                            "meets_target": meets})
        table1["rows"].append({"name": name, "test_accuracy_at_last_epoch": accuracy})
        grid["cells"].append({"name": name, "lr": lr})
    for name, value in (("nc_table.json", nc), ("table1.json", table1), ("grid.json", grid)):
        with open(os.path.join(folder, name), "w") as f:
            json.dump(value, f)


class CompareGridsTest(unittest.TestCase):
    def test_table_and_the_papers_rule(self):
        with tempfile.TemporaryDirectory() as tmp:
            a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
            write_grid(a, 0.0679, {"a-vgg": (2.0, 0.03, [120], False, 0.80), "a-resnet": (3.0, 0.04, [], False, 0.90),
                                   "b-vgg": (12.0, 0.01, [], True, 0.95)})
            write_grid(b, 0.0354, {"a-vgg": (15.0, 0.02, [], True, 0.85), "a-resnet": (11.0, 0.02, [], True, 0.88)})
            out_json = os.path.join(tmp, "c.json")
            done = subprocess.run([sys.executable, SCRIPT, a, b, "--json", out_json], capture_output=True, text=True)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn("| a-vgg | 10 | 2.0× | 0.030 | 120 | 80.0 | no | 10 | 15.0× | 0.020 | none | 85.0 | yes | "
                          "lr 0.0354 | yes |", done.stdout)
            self.assertIn("| a-resnet |", done.stdout)
            self.assertIn("Cells meeting the target: lr 0.0679 1, lr 0.0354 2", done.stdout)
            rows = {r["name"]: r for r in json.load(open(out_json))["rows"]}
            self.assertEqual(rows["a-vgg"]["paper_rule_pick"], 1)
            self.assertEqual(rows["a-resnet"]["paper_rule_pick"], 0)
            self.assertFalse(rows["a-resnet"]["pick_meets_target"])
            self.assertEqual(rows["b-vgg"]["paper_rule_pick"], 0)
            self.assertIsNone(rows["b-vgg"]["runs"][1])
            self.assertIn("with the paper's rule over both: 2 of 3", done.stdout)


if __name__ == "__main__":
    unittest.main()
