#!/usr/bin/env python3
"""How far the collapse goes at the initial learning rate, and when a spike undoes it: per cell of a grid,
the NC1 reduction from TPT onset at given epochs, its peak before the first decay (and where), and the
first spike or reversal (experiments/tpt_events.py). What docs/results/cpu-scale-long/ uses to choose where
the cpu grid decays the rate.

    high_rate_window.py GRID [--epochs 300,400,450] [--out FILE.md] [--json FILE.json]

GRID is a reproduce-paper folder (grid.json, cells/NAME/metrics.jsonl and summary.json). Each reduction is
NC1 at the onset measurement over NC1 at the last measured epoch at or before the one asked for. Standard
library only.
"""
import argparse
import json
import os
import sys

import tpt_events  # experiments/tpt_events.py, beside this file


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as e:
        sys.exit("high_rate_window.py: %s: %s" % (path, e))


def read_lines(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []
    except (OSError, json.JSONDecodeError) as e:
        sys.exit("high_rate_window.py: %s: %s" % (path, e))


def window(lines, summary, config, epochs):
    onset = summary.get("tpt_onset_epoch")
    measured = [l for l in lines if l.get("nc1") is not None and l["nc1"] > 0]
    at_onset = next((l for l in measured if onset is not None and l["epoch"] >= onset), None)
    if at_onset is None:
        return {"tpt_onset_epoch": onset}
    base = at_onset["nc1"]

    def reduction_at(epoch):
        before = [l for l in measured if at_onset["epoch"] <= l["epoch"] <= epoch]
        return {"epoch": before[-1]["epoch"], "nc1_reduction": base / before[-1]["nc1"]} if before else None

    initial_lr = measured[0].get("lr")
    high = [l for l in measured if l["epoch"] >= at_onset["epoch"] and l.get("lr") == initial_lr]
    peak = min(high, key=lambda l: l["nc1"]) if high else at_onset
    interruptions = [b["epoch"] if isinstance(b, dict) else b for b in summary.get("tpt_interruptions") or []]
    threshold = 1.0 - ((config or {}).get("tpt_accuracy") or 0.999)
    broken = tpt_events.collapse_undone(lines, interruptions, onset, threshold)
    return {"tpt_onset_epoch": onset, "at": {str(e): reduction_at(e) for e in epochs},
            "peak_at_initial_lr": {"epoch": peak["epoch"], "nc1_reduction": base / peak["nc1"]},
            "first_spike_or_reversal": broken[0] if broken else None,
            "final": {"epoch": measured[-1]["epoch"], "nc1_reduction": base / measured[-1]["nc1"]}}


def markdown(rows, epochs):
    def red(x):
        return "–" if not x else "%.1f×" % x["nc1_reduction"]
    head = ["cell", "TPT onset"] + ["NC1 ↓ by %d" % e for e in epochs] + \
        ["peak at the initial rate (epoch)", "first spike or reversal", "NC1 ↓ at the end (epoch)"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        w = r["window"]
        if "at" not in w:
            out.append("| %s | %s |%s" % (r["name"], "–" if w.get("tpt_onset_epoch") is None else w["tpt_onset_epoch"],
                                          " – |" * (len(head) - 2)))
            continue
        out.append("| " + " | ".join(
            [r["name"], str(w["tpt_onset_epoch"])] + [red(w["at"][str(e)]) for e in epochs] +
            ["%s (%d)" % (red(w["peak_at_initial_lr"]), w["peak_at_initial_lr"]["epoch"]),
             "none" if w["first_spike_or_reversal"] is None else str(w["first_spike_or_reversal"]),
             "%s (%d)" % (red(w["final"]), w["final"]["epoch"])]) + " |")
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grid")
    p.add_argument("--epochs", default="300,400,450")
    p.add_argument("--out", help="Markdown table (default: stdout)")
    p.add_argument("--json")
    args = p.parse_args()
    epochs = [int(e) for e in args.epochs.split(",")]
    grid = read_json(os.path.join(args.grid, "grid.json"))
    if grid is None:
        sys.exit("high_rate_window.py: %s: no grid.json" % args.grid)
    rows = []
    for cell in grid.get("cells", []):
        run = os.path.join(args.grid, cell.get("run", "cells/" + cell["name"]))
        summary = read_json(os.path.join(run, "summary.json"))
        if summary is None:
            continue
        lines = read_lines(os.path.join(run, "metrics.jsonl"))
        rows.append({"name": cell["name"], "window": window(lines, summary, read_json(os.path.join(run, "config.json")),
                                                            epochs)})
    md = markdown(rows, epochs)
    if args.out:
        with open(args.out, "w") as f:
            f.write(md)
    else:
        sys.stdout.write(md)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"epochs": epochs, "cells": rows}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
