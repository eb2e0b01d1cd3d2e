#!/usr/bin/env python3
"""Draws a reproduce-paper grid in the layout of Papyan, Han & Donoho (PNAS 2020), Figures 1-8 and Table 1.

    paper_figures.py GRID [--out DIR]

GRID holds grid.json (the cells: dataset, arch, depth, status, run folder) and the run folders it names.
Writes into DIR (default GRID), each file atomically:
  fig1_geometry.png        Gram matrices of the normalised centred class means at the end (cells with
                           geometry.json), rows = families, columns = datasets, plus the simplex ETF (C = 10)
  fig2_equinorm.png        CoV of norms: class means (top row), classifiers (bottom row); a panel per dataset
  fig3_equiangularity.png  std of cosines, same two rows
  fig4_maxangle.png        mean |cos + 1/(C-1)|, same two rows
  fig5_nc3.png             NC3 self-duality
  fig6_nc1.png             NC1 on a log axis
  fig7_nc4.png             NC4 (test): mismatch with the nearest class centre
  fig8_deepfool.png        DeepFool relative perturbation (only when some cell measured it)
  table1.md/.json          test accuracy at the first zero-error epoch -> last epoch beside the paper's
  nc_table.md/.json        every NC measure at TPT onset -> final, the NC1 reduction, whether the cell
                           meets the target (NC1 down >= 10x and final NC4 < 0.05), and the evidence where
                           it does not: loss spikes vs. flickers (experiments/tpt_events.py), the power law
                           NC1 ~ epoch^-alpha at the initial rate and the epoch it would reach 10x, the
                           train-set NC4 beside the test error
  figures.json             what each figure drew (rows, panels) and which were skipped, and why
One line per family (fixed colours), a dashed line of the same colour at its TPT onset, an "x" at a loss
spike (or NC1 reversal) and a "+" where the train error flickered (experiments/tpt_events.py). Exit status 1 on a malformed input file, 2 when GRID has no grid.json.
Needs matplotlib (Debian: python3-matplotlib, for /usr/bin/python3).
"""
import argparse
import json
import math
import os
import sys
import tempfile

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
except ImportError:
    sys.exit("paper_figures.py: matplotlib is missing for %s; install python3-matplotlib and run it with "
             "/usr/bin/python3" % sys.executable)

import tpt_events  # experiments/tpt_events.py, beside this file

PROG = "paper_figures.py"
DATASETS = ["mnist", "fashion-mnist", "kmnist", "svhn", "cifar10", "cifar100", "stl10", "imagenet"]
ARCHS = ["vgg", "resnet", "densenet"]
COLOURS = {"vgg": "tab:blue", "resnet": "tab:red", "densenet": "tab:green"}
PAPER = {  # Table 1 of the paper (NEURAL_COLLAPSE.md §5): test accuracy at the first zero-error epoch, last epoch
    "mnist": {"vgg": (99.40, 99.56), "resnet": (99.32, 99.71), "densenet": (99.65, 99.70)},
    "fashion-mnist": {"vgg": (92.92, 93.31), "resnet": (93.29, 93.64), "densenet": (94.18, 94.35)},
    "svhn": {"vgg": (93.82, 94.53), "resnet": (94.64, 95.70), "densenet": (95.87, 95.93)},
    "cifar10": {"vgg": (87.85, 88.65), "resnet": (88.72, 89.44), "densenet": (91.14, 91.19)},
    "cifar100": {"vgg": (63.03, 63.85), "resnet": (66.19, 66.21), "densenet": (77.19, 76.56)},
    "stl10": {"vgg": (65.15, 68.00), "resnet": (69.99, 70.24), "densenet": (67.79, 70.81)},
    "imagenet": {"vgg": (47.26, 50.12), "resnet": (65.41, 64.45), "densenet": (65.04, 62.38)},
}
# (file, [(row name, metrics key, y label)], log y). Rows of a figure share the panels (one per dataset).
LINE_FIGURES = [
    ("fig2_equinorm.png", [("train class means", "equinorm_means", "CoV of mean norms"),
                           ("classifiers", "equinorm_classifiers", "CoV of classifier norms")], False),
    ("fig3_equiangularity.png", [("train class means", "equiangular_means", "std of mean cosines"),
                                 ("classifiers", "equiangular_classifiers", "std of classifier cosines")], False),
    ("fig4_maxangle.png", [("train class means", "maxangle_means", "mean |cos + 1/(C-1)|, means"),
                           ("classifiers", "maxangle_classifiers", "mean |cos + 1/(C-1)|, classifiers")], False),
    ("fig5_nc3.png", [("NC3", "nc3", "NC3 self-duality")], False),
    ("fig6_nc1.png", [("NC1", "nc1", "NC1 Tr(Σ_W Σ_B⁺)/C")], True),
    ("fig7_nc4.png", [("NC4", "nc4", "NC4 NCC mismatch (test)")], False),
    ("fig8_deepfool.png", [("DeepFool", "deepfool.mean_relative_perturbation", "DeepFool ‖r‖/‖x‖ (test)")], False),
]
NC_KEYS = ["nc1", "equinorm_means", "equinorm_classifiers", "equiangular_means", "equiangular_classifiers", "nc3",
           "nc4"]
TARGET_NC1_REDUCTION, TARGET_NC4 = 10.0, 0.05
MARKERS = {"spike": ("x", 7), "flicker": ("+", 5)}  # (marker, size) on the lines where the terminal phase broke
DPI = 90


def fail(message, status=1):
    print("%s: %s" % (PROG, message), file=sys.stderr)
    sys.exit(status)


def fmt3(x):
    """3 significant digits, scientific without padding outside [1e-3, 1e4): 0.0123, 1.2e-4, 100, 1.23e4."""
    if x is None:
        return "–"
    if x == 0 or not math.isfinite(x):
        return "%g" % x
    if 1e-3 <= abs(x) < 1e4:
        return "%.3g" % x
    mantissa, exponent = ("%.2e" % x).split("e")
    return "%se%d" % (mantissa.rstrip("0").rstrip("."), int(exponent))


def number(x):
    """x when it is a finite number; None for null, booleans, strings and NaN, which are not points."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return x


def value(obj, key):
    """obj[key], where "a.b" reads a nested value; None when any step is absent."""
    for part in key.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


# ---------------------------------------------------------------------------------------------- reading

def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        fail("%s: not JSON: %s" % (path, e))


def read_metrics(path):
    """The measured lines; a line that is not a JSON object with an epoch stops the run (exit 1), since a
    plot silently missing epochs would be read as the run's behaviour."""
    lines = []
    with open(path) as f:
        for n, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError as e:
                fail("%s line %d: not JSON: %s" % (path, n, e))
            if not isinstance(line, dict) or number(line.get("epoch")) is None:
                fail("%s line %d: not a JSON object with a numeric \"epoch\"" % (path, n))
            lines.append(line)
    return lines


def read_cell(grid_dir, cell):
    """The grid entry with its run folder's files (each absent one as None / [])."""
    run = os.path.join(grid_dir, cell["run"]) if cell.get("run") else None
    data = {"cell": cell, "dataset": cell.get("dataset", "?"), "arch": cell.get("arch", "?"),
            "status": cell.get("status", "?"), "lines": [], "summary": None, "geometry": None, "config": None}
    if run is None or not os.path.isdir(run):
        return data
    if os.path.exists(os.path.join(run, "metrics.jsonl")):
        data["lines"] = read_metrics(os.path.join(run, "metrics.jsonl"))
    if os.path.exists(os.path.join(run, "summary.json")):
        data["summary"] = load_json(os.path.join(run, "summary.json"))
    if os.path.exists(os.path.join(run, "config.json")):
        data["config"] = load_json(os.path.join(run, "config.json"))
    if os.path.exists(os.path.join(run, "geometry.json")):
        data["geometry"] = check_geometry(os.path.join(run, "geometry.json"))
    return data


def check_geometry(path):
    g = load_json(path)
    m = g.get("mean_cosines") if isinstance(g, dict) else None
    if not isinstance(m, list) or not m or any(not isinstance(r, list) or len(r) != len(m) for r in m):
        fail("%s: \"mean_cosines\" is not a square list of lists" % path)
    if any(x is not None and number(x) is None for r in m for x in r):  # null: a zero vector's cosine
        fail("%s: \"mean_cosines\" holds a value that is neither a number nor null" % path)
    return g


def read_grid(grid_dir):
    path = os.path.join(grid_dir, "grid.json")
    if not os.path.isfile(path):
        fail("%s: no such file (GRID must be a folder with grid.json, as experiments/reproduce-paper writes)"
             % path, 2)
    grid = load_json(path)
    if not isinstance(grid, dict) or not isinstance(grid.get("cells"), list) or \
            not all(isinstance(c, dict) for c in grid["cells"]):
        fail("%s: no \"cells\" list of objects" % path)
    cells = [read_cell(grid_dir, c) for c in grid["cells"]]
    # Paper order (datasets, then families); anything unknown after, in grid order.
    rank = lambda order, x: order.index(x) if x in order else len(order)
    cells.sort(key=lambda c: (rank(DATASETS, c["dataset"]), rank(ARCHS, c["arch"])))  # stable: grid order kept
    return grid, cells


# ------------------------------------------------------------------------------------------- cell facts

def depth_of(c):
    return c["cell"].get("depth", (c["summary"] or {}).get("depth"))


def label(c):
    text = "%s%s" % (c["arch"], depth_of(c) if depth_of(c) is not None else "")
    return text if c["status"] == "done" else "%s (%s)" % (text, c["status"])


def onset(c):
    return number((c["summary"] or {}).get("tpt_onset_epoch"))


def interruptions(c):
    """Epochs where the terminal phase broke: those the summary records (entries {"epoch": e} or bare epochs)
    or, when it records none, every measured epoch after TPT onset whose train accuracy fell below the TPT
    threshold again (config.json's tpt_accuracy, 99.9% by default): a late loss spike must not pass for a
    collapse, nor be averaged over."""
    found = (c["summary"] or {}).get("tpt_interruptions")
    if found is not None:  # nc-experiment records them (an empty list: none); older runs: derived below
        epochs = [number(i.get("epoch") if isinstance(i, dict) else i) for i in found]
        return [e for e in epochs if e is not None]
    start = onset(c)
    if start is None:
        return []
    allowed = 1.0 - (number((c["config"] or {}).get("tpt_accuracy")) or 0.999) + 1e-9  # slack: errors/count
    return [l["epoch"] for l in c["lines"]
            if l["epoch"] > start and (number(l.get("train_error")) or 0.0) > allowed]


def last_stretch_reduction(c):
    """NC1 at the first measurement after the last interruption over NC1 at the end: the collapse of the
    last uninterrupted stretch of the terminal phase (None without interruptions or with no such stretch)."""
    stops = interruptions(c)
    if not stops:
        return None
    after = [l for l in c["lines"] if l["epoch"] > max(stops) and number(l.get("nc1"))]
    if len(after) < 2:
        return None
    return after[0]["nc1"] / after[-1]["nc1"]


def tpt_threshold(c):
    return 1.0 - (number((c["config"] or {}).get("tpt_accuracy")) or 0.999)


def spikes(c):
    """The interruptions that broke a settled terminal phase (tpt_events.spikes); the rest are flickers."""
    return tpt_events.spikes(c["lines"], interruptions(c), tpt_threshold(c))


def collapse_undone(c):
    """Spikes and hidden reversals, sorted (tpt_events.collapse_undone)."""
    return tpt_events.collapse_undone(c["lines"], interruptions(c), onset(c), tpt_threshold(c))


def hidden_reversals(c):
    """Measured epochs where NC1 jumped REVERSAL_FACTOR-fold or more without a recorded interruption there
    (tpt_events.hidden_reversals)."""
    return tpt_events.hidden_reversals(c["lines"], interruptions(c), onset(c))


def high_rate_exponent(c):
    """alpha of NC1 ~ epoch^-alpha at the initial learning rate over the settled terminal phase before any
    spike: from the last flicker (or onset) to the first spike (or the first decay). None with fewer than 3
    measurements there. (After a spike NC1 climbs back down from the spike's height, which says nothing
    about the rate of the collapse.)"""
    start = onset(c)
    lines = [l for l in c["lines"] if number(l.get("lr")) is not None]
    if start is None or not lines:
        return None
    high = [l for l in lines if l["lr"] == lines[0]["lr"] and l["epoch"] >= start]
    undone = collapse_undone(c)
    if undone:
        high = [l for l in high if l["epoch"] < min(undone)]
    flickers = [e for e in interruptions(c) if high and e <= high[-1]["epoch"]]
    if flickers:
        high = [l for l in high if l["epoch"] > max(flickers)]
    return tpt_events.power_law_exponent([(l["epoch"], number(l.get("nc1"))) for l in high])


def points(c, key, log):
    pts = [(l["epoch"], number(value(l, key))) for l in c["lines"]]
    return [(e, v) for e, v in pts if v is not None and (not log or v > 0)]


def datasets_with(cells, has):
    seen = []
    for c in cells:
        if has(c) and c["dataset"] not in seen:
            seen.append(c["dataset"])
    return seen


# -------------------------------------------------------------------------------------------- drawing

def temp_beside(path):
    """A temporary file in path's folder (so os.replace is atomic), readable like any file the user writes
    (mkstemp makes it 0600)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix="." + os.path.basename(path), suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


def save_figure(fig, path):
    fd, tmp = temp_beside(path)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=DPI, format="png")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    plt.close(fig)
    print("%s: wrote %s" % (PROG, path))


def write_text(path, text):
    fd, tmp = temp_beside(path)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    print("%s: wrote %s" % (PROG, path))


def nearest(pts, epoch):
    return min(pts, key=lambda p: abs(p[0] - epoch))


def draw_lines(ax, cells, key, log):
    """One line per cell of this dataset; returns the values drawn (for the log ticks) and whether any
    onset / spike / flicker mark was drawn (for the legend). Spikes include NC1 reversals between
    measurements (tpt_events.py); flickers are the other interruptions."""
    drawn, marks = [], {"onset": False, "spike": False, "flicker": False}
    for c in cells:
        pts = points(c, key, log)
        if not pts:
            continue  # a family with no data here simply has no line (and no onset mark)
        colour = COLOURS.get(c["arch"], "tab:gray")
        ax.plot(*zip(*pts), marker=".", markersize=3, linewidth=1.2, color=colour, label=label(c))
        drawn += [v for _, v in pts]
        if onset(c) is not None:
            ax.axvline(onset(c), color=colour, linestyle="--", linewidth=1)
            marks["onset"] = True
        undone = collapse_undone(c)
        for e in sorted(set(interruptions(c)) | set(undone)):
            kind = "spike" if e in undone else "flicker"
            ax.plot(*nearest(pts, e), marker=MARKERS[kind][0], markersize=MARKERS[kind][1], markeredgewidth=1.5,
                    color=colour)
            marks[kind] = True
    return drawn, marks


def legend(ax, marks):
    handles, labels = ax.get_legend_handles_labels()
    if marks["onset"]:  # once, whatever the number of families: the colour already says whose it is
        handles.append(Line2D([], [], color="gray", linestyle="--", linewidth=1))
        labels.append("TPT onset")
    for kind, text in (("spike", "loss spike"), ("flicker", "train error flicker")):
        if marks[kind]:
            handles.append(Line2D([], [], color="black", marker=MARKERS[kind][0], linestyle="none"))
            labels.append(text)
    if handles:
        ax.legend(handles, labels, fontsize=6)


def step125(x, up):
    """The nearest of ..., 0.1, 0.2, 0.5, 1, 2, 5, ... at or below x (at or above when up)."""
    e = math.floor(math.log10(x))
    ticks = [m * 10.0 ** k for k in (e - 1, e, e + 1) for m in (1, 2, 5)]
    return min(t for t in ticks if t >= x * (1 - 1e-9)) if up else max(t for t in ticks if t <= x * (1 + 1e-9))


def log_axis(ax, values):
    """A log y axis with at least two labelled ticks: the limits are widened to 1-2-5 steps around the data,
    so a panel spanning less than a decade still shows labelled ticks (matplotlib's default would label
    none). Returns the labels shown."""
    low, high = step125(min(values), False), step125(max(values), True)
    if high <= low:
        high = step125(high * 1.01, True)
    subs = (1.0,) if high / low > 1e3 else (1.0, 2.0, 5.0)
    ax.set_yscale("log")
    ax.set_ylim(low / 1.05, high * 1.05)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt3(v)))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=[s for s in range(2, 10) if s not in subs], numticks=12))
    ax.yaxis.set_minor_formatter(NullFormatter())
    lo, hi = ax.get_ylim()
    return [fmt3(t) for t in ax.yaxis.get_majorticklocs() if lo <= t <= hi]


def line_figure(path, rows, log, cells, datasets):
    """Rows x datasets panels of one measure; returns the manifest entry."""
    fig, axes = plt.subplots(len(rows), len(datasets), figsize=(2.9 * len(datasets) + 0.4, 2.5 * len(rows) + 0.3),
                             squeeze=False)
    entry = {"rows": [r[0] for r in rows], "panels": list(datasets)}
    ticks = {}
    for i, (row, key, ylabel) in enumerate(rows):
        for j, d in enumerate(datasets):
            ax = axes[i][j]
            drawn, marks = draw_lines(ax, [c for c in cells if c["dataset"] == d], key, log)
            if log and drawn:
                ticks["%s/%s" % (row, d)] = log_axis(ax, drawn)
            ax.set_title(d, fontsize=9)
            ax.set_xlabel("epoch", fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if i == 0:  # the rows share the cells, so one legend per column is enough
                legend(ax, marks)
    if log:
        entry["log_y_tick_labels"] = ticks
    fig.tight_layout()
    save_figure(fig, path)
    return entry


def max_deviation(gram):
    """max over c != c' of |cos + 1/(C-1)|: how far the geometry is from a simplex ETF."""
    n = len(gram)
    if n < 2:
        return None
    target = -1.0 / (n - 1)
    devs = [abs(gram[i][j] - target) for i in range(n) for j in range(n) if i != j and gram[i][j] is not None]
    return max(devs) if devs else None


def etf_gram(n):
    return [[1.0 if i == j else -1.0 / (n - 1) for j in range(n)] for i in range(n)]


def geometry_figure(path, cells):
    """Fig 1 stand-in: the end-of-training Gram matrices of the normalised centred class means."""
    geo = [c for c in cells if c["geometry"] is not None]
    datasets = datasets_with(geo, lambda c: True)
    families = [a for a in ARCHS if any(c["arch"] == a for c in geo)] + \
               [a for a in dict.fromkeys(c["arch"] for c in geo) if a not in ARCHS]
    etf_name, etf_c = "simplex ETF (C=10)", 10
    sizes = [len(c["geometry"]["mean_cosines"]) for c in geo] + [etf_c]
    vmin = min(-1.0 / (n - 1) for n in sizes if n > 1)  # one colour scale, the ETF's off-diagonal at the bottom
    fig, axes = plt.subplots(len(families), len(datasets) + 1, layout="constrained",  # room for the colour bar
                             figsize=(2.3 * (len(datasets) + 1) + 0.9, 2.4 * len(families) + 0.3), squeeze=False)
    entry = {"rows": families, "panels": datasets + [etf_name], "titles": {}, "max_deviation": {}}
    image = None
    for ax in axes.flat:
        ax.axis("off")
    for c in geo:
        gram = c["geometry"]["mean_cosines"]
        dev = max_deviation(gram)
        ax = axes[families.index(c["arch"])][datasets.index(c["dataset"])]
        title = "%s %s%s\nmax |cos+1/(C-1)| %s" % (c["dataset"], c["arch"], depth_of(c) or "", fmt3(dev))
        image = show_gram(ax, gram, vmin, title)
        entry["titles"]["%s/%s" % (c["dataset"], c["arch"])] = title
        entry["max_deviation"]["%s/%s" % (c["dataset"], c["arch"])] = dev
    gram = etf_gram(etf_c)
    title = "%s\nmax |cos+1/(C-1)| %s" % (etf_name, fmt3(max_deviation(gram)))
    image = show_gram(axes[0][len(datasets)], gram, vmin, title)
    entry["titles"][etf_name] = title
    fig.colorbar(image, ax=axes, shrink=0.8, label="cos(μ_c − μ_G, μ_c' − μ_G)")
    save_figure(fig, path)
    return entry


def show_gram(ax, gram, vmin, title):
    ax.axis("on")
    gram = [[math.nan if x is None else x for x in row] for row in gram]  # a null cosine is left blank
    image = ax.imshow(gram, vmin=vmin, vmax=1.0, cmap="viridis", interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    return image


# --------------------------------------------------------------------------------------------- tables

def pct(x):
    return "–" if number(x) is None else "%.2f" % (100 * x)


def depth_text(c):
    depth, paper = depth_of(c), c["cell"].get("paper_depth")
    if paper is not None and depth != paper:
        return "%s (paper: %s)" % (depth, paper)
    return "–" if depth is None else str(depth)


def md_escape(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def status_text(c):
    note = c["cell"].get("note")
    return c["status"] if c["status"] == "done" or not note else "%s: %s" % (c["status"], note)


def table1(cells):
    rows, md = [], ["| dataset | family | depth | ours: first zero-error → last (%) | paper (%) | TPT onset | status |",
                    "|---|---|---|---|---|---|---|"]
    for c in cells:
        s = c["summary"] or {}
        first, last = s.get("test_accuracy_at_first_zero_error"), s.get("test_accuracy_at_last_epoch")
        paper = PAPER.get(c["dataset"], {}).get(c["arch"])
        ours = "–" if number(first) is None and number(last) is None else "%s → %s" % (pct(first), pct(last))
        md.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            c["dataset"], c["arch"], depth_text(c), ours, "–" if paper is None else "%.2f → %.2f" % paper,
            "–" if onset(c) is None else onset(c), md_escape(status_text(c))))
        rows.append({"name": c["cell"].get("name"), "dataset": c["dataset"], "arch": c["arch"], "depth": depth_of(c),
                     "paper_depth": c["cell"].get("paper_depth"), "status": c["status"], "note": c["cell"].get("note"),
                     "test_accuracy_at_first_zero_error": number(first), "test_accuracy_at_last_epoch": number(last),
                     "paper_accuracy_pct": None if paper is None else {"first_zero_error": paper[0], "last": paper[1]},
                     "tpt_onset_epoch": onset(c)})
    return "\n".join(md) + "\n", {"rows": rows}


def target(c):
    """(meets, reason): NC1 down >= 10x over the terminal phase and final NC4 < 0.05."""
    s = c["summary"]
    if s is None:
        return False, "%s, no summary" % c["status"]
    tp = s.get("terminal_phase")
    if onset(c) is None or not isinstance(tp, dict):
        return False, "no TPT"
    reasons = []
    reduction = number(tp.get("nc1_reduction"))
    if reduction is None:
        reasons.append("no NC1 reduction")
    elif reduction < TARGET_NC1_REDUCTION:
        reasons.append("NC1 only %sx" % fmt3(reduction))
    nc4 = number(value(tp, "nc4.final"))
    if nc4 is None:
        reasons.append("no NC4")
    elif nc4 >= TARGET_NC4:
        reasons.append("NC4 %s" % fmt3(nc4))
    return not reasons, "; ".join(reasons)


def listed(epochs):
    return ",".join("%g" % e for e in epochs)


def evidence(c, reduction):
    """What the run says about why it misses the target: its spikes and flickers, how fast NC1 was still
    falling at the initial rate, and, for NC4, the train-set NCC mismatch beside the test error."""
    notes, stops, spiked = [], interruptions(c), spikes(c)
    if spiked:
        plural = "s" if len(spiked) > 1 else ""
        notes.append("loss spike%s at epoch%s %s" % (plural, plural, listed(spiked)))
    undone = hidden_reversals(c)
    if undone:
        notes.append("NC1 rose %gx or more since the previous measurement at epoch%s %s, a spike between "
                     "measurements" % (tpt_events.REVERSAL_FACTOR, "s" if len(undone) > 1 else "", listed(undone)))
    flickers = [e for e in stops if e not in spiked]
    if flickers:
        notes.append("train error flickered (threshold held < %d epochs) at %s"
                     % (tpt_events.SETTLED_EPOCHS, listed(flickers)))
    if stops and last_stretch_reduction(c) is not None:
        notes.append("NC1 %sx lower over the last uninterrupted stretch" % fmt3(last_stretch_reduction(c)))
    alpha = high_rate_exponent(c)
    if reduction is not None and reduction < TARGET_NC1_REDUCTION and alpha is not None:
        needed = tpt_events.epochs_for_reduction(onset(c), alpha, TARGET_NC1_REDUCTION)
        notes.append("NC1 ~ epoch^-%.2f at the initial rate%s" % (alpha, "" if needed is None else
                     ": %gx from onset by epoch %s" % (TARGET_NC1_REDUCTION, "~%d" % round(needed, -1)
                                                              if needed < 1e4 else "> 10,000")))
    final = (c["summary"] or {}).get("final") or {}
    nc4 = number(value((c["summary"] or {}).get("terminal_phase") or {}, "nc4.final"))
    if nc4 is not None and nc4 >= TARGET_NC4 and number(final.get("nc4_train")) is not None:
        notes.append("train NC4 %s, test error %s" % (fmt3(final["nc4_train"]), fmt3(number(final.get("test_error")))))
    return notes, spiked, flickers, undone, alpha


def nc_table(cells):
    head = ["dataset", "family", "status", "TPT onset"] + NC_KEYS + ["NC1 reduction", "meets target", "evidence"]
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = []
    for c in cells:
        tp = (c["summary"] or {}).get("terminal_phase") or {}
        values = {k: {"at_onset": number(value(tp, k + ".at_onset")), "final": number(value(tp, k + ".final"))}
                  for k in NC_KEYS}
        reduction = number(tp.get("nc1_reduction"))
        meets, reason = target(c)
        notes, spiked, flickers, undone, alpha = evidence(c, reduction) if c["summary"] else ([], [], [], [], None)
        cols = [c["dataset"], c["arch"], c["status"], "–" if onset(c) is None else str(onset(c))]
        cols += ["–" if v["at_onset"] is None and v["final"] is None else "%s → %s" % (fmt3(v["at_onset"]),
                                                                                       fmt3(v["final"]))
                 for v in values.values()]
        cols += ["–" if reduction is None else fmt3(reduction) + "x", "yes" if meets else "no (%s)" % reason,
                 "; ".join(notes)]
        md.append("| " + " | ".join(md_escape(x) for x in cols) + " |")
        final = (c["summary"] or {}).get("final") or {}
        rows.append({"name": c["cell"].get("name"), "dataset": c["dataset"], "arch": c["arch"], "depth": depth_of(c),
                     "status": c["status"], "tpt_onset_epoch": onset(c), "values": values, "nc1_reduction": reduction,
                     "meets_target": meets, "reason": reason, "tpt_interruptions": interruptions(c),
                     "spikes": spiked, "flickers": flickers, "nc1_reversals_between_measurements": undone,
                     "nc1_reduction_last_stretch": last_stretch_reduction(c),
                     "nc1_power_law_exponent_at_initial_lr": alpha,
                     "nc4_train_final": number(final.get("nc4_train")), "test_error_final": number(final.get("test_error"))})
    return "\n".join(md) + "\n", {"target": {"nc1_reduction_at_least": TARGET_NC1_REDUCTION,
                                             "final_nc4_below": TARGET_NC4},
                                  "spike_rule": "an interruption after the TPT threshold held for %d epochs or more"
                                                % tpt_events.SETTLED_EPOCHS,
                                  "reversal_rule": "NC1 %g times or more its previous measurement after TPT onset"
                                                   % tpt_events.REVERSAL_FACTOR, "cells": rows}


# ----------------------------------------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grid", help="a grid folder (with grid.json)")
    parser.add_argument("--out", help="where to write (default: GRID)")
    args = parser.parse_args()
    _, cells = read_grid(args.grid)  # everything is read (and checked) before anything is written
    out = args.out or args.grid
    os.makedirs(out, exist_ok=True)
    manifest = {"figures": {}, "skipped": {}}
    with_data = datasets_with(cells, lambda c: c["status"] == "done" or c["lines"])
    for name, rows, log in LINE_FIGURES:
        datasets = with_data
        if name == "fig8_deepfool.png":  # drawn only where a cell measured it (--measure deepfool)
            datasets = datasets_with(cells, lambda c: bool(points(c, rows[0][1], False)))
            if not datasets:
                manifest["skipped"][name] = "no cell measured deepfool"
                continue
        if not datasets:
            manifest["skipped"][name] = "no cell has data (none done, none with metrics)"
            continue
        manifest["figures"][name] = line_figure(os.path.join(out, name), rows, log, cells, datasets)
    if any(c["geometry"] is not None for c in cells):
        manifest["figures"]["fig1_geometry.png"] = geometry_figure(os.path.join(out, "fig1_geometry.png"), cells)
    else:
        manifest["skipped"]["fig1_geometry.png"] = "no cell has geometry.json"
    for stem, (md, data) in (("table1", table1(cells)), ("nc_table", nc_table(cells))):
        write_text(os.path.join(out, stem + ".md"), md)
        write_text(os.path.join(out, stem + ".json"), json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    write_text(os.path.join(out, "figures.json"), json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
