#!/usr/bin/env python3
"""Summarises the runs of experiments/beyond-study into docs/results/beyond/: README.md (tables), summary.json
and figure.png (NC1 per loss; minority classifier cosines per imbalance ratio; the separation law; the MSE
loss decomposition of the MSE run).

    beyond_summary.py RUNS_DIR OUT_DIR [--commit SHA]

README.md's "## What was seen" section is written by hand and kept when the script runs again.
Needs matplotlib for the figure (Debian's /usr/bin/python3 has it after scripts/setup); the tables do not.
"""
import argparse
import json
import math
import os
import sys


def read_run(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(folder, "summary.json")) as f:
        summary = json.load(f)
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    return {"config": config, "summary": summary, "lines": lines}


def fmt(v, digits=3):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return "%.*g" % (digits, v)
    return str(v)


def onset_line(run):
    onset = run["summary"].get("tpt_onset_epoch")
    for line in run["lines"]:
        if onset is not None and line["epoch"] >= onset:
            return line
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("out")
    ap.add_argument("--commit", default="")
    args = ap.parse_args()
    names = ["ce", "mse", "ls0.1", "imb10", "imb100", "vgg11-ce"]
    runs = {n: read_run(os.path.join(args.runs, n)) for n in names if os.path.exists(os.path.join(args.runs, n, "summary.json"))}
    missing = [n for n in names if n not in runs]
    if missing:
        sys.exit("beyond_summary.py: no finished run for %s in %s" % (", ".join(missing), args.runs))
    os.makedirs(args.out, exist_ok=True)
    out = {"commit": args.commit, "runs": {}}
    md = ["# Beyond the paper: a small study at the demo's scale", "",
          "Fashion-MNIST, 100 training images per class (200 per class for test), ResNet18 at width 1/8 (and VGG11 at",
          "width 1/8), batch 64, SGD lr 0.0354 for 400 epochs then /10 at 400 and 425, 450 epochs, seed 0, one thread",
          "per run. Produced by `experiments/beyond-study` (two runs at a time) and",
          "`experiments/beyond_summary.py runs/beyond docs/results/beyond`%s." % (
              (" at commit " + args.commit) if args.commit else ""), "",
          "![figure](figure.png)", ""]

    md += ["## Losses (ResNet18): NC at TPT onset and at the end", "",
           "| loss | TPT onset | final train / test error | NC1 onset → end (×) | Tr Σ_W/Tr Σ_B end | CDNV end | ETF error (means) end | NC3 end | NC4 end | test-set NC1 end |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for n, label in (("ce", "cross-entropy"), ("mse", "MSE (κ = 1)"), ("ls0.1", "label smoothing 0.1")):
        r = runs[n]
        end, onset = r["lines"][-1], onset_line(r)
        red = onset["nc1"] / end["nc1"] if onset and end["nc1"] else None
        tc = end.get("test_collapse", {})
        md.append("| %s | %s | %s / %s | %s → %s (%s) | %s | %s | %s | %s | %s | %s |" % (
            label, fmt(r["summary"].get("tpt_onset_epoch")), fmt(end["train_error"]), fmt(end["test_error"]),
            fmt(onset["nc1"] if onset else None), fmt(end["nc1"]), fmt(red), fmt(end.get("nc1_quotient")),
            fmt(end.get("cdnv")), fmt(end.get("etf_error_means")), fmt(end["nc3"]), fmt(end["nc4"]), fmt(tc.get("nc1"))))
        out["runs"][n] = {"tpt_onset_epoch": r["summary"].get("tpt_onset_epoch"), "final": {k: end.get(k) for k in (
            "train_error", "test_error", "nc1", "nc1_quotient", "cdnv", "etf_error_means", "nc3", "nc4")},
            "nc1_at_onset": onset["nc1"] if onset else None, "test_collapse_nc1": tc.get("nc1")}

    md += ["", "## The MSE loss decomposition (Han, Papyan & Donoho 2022), train features", "",
           "L = ½·mean‖W h + b − e_y‖² + ½λ(‖W‖² + ‖b‖²) of the trained classifier (λ = 5e-4, the run's weight "
           "decay); L_LS = L_NC1 + L_NC2/3 that of the (ridge) least-squares classifier for the same features; "
           "L_⊥ = L − L_LS (docs/metrics.md). The central path is L_⊥ ≪ L_LS.", "",
           "| loss | epoch | L | L_NC1 | L_NC2/3 | L_⊥ | L_⊥ / L |", "|---|---|---|---|---|---|---|"]
    for n, label in (("mse", "MSE"), ("ce", "cross-entropy")):
        r = runs[n]
        chosen = [l for l in r["lines"] if l.get("mse_decomposition")]
        onset = onset_line(r)
        picks = [l for l in chosen if l["epoch"] in (1, onset["epoch"] if onset else -1, chosen[-1]["epoch"] if chosen else -1)]
        for l in picks:
            d = l["mse_decomposition"]
            md.append("| %s | %d%s | %s | %s | %s | %s | %s |" % (
                label, l["epoch"], " (TPT onset)" if onset and l["epoch"] == onset["epoch"] else "", fmt(d["loss"]),
                fmt(d["nc1_term"]), fmt(d["nc2_3_term"]), fmt(d["perpendicular"]),
                fmt(d["perpendicular"] / d["loss"] if d["loss"] else None)))
        out["runs"].setdefault(n, {})["mse_decomposition_end"] = chosen[-1]["mse_decomposition"] if chosen else None

    md += ["", "## Class imbalance (step profile: classes 5-9 have 1/R of the images)", "",
           "| R | train images | minority classifiers: mean cosine | majority classifiers: mean cosine | minority means: mean cosine | simplex ETF | NC1 per class, minority / majority mean | test error |",
           "|---|---|---|---|---|---|---|---|"]
    for n, R in (("ce", 1), ("imb10", 10), ("imb100", 100)):
        r = runs[n]
        end = r["lines"][-1]
        mc = end.get("minority_collapse", {})
        counts = r["config"].get("train_class_counts", [])
        per_class = end.get("nc1_per_class") or []
        minority = [c for c in range(len(counts)) if counts[c] < max(counts)] if counts else []
        majority = [c for c in range(len(counts)) if c not in minority]
        def mean_of(cs):
            vals = [per_class[c] for c in cs if c < len(per_class) and per_class[c] is not None]
            return sum(vals) / len(vals) if vals else None
        mino = mc.get("minority", {}) if mc else {}
        majo = mc.get("majority", {}) if mc else {}
        md.append("| %d | %d | %s | %s | %s | %s | %s / %s | %s |" % (
            R, sum(counts), fmt((mino.get("classifiers") or {}).get("mean_cosine")),
            fmt((majo.get("classifiers") or {}).get("mean_cosine")), fmt((mino.get("means") or {}).get("mean_cosine")),
            fmt(mc.get("etf_cosine")), fmt(mean_of(minority)), fmt(mean_of(majority)), fmt(end["test_error"])))
        out["runs"].setdefault(n, {})["minority_collapse"] = mc

    md += ["", "## The law of data separation (final epoch, train set)", "",
           "| network | stages | ratio per stage | R² | log-fuzziness per stage |", "|---|---|---|---|---|"]
    for n, label in (("ce", "ResNet18 w1/8"), ("vgg11-ce", "VGG11 w1/8")):
        lw = runs[n]["lines"][-1].get("layerwise_nc1", {})
        law = lw.get("separation_law", {})
        C = runs[n]["lines"][-1]["num_classes"]
        logs = ["%.2f" % math.log(C * s["nc1"]) if s.get("nc1") else "-" for s in lw.get("stages", [])]
        md.append("| %s | %s | %s | %s | %s |" % (label, fmt(law.get("points")), fmt(law.get("ratio_per_stage")),
                                                fmt(law.get("r_squared")), " ".join(logs)))
        out["runs"].setdefault(n, {})["separation_law"] = law

    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(out, f, indent=1)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("beyond_summary.py: no matplotlib: figure skipped")
        plt = None
    if plt:
        fig, ax = plt.subplots(1, 4, figsize=(20, 4))
        for n, label in (("ce", "cross-entropy"), ("mse", "MSE"), ("ls0.1", "label smoothing 0.1")):
            e = [l["epoch"] for l in runs[n]["lines"] if l["epoch"] > 0]
            ax[0].plot(e, [l["nc1"] for l in runs[n]["lines"] if l["epoch"] > 0], marker=".", label=label)
        ax[0].set(xscale="log", yscale="log", xlabel="epoch", ylabel="NC1 = Tr(Σ_W Σ_B⁺)/C", title="NC1 by loss")
        ax[0].legend()
        for n, label in (("ce", "R = 1"), ("imb10", "R = 10"), ("imb100", "R = 100")):
            pts = [(l["epoch"], l["minority_collapse"]["minority"]["classifiers"]["mean_cosine"]) for l in runs[n]["lines"]
                   if l["epoch"] > 0 and l.get("minority_collapse") and
                   l["minority_collapse"]["minority"]["classifiers"]["mean_cosine"] is not None]
            if pts:
                ax[1].plot(*zip(*pts), marker=".", label=label)
        ax[1].axhline(-1 / 9, color="grey", ls="--", label="simplex ETF −1/(C−1)")
        ax[1].set(xscale="log", xlabel="epoch", ylabel="mean cosine", title="minority classifiers (classes 5-9)")
        ax[1].legend()
        for n, label in (("ce", "ResNet18"), ("vgg11-ce", "VGG11")):
            stages = runs[n]["lines"][-1].get("layerwise_nc1", {}).get("stages", [])
            C = runs[n]["lines"][-1]["num_classes"]
            ax[2].plot(range(len(stages)), [C * s["nc1"] if s.get("nc1") else float("nan") for s in stages], marker="o", label=label)
        ax[2].set(yscale="log", xlabel="stage", ylabel="Tr(Σ_W Σ_B⁺)", title="separation fuzziness by stage (end)")
        ax[2].legend()
        pts = [l for l in runs["mse"]["lines"] if l["epoch"] > 0 and l.get("mse_decomposition")]
        for key, label in (("loss", "L"), ("nc1_term", "L_NC1"), ("nc2_3_term", "L_NC2/3"), ("perpendicular", "L_⊥")):
            ax[3].plot([l["epoch"] for l in pts], [max(l["mse_decomposition"][key], 1e-12) for l in pts], marker=".",
                       label=label)
        ax[3].set(xscale="log", yscale="log", xlabel="epoch", ylabel="loss term", title="MSE run: loss decomposition")
        ax[3].legend()
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "figure.png"), dpi=80)
    # The hand-written "What was seen" section (interpretation) survives a rerun of this script.
    readme = os.path.join(args.out, "README.md")
    kept = ""
    if os.path.exists(readme):
        with open(readme) as f:
            text = f.read()
        if "## What was seen" in text:
            kept = "\n" + text[text.index("## What was seen"):]
    with open(readme, "w") as f:
        f.write("\n".join(md) + "\n" + kept)
    print("beyond_summary.py: wrote %s/README.md, summary.json%s" % (args.out, ", figure.png" if plt else ""))


if __name__ == "__main__":
    main()
