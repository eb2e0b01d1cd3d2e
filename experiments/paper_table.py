#!/usr/bin/env python3
"""Writes OUT/table1.md (test accuracy at the first zero-error epoch -> last epoch, ours beside the paper's,
keeping the best final test error among learning rates) and OUT/grid.png (NC1 per run, rows = families,
columns = datasets) from the run folders under OUT.   Usage: paper_table.py OUT"""
import glob
import json
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

PAPER = {  # NEURAL_COLLAPSE.md §5, Table 1 of the paper: (first zero-error epoch, last epoch)
    "mnist": {"vgg": (99.40, 99.56), "resnet": (99.32, 99.71), "densenet": (99.65, 99.70)},
    "fashion-mnist": {"vgg": (92.92, 93.31), "resnet": (93.29, 93.64), "densenet": (94.18, 94.35)},
    "svhn": {"vgg": (93.82, 94.53), "resnet": (94.64, 95.70), "densenet": (95.87, 95.93)},
    "cifar10": {"vgg": (87.85, 88.65), "resnet": (88.72, 89.44), "densenet": (91.14, 91.19)},
    "cifar100": {"vgg": (63.03, 63.85), "resnet": (66.19, 66.21), "densenet": (77.19, 76.56)},
    "stl10": {"vgg": (65.15, 68.00), "resnet": (69.99, 70.24), "densenet": (67.79, 70.81)},
    "imagenet": {"vgg": (47.26, 50.12), "resnet": (65.41, 64.45), "densenet": (65.04, 62.38)},
}
ARCHS = ["vgg", "resnet", "densenet"]


def pct(x):
    return "–" if x is None else "%.2f" % (100 * x)


def main():
    out = sys.argv[1]
    best = {}
    for summary_path in glob.glob(os.path.join(out, "*", "summary.json")):
        with open(summary_path) as f:
            s = json.load(f)
        key = (s["dataset"], s["arch"])
        final = s.get("final") or {}
        err = final.get("test_error")
        if err is None:
            continue
        if key not in best or err < best[key][0]:
            best[key] = (err, s, os.path.dirname(summary_path))
    datasets = [d for d in list(PAPER) + ["kmnist"] if any(k[0] == d for k in best)]
    lines = ["| dataset | arch | ours: first zero-error → last | paper | TPT onset | final NC1 |", "|---|---|---|---|---|---|"]
    for d in datasets:
        for a in ARCHS:
            if (d, a) not in best:
                continue
            _, s, _ = best[(d, a)]
            p = PAPER.get(d, {}).get(a)
            lines.append("| %s | %s%s | %s → %s | %s | %s | %s |" % (
                d, a, s["depth"], pct(s.get("test_accuracy_at_first_zero_error")), pct(s.get("test_accuracy_at_last_epoch")),
                "–" if p is None else "%.2f → %.2f" % p, s.get("tpt_onset_epoch"), (s.get("final") or {}).get("nc1")))
    with open(os.path.join(out, "table1.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if datasets:
        fig, axes = plt.subplots(3, len(datasets), figsize=(3 * len(datasets), 8), squeeze=False)
        for j, d in enumerate(datasets):
            for i, a in enumerate(ARCHS):
                ax = axes[i][j]
                if (d, a) in best:
                    run = best[(d, a)][2]
                    pts = []
                    with open(os.path.join(run, "metrics.jsonl")) as f:
                        for line in f:
                            l = json.loads(line)
                            if l.get("nc1"):
                                pts.append((l["epoch"], l["nc1"]))
                    if pts:
                        ax.plot(*zip(*pts), marker=".")
                        ax.set_yscale("log")
                    onset = best[(d, a)][1].get("tpt_onset_epoch")
                    if onset is not None:
                        ax.axvline(onset, color="gray", linestyle="--")
                ax.set_title("%s %s" % (d, a), fontsize=8)
        fig.suptitle("NC1 (Tr(Σ_W Σ_B⁺)/C) per run")
        fig.tight_layout()
        fig.savefig(os.path.join(out, "grid.png"), dpi=100)
    print("paper_table.py: wrote", os.path.join(out, "table1.md"))


if __name__ == "__main__":
    main()
