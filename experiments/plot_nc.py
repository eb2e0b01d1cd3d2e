#!/usr/bin/env python3
"""Plots one nc-experiment run folder (or several, overlaid) in the style of the paper's figures.

    plot_nc.py RUN_DIR [--out DIR]            one run: DIR defaults to RUN_DIR/plots
    plot_nc.py RUN_A RUN_B ... --out DIR      several runs overlaid, one colour per run (--out required)

Writes DIR/nc_metrics.png (a grid: train/test error, train/test loss, NC1 on a log axis (Fig 6),
equinorm (Fig 2), equiangularity (Fig 3), max-angle (Fig 4), NC3 self-duality (Fig 5), NC4 (Fig 7), and
DeepFool robustness (Fig 8) when a run measured it with --measure deepfool, then a panel of facts) and one
PNG per panel. With one run, the two series of a panel (class means / classifiers, train / test) have two
colours; with several, each run has its colour and the series differ by line style. Vertical lines: the
TPT onset (dashed), each learning-rate decay (dash-dot), each interruption of the terminal phase (dotted).
Warns when the learning rate decayed before the terminal phase began.
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
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
except ImportError:
    sys.exit("plot_nc.py: matplotlib is missing for %s; install python3-matplotlib and run it with "
             "/usr/bin/python3" % sys.executable)

MEANS, CLASSIFIERS, TRAIN, TEST = "tab:blue", "tab:red", "tab:green", "tab:purple"
PANELS = [  # (file name, title, y label, [(key, label, colour for one run)], log y)
    ("error", "Train / test error", "error", [("train_error", "train", TRAIN), ("test_error", "test", TEST)], False),
    ("loss", "Train / test loss (cross-entropy)", "loss", [("train_loss", "train", TRAIN), ("test_loss", "test", TEST)],
     True),
    ("nc1", "NC1: Tr(Σ_W Σ_B⁺)/C", "NC1", [("nc1", "NC1", MEANS)], True),
    ("equinorm", "NC2: equinorm", "std/mean of norms", [("equinorm_means", "class means", MEANS),
                                                        ("equinorm_classifiers", "classifiers", CLASSIFIERS)], False),
    ("equiangular", "NC2: equiangularity", "std of cosines", [("equiangular_means", "class means", MEANS),
                                                              ("equiangular_classifiers", "classifiers", CLASSIFIERS)],
     False),
    ("maxangle", "NC2: max-angle", "mean |cos + 1/(C-1)|", [("maxangle_means", "class means", MEANS),
                                                            ("maxangle_classifiers", "classifiers", CLASSIFIERS)], False),
    ("nc3", "NC3: self-duality", "‖W/‖W‖ − Ṁᵀ/‖Ṁ‖‖²", [("nc3", "classifiers vs means", "tab:orange")], False),
    ("nc4", "NC4: mismatch with nearest class centre", "fraction", [("nc4", "test", TEST), ("nc4_train", "train", TRAIN)],
     False),
]
# Drawn only when some run has the measurement (nc-experiment --measure deepfool).
ROBUSTNESS = ("robustness", "Robustness: DeepFool (test)", "‖r‖/‖x‖",
              [("deepfool.mean_relative_perturbation", "DeepFool", "tab:brown")], False)
SERIES_STYLES = ["-", "--", ":"]  # with several runs: the first, second... series of a panel
RUN_COLOURS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def value(line, key):
    """line[key], where "a.b" reads a nested measurement (None when absent)."""
    for part in key.split("."):
        if not isinstance(line, dict):
            return None
        line = line.get(part)
    return line


def read_run(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        sys.exit("plot_nc.py: %s has no metrics.jsonl (not an nc-experiment run folder?)" % run_dir)
    lines = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError as e:
                    sys.exit("plot_nc.py: %s line %d: %s" % (path, n, e))
    summary = {}
    path = os.path.join(run_dir, "summary.json")
    if os.path.exists(path):
        with open(path) as f:
            summary = json.load(f)
    return lines, summary


def run_name(run_dir):
    return os.path.basename(os.path.normpath(run_dir))


def lr_decays(summary, lines):
    """Epochs after which the learning rate was divided: the summary's milestones, else read off the lines."""
    if summary.get("lr_milestones"):
        return list(summary["lr_milestones"])
    return [a["epoch"] for a, b in zip(lines, lines[1:]) if b.get("lr") is not None and a.get("lr") is not None
            and b["lr"] < a["lr"]]


def decayed_before_tpt(summary, lines):
    if "lr_decayed_before_tpt" in summary:
        return bool(summary["lr_decayed_before_tpt"])
    decays, onset = lr_decays(summary, lines), summary.get("tpt_onset_epoch")
    last = lines[-1]["epoch"] if lines else 0
    return bool(decays) and last > min(decays) and (onset is None or onset > min(decays))


def readable_log_axis(ax):
    """Labelled ticks at 1, 2, 5 x 10^k when the data spans less than two decades, else at each decade."""
    low, high = ax.get_ylim()
    subs = (1.0, 2.0, 5.0) if high / max(low, 1e-300) < 100 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "%g" % v))  # 0.2, 0.5, 1e-05
    ax.yaxis.set_minor_formatter(NullFormatter())


def draw(ax, runs, title, ylabel, keys, log):
    several = len(runs) > 1
    for r, (run_dir, lines, summary) in enumerate(runs):
        for k, (key, label, colour) in enumerate(keys):
            pts = [(l["epoch"], value(l, key)) for l in lines
                   if value(l, key) is not None and (not log or value(l, key) > 0)]
            if pts:
                ax.plot(*zip(*pts), marker=".", markersize=4,
                        color=RUN_COLOURS[r % len(RUN_COLOURS)] if several else colour,
                        linestyle=SERIES_STYLES[k % len(SERIES_STYLES)] if several else "-",
                        label=("%s, %s" % (run_name(run_dir), label)) if several else label)
        mark = RUN_COLOURS[r % len(RUN_COLOURS)] if several else "gray"
        if summary.get("tpt_onset_epoch") is not None:
            ax.axvline(summary["tpt_onset_epoch"], color=mark, linestyle="--", linewidth=1)
        for epoch in lr_decays(summary, lines):
            ax.axvline(epoch, color=mark, linestyle="-.", linewidth=0.8, alpha=0.7)
        for event in summary.get("tpt_interruptions") or []:  # a late loss spike: the terminal phase broke
            ax.axvline(event["epoch"], color="black", linestyle=":", linewidth=1)
    if log:
        ax.set_yscale("log")
        readable_log_axis(ax)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    markers = [("TPT onset", "--"), ("lr ÷10", "-.")]
    if any(s.get("tpt_interruptions") for _, _, s in runs):
        markers.append(("TPT interrupted", ":"))
    for label, style in markers:
        handles.append(Line2D([], [], color="gray", linestyle=style, linewidth=1))
        labels.append(label)
    ax.legend(handles, labels, fontsize=7)


def fmt(v):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "%.4g" % v
    return str(v)


def facts(run_dir, lines, summary):
    """The run's facts, formatted, with the warnings a reader must see."""
    s = summary
    text = ["%s" % run_name(run_dir),
            "%s, %s%s width %s, %s epochs" % (fmt(s.get("dataset")), fmt(s.get("arch")), fmt(s.get("depth")),
                                              fmt(s.get("width")), fmt(s.get("epochs"))),
            "lr ÷10 after epochs %s" % (", ".join(str(e) for e in lr_decays(s, lines)) or "–"),
            "TPT onset: epoch %s; first zero error: epoch %s" % (fmt(s.get("tpt_onset_epoch")),
                                                                fmt(s.get("first_zero_error_epoch"))),
            "test accuracy: %s at first zero error, %s at the end" % (fmt(s.get("test_accuracy_at_first_zero_error")),
                                                                      fmt(s.get("test_accuracy_at_last_epoch")))]
    if s.get("status") and s["status"] != "finished":
        text.append("status: %s" % s["status"])
    tp = s.get("terminal_phase")
    if tp:
        text.append("terminal phase, epoch %s → %s:" % (tp["from_epoch"], tp["to_epoch"]))
        for k in ("nc1", "equinorm_means", "equiangular_means", "nc3", "nc4"):
            if k in tp:
                text.append("  %s: %s → %s" % (k, fmt(tp[k]["at_onset"]), fmt(tp[k]["final"])))
        if "nc1_reduction" in tp:
            text.append("  NC1 %.1f× lower" % tp["nc1_reduction"])
        breaks = s.get("tpt_interruptions") or []
        if breaks:
            text.append("TPT interrupted at epoch %s (dotted)" % ", ".join(str(b["epoch"]) for b in breaks))
            stretch = tp.get("last_uninterrupted_stretch")
            if stretch:
                text.append("  last stretch %s → %s: NC1 %.1f× lower" % (
                    stretch["from_epoch"], stretch["to_epoch"], stretch["nc1_reduction"]))
    warnings = []
    if decayed_before_tpt(s, lines):
        warnings.append("the learning rate decayed before the terminal phase began: the collapse happens "
                        "mostly at the initial rate, so this run's terminal-phase change says little")
    return text, warnings


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", help="folder for the PNGs (one run: default RUN_DIR/plots)")
    args = parser.parse_args()
    if len(args.runs) > 1 and not args.out:
        sys.exit("plot_nc.py: several runs: give --out DIR (the overlay is not written into any run's folder)")
    runs = [(d, *read_run(d)) for d in args.runs]
    out = args.out or os.path.join(args.runs[0], "plots")
    os.makedirs(out, exist_ok=True)
    panels = list(PANELS)
    if any(value(l, ROBUSTNESS[3][0][0]) is not None for _, lines, _ in runs for l in lines):
        panels.append(ROBUSTNESS)
    cells = len(panels) + 1  # the panels and one cell of run facts
    cols = 3 if cells <= 9 else 4
    rows = (cells + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows))
    for ax in axes.flat[len(panels) + 1:]:
        ax.axis("off")
    for ax, (name, title, ylabel, keys, log) in zip(axes.flat, panels):
        draw(ax, runs, title, ylabel, keys, log)
        single, sax = plt.subplots(figsize=(5, 3.5))
        draw(sax, runs, title, ylabel, keys, log)
        single.tight_layout()
        single.savefig(os.path.join(out, name + ".png"), dpi=110)
        plt.close(single)
    panel = axes.flat[len(panels)]
    panel.axis("off")
    text = []
    for run_dir, lines, summary in runs:
        run_text, warnings = facts(run_dir, lines, summary)
        text += run_text + ["warning: " + w for w in warnings] + [""]
        for w in warnings:
            print("plot_nc.py: warning: %s: %s" % (run_dir, w), file=sys.stderr)
    panel.text(0, 1, "\n".join(text), fontsize=8 if len(runs) == 1 else 6.5, va="top", wrap=True)
    fig.suptitle("Neural Collapse: " + ", ".join(run_name(d) for d in args.runs))
    fig.tight_layout()
    path = os.path.join(out, "nc_metrics.png")
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    print("plot_nc.py: wrote", path)


if __name__ == "__main__":
    main()
