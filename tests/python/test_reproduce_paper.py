#!/usr/bin/env python3
"""Tests experiments/reproduce-paper on a tiny grid (--scale tiny: seconds per cell) over real MNIST:
cell selection, the time estimate, resuming (a finished cell is not run again), the exit status and list
of failed cells, 'no data' cells, and the Slurm job-array script run the way Slurm runs it.

    BUILD_DIR=build COLLAPSE_DATA=../shared/datasets python3 tests/python/test_reproduce_paper.py

Needs nc-experiment and bench-train-step in BUILD_DIR; skips when COLLAPSE_DATA has no mnist/.
"""
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, "experiments", "reproduce-paper")
BUILD = os.path.abspath(os.environ.get("BUILD_DIR", os.path.join(ROOT, "build")))
DATA = os.path.abspath(os.environ.get("COLLAPSE_DATA", os.path.join(ROOT, "..", "shared", "datasets")))


def load_runner():
    """experiments/reproduce-paper as a module (it has no .py suffix), for its helpers."""
    loader = importlib.machinery.SourceFileLoader("reproduce_paper", RUNNER)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("reproduce_paper", loader))
    loader.exec_module(module)
    return module


def run(*args, env=None):
    full_env = dict(os.environ, BUILD_DIR=BUILD, OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run([sys.executable, RUNNER, *args], capture_output=True, text=True, env=full_env, timeout=600)


def read(path):
    with open(path) as f:
        return json.load(f)


@unittest.skipUnless(os.path.isdir(os.path.join(DATA, "mnist")), "no mnist under " + DATA)
class ReproducePaperTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = os.path.join(self.tmp.name, "grid")
        # A data root with MNIST only: every other dataset's cells must come out as 'no data'.
        self.root = os.path.join(self.tmp.name, "data")
        os.makedirs(self.root)
        os.symlink(os.path.join(DATA, "mnist"), os.path.join(self.root, "mnist"))

    def tearDown(self):
        self.tmp.cleanup()

    def tiny(self, *args, env=None):
        return run("--scale", "tiny", "--data-root", self.root, "--out", self.out, *args, env=env)

    def test_selection_and_estimate(self):
        r = self.tiny("--datasets", "mnist,cifar10", "--archs", "vgg,resnet", "--estimate-only")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("4 cells (2 with data, 2 to run)", r.stdout)
        self.assertIn("no data for cifar10", r.stdout)
        for cell in ("mnist-vgg", "mnist-resnet"):
            self.assertRegex(r.stdout, r"%s\s+\w+\d+\s+\d+ img/s\s+~\s*\d+ s" % cell)
        self.assertRegex(r.stdout, r"2 cells; estimated [\d.]+ min of computing")
        self.assertFalse(os.path.exists(os.path.join(self.out, "cells", "mnist-vgg")))  # nothing ran

        r = self.tiny("--only", "mnist-vgg,nope-vgg", "--estimate-only")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no such cell nope-vgg", r.stderr)

    def test_run_resume_and_report(self):
        r = self.tiny("--datasets", "mnist,cifar10", "--archs", "vgg", "--no-estimate")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        grid = read(os.path.join(self.out, "grid.json"))
        status = {c["name"]: c["status"] for c in grid["cells"]}
        self.assertEqual(status, {"mnist-vgg": "done", "cifar10-vgg": "no data"})
        record = read(os.path.join(self.out, "cells", "mnist-vgg.cell.json"))
        for key in ("command", "commit", "threads", "wall_seconds", "depth", "paper_depth"):
            self.assertIn(key, record)
        self.assertIn("--per-class 4", record["command"])
        self.assertEqual(record["binary_sha256"], load_runner().file_digest(os.path.join(BUILD, "nc-experiment")))
        for name in ("summary.json", "metrics.jsonl", "geometry.json", "config.json"):
            self.assertTrue(os.path.exists(os.path.join(self.out, "cells", "mnist-vgg", name)), name)
        if subprocess.run(["/usr/bin/python3", "-c", "import matplotlib"], capture_output=True).returncode == 0:
            self.assertTrue(os.path.exists(os.path.join(self.out, "fig6_nc1.png")), r.stdout)
            self.assertTrue(os.path.exists(os.path.join(self.out, "table1.md")))

        again = self.tiny("--datasets", "mnist,cifar10", "--archs", "vgg", "--no-estimate")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("(1 with data, 0 to run)", again.stdout)
        self.assertNotIn("== mnist-vgg", again.stdout)

        published = os.path.join(self.tmp.name, "published")
        p = self.tiny("--datasets", "mnist,cifar10", "--archs", "vgg", "--report-only", "--publish", published)
        self.assertEqual(p.returncode, 0, p.stderr)
        for name in ("grid.json", "runs.md", "cells/mnist-vgg/summary.json", "cells/mnist-vgg/metrics.jsonl",
                     "cells/mnist-vgg.cell.json"):
            self.assertTrue(os.path.exists(os.path.join(published, name)), name)
        self.assertFalse(os.path.exists(os.path.join(published, "cells", "mnist-vgg", "checkpoints")))
        with open(os.path.join(published, "runs.md")) as f:
            runs = f.read()
        self.assertIn("| mnist-vgg | done | 11 (11) |", runs)
        self.assertIn("| cifar10-vgg | no data |", runs)
        self.assertEqual(len(read(os.path.join(self.out, "grid.json"))["invocations"]), 2)  # the two that ran

    def test_a_cell_waits_for_a_binary_being_relinked(self):
        path = os.path.join(self.tmp.name, "nc-experiment")
        self.assertFalse(load_runner().wait_for_binary(path, seconds=1))  # missing: gives up after the wait
        with open(path, "w") as f:
            f.write("#!/bin/sh\n")

        def link_done():
            time.sleep(1)
            os.chmod(path, 0o755)  # the linker makes it executable once it is complete
        threading.Thread(target=link_done).start()
        self.assertTrue(load_runner().wait_for_binary(path, seconds=30))

    def test_failed_cell_is_listed_and_exit_status_is_1(self):
        # nc-experiment rejects a momentum of 2: both cells fail, the grid goes on and says so.
        r = self.tiny("--only", "mnist-vgg,mnist-resnet", "--no-estimate", "--no-report", "--", "--momentum", "2")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("2 cell(s) failed: mnist-vgg, mnist-resnet", r.stderr)
        record = read(os.path.join(self.out, "cells", "mnist-vgg.cell.json"))
        self.assertEqual(record["status"], "failed")
        self.assertNotEqual(record["exit_status"], 0)

    def test_slurm_array_script_runs_one_cell_per_task(self):
        script = os.path.join(self.tmp.name, "grid.sbatch")
        r = self.tiny("--only", "mnist-vgg,mnist-densenet", "--slurm", script)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(script) as f:
            text = f.read()
        self.assertIn("#SBATCH --array=0-1", text)
        self.assertIn("CELLS=(mnist-vgg mnist-densenet)", text)
        env = dict(os.environ, BUILD_DIR=BUILD, OMP_NUM_THREADS="1")
        env.pop("SLURM_ARRAY_TASK_ID", None)  # the tests themselves may run inside a Slurm job
        for task in ("0", "1"):  # what Slurm does: the same script once per array index
            t = subprocess.run(["bash", script], capture_output=True, text=True, timeout=600,
                               env=dict(env, SLURM_ARRAY_TASK_ID=task, SLURM_CPUS_PER_TASK="1"))
            self.assertEqual(t.returncode, 0, t.stdout + t.stderr)
        for cell in ("mnist-vgg", "mnist-densenet"):
            self.assertEqual(read(os.path.join(self.out, "cells", cell + ".cell.json"))["status"], "done")
            self.assertTrue(os.path.exists(os.path.join(self.out, "cells", cell, "summary.json")))
        missing = subprocess.run(["bash", script], capture_output=True, text=True, env=env, timeout=60)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("SLURM_ARRAY_TASK_ID", missing.stderr)


if __name__ == "__main__":
    unittest.main()
