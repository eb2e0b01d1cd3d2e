#!/usr/bin/env python3
"""Plots one nc-experiment run folder (or several, overlaid) in the style of the paper's figures.

    plot_nc.py RUN_DIR [RUN_DIR ...] [--out DIR]

Writes DIR/nc_metrics.png (a grid: train/test error, train/test loss, NC1 on a log axis (Fig 6),
equinorm (Fig 2), equiangularity (Fig 3), max-angle (Fig 4), NC3 self-duality (Fig 5), NC4 (Fig 7), and
DeepFool robustness (Fig 8) when the run measured it with --measure deepfool) and one PNG per panel; DIR
defaults to RUN_DIR/plots. Class means are drawn in one colour, classifiers in another, and a vertical line
marks the TPT onset epoch.
Needs matplotlib (Debian: python3-matplotlib, for /usr/bin/python3).
"""
import argparse
import json
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot_nc.py: matplotlib is missing for %s; install python3-matplotlib and run it with "
             "/usr/bin/python3" % sys.executable)

MEANS, CLASSIFIERS = "tab:blue", "tab:red"
PANELS = [  # (file name, title, [(key, label, colour)], log y)
    ("error", "Train / test error", [("train_error", "train", "tab:green"), ("test_error", "test", "tab:purple")], False),
    ("loss", "Train / test loss (cross-entropy)", [("train_loss", "train", "tab:green"), ("test_loss", "test", "tab:purple")],
     True),
    ("nc1", "NC1: Tr(Σ_W Σ_B⁺)/C", [("nc1", "NC1", "tab:blue")], True),
    ("equinorm", "NC2: equinorm (CoV of norms)", [("equinorm_means", "class means", MEANS),
                                                   ("equinorm_classifiers", "classifiers", CLASSIFIERS)], False),
    ("equiangular", "NC2: equiangularity (std of cosines)", [("equiangular_means", "class means", MEANS),
                                                            ("equiangular_classifiers", "classifiers", CLASSIFIERS)], False),
    ("maxangle", "NC2: max-angle (mean |cos + 1/(C-1)|)", [("maxangle_means", "class means", MEANS),
                                                          ("maxangle_classifiers", "classifiers", CLASSIFIERS)], False),
    ("nc3", "NC3: ‖W/‖W‖ − Ṁᵀ/‖Ṁ‖‖²", [("nc3", "self-duality", "tab:orange")], False),
    ("nc4", "NC4: mismatch with nearest class centre", [("nc4", "test", "tab:purple"), ("nc4_train", "train", "tab:green")], False),
]
# Drawn only when some run has the measurement (nc-experiment --measure deepfool).
ROBUSTNESS = ("robustness", "Robustness: DeepFool ‖r‖/‖x‖ (test)",
              [("deepfool.mean_relative_perturbation", "DeepFool", "tab:brown")], False)


def value(line, key):
    """line[key], where "a.b" reads a nested measurement (None when absent)."""
    for part in key.split("."):
        if not isinstance(line, dict):
            return None
        line = line.get(part)
    return line


def read_run(run_dir):
    lines = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError as e:
                    sys.exit("plot_nc.py: %s/metrics.jsonl line %d: %s" % (run_dir, n, e))
    summary = {}
    path = os.path.join(run_dir, "summary.json")
    if os.path.exists(path):
        with open(path) as f:
            summary = json.load(f)
    return lines, summary


def draw(ax, runs, keys, log):
    for run_dir, lines, summary in runs:
        tag = "" if len(runs) == 1 else " (%s)" % os.path.basename(os.path.normpath(run_dir))
        for key, label, colour in keys:
            pts = [(l["epoch"], value(l, key)) for l in lines
                   if value(l, key) is not None and (not log or value(l, key) > 0)]
            if pts:
                ax.plot(*zip(*pts), marker=".", color=colour, label=label + tag)
        onset = summary.get("tpt_onset_epoch")
        if onset is not None:
            ax.axvline(onset, color="gray", linestyle="--", linewidth=1)
        for event in summary.get("tpt_interruptions") or []:  # a late loss spike: the terminal phase broke
            ax.axvline(event["epoch"], color="black", linestyle=":", linewidth=1)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out")
    args = parser.parse_args()
    runs = [(d, *read_run(d)) for d in args.runs]
    out = args.out or os.path.join(args.runs[0], "plots")
    os.makedirs(out, exist_ok=True)
    panels = list(PANELS)
    if any(value(l, ROBUSTNESS[2][0][0]) is not None for _, lines, _ in runs for l in lines):
        panels.append(ROBUSTNESS)
    cells = len(panels) + 1  # the panels and one cell of run facts
    cols = 3 if cells <= 9 else 4
    rows = (cells + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows))
    for ax in axes.flat[len(panels) + 1:]:
        ax.axis("off")
    for ax, (name, title, keys, log) in zip(axes.flat, panels):
        ax.set_title(title, fontsize=10)
        draw(ax, runs, keys, log)
        single, sax = plt.subplots(figsize=(5, 3.5))
        sax.set_title(title, fontsize=10)
        draw(sax, runs, keys, log)
        single.tight_layout()
        single.savefig(os.path.join(out, name + ".png"), dpi=110)
        plt.close(single)
    facts = axes.flat[len(panels)]
    facts.axis("off")
    s = runs[0][2]
    text = ["%s: %s" % (k, s.get(k)) for k in ("dataset", "arch", "depth", "width", "epochs", "tpt_onset_epoch",
                                               "first_zero_error_epoch", "test_accuracy_at_first_zero_error",
                                               "test_accuracy_at_last_epoch")]
    tp = s.get("terminal_phase")
    if tp:
        text.append("terminal phase, epoch %s -> %s:" % (tp["from_epoch"], tp["to_epoch"]))
        for k in ("nc1", "equinorm_means", "equiangular_means", "nc3", "nc4"):
            if k in tp:
                text.append("  %s: %.4g -> %.4g" % (k, tp[k]["at_onset"], tp[k]["final"]))
        if "nc1_reduction" in tp:
            text.append("  NC1 %.1fx lower" % tp["nc1_reduction"])
        breaks = s.get("tpt_interruptions") or []
        if breaks:
            text.append("TPT interrupted at epoch %s (dotted)" % ", ".join(str(b["epoch"]) for b in breaks))
            stretch = tp.get("last_uninterrupted_stretch")
            if stretch:
                text.append("  last stretch %s -> %s: NC1 %.1fx lower" % (
                    stretch["from_epoch"], stretch["to_epoch"], stretch["nc1_reduction"]))
    facts.text(0, 0.5, "\n".join(text), fontsize=9, va="center")
    fig.suptitle("Neural Collapse: " + ", ".join(os.path.basename(os.path.normpath(d)) for d in args.runs))
    fig.tight_layout()
    path = os.path.join(out, "nc_metrics.png")
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    print("plot_nc.py: wrote", path)


if __name__ == "__main__":
    main()
