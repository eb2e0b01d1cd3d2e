#!/usr/bin/env python3
"""Plots one nc-experiment run folder (or several, overlaid) in the style of the paper's figures.

    plot_nc.py RUN_DIR [RUN_DIR ...] [--out DIR]

Writes DIR/nc_metrics.png (a grid: train/test error, NC1 on a log axis, equinorm, equiangularity,
max-angle, NC3 self-duality, NC4) and one PNG per panel; DIR defaults to RUN_DIR/plots. Class means are
drawn in one colour, classifiers in another, and a vertical line marks the TPT onset epoch.
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
            pts = [(l["epoch"], l[key]) for l in lines if l.get(key) is not None and (not log or l[key] > 0)]
            if pts:
                ax.plot(*zip(*pts), marker=".", color=colour, label=label + tag)
        onset = summary.get("tpt_onset_epoch")
        if onset is not None:
            ax.axvline(onset, color="gray", linestyle="--", linewidth=1)
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
    fig, axes = plt.subplots(2, 4, figsize=(18, 8))
    for ax, (name, title, keys, log) in zip(axes.flat, PANELS):
        ax.set_title(title, fontsize=10)
        draw(ax, runs, keys, log)
        single, sax = plt.subplots(figsize=(5, 3.5))
        sax.set_title(title, fontsize=10)
        draw(sax, runs, keys, log)
        single.tight_layout()
        single.savefig(os.path.join(out, name + ".png"), dpi=110)
        plt.close(single)
    axes.flat[-1].axis("off")
    s = runs[0][2]
    axes.flat[-1].text(0, 0.5, "\n".join("%s: %s" % (k, s.get(k)) for k in
                                         ("dataset", "arch", "depth", "width", "epochs", "tpt_onset_epoch",
                                          "first_zero_error_epoch", "test_accuracy_at_first_zero_error",
                                          "test_accuracy_at_last_epoch", "nc1_reduction")), fontsize=9, va="center")
    fig.suptitle("Neural Collapse: " + ", ".join(os.path.basename(os.path.normpath(d)) for d in args.runs))
    fig.tight_layout()
    path = os.path.join(out, "nc_metrics.png")
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    print("plot_nc.py: wrote", path)


if __name__ == "__main__":
    main()
