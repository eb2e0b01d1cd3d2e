#!/usr/bin/env python3
"""Compares two published runs of the paper's grid cell by cell (the folders reproduce-paper --publish
writes: nc_table.json, table1.json, grid.json) and applies the paper's learning-rate rule across them.

    compare_grids.py GRID_A GRID_B [--out FILE.md] [--json FILE.json]

Per cell and grid: the learning rate, TPT onset, NC1 reduction over the terminal phase, final NC4, the
epochs where the terminal phase was interrupted, test accuracy at the last epoch, whether the cell meets
the target; then the grid the paper's rule picks (of the runs, the one with the best final test
accuracy; NEURAL_COLLAPSE.md §1: "kept the run with the best final test error") and whether that pick
meets the target. Standard library only.
"""
import argparse
import json
import os
import sys


def load(folder):
    def read(name):
        path = os.path.join(folder, name)
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            sys.exit("compare_grids.py: %s: %s" % (path, e))
    nc, table1, grid = read("nc_table.json"), read("table1.json"), read("grid.json")
    lr = {c["name"]: c.get("lr") for c in grid.get("cells", [])}
    accuracy = {r["name"]: r.get("test_accuracy_at_last_epoch") for r in table1["rows"]}
    cells = {}
    for c in nc["cells"]:
        cells[c["name"]] = {"lr": lr.get(c["name"]), "status": c["status"], "tpt_onset_epoch": c.get("tpt_onset_epoch"),
                            "nc1_reduction": c.get("nc1_reduction"),
                            "nc4_final": (c.get("values", {}).get("nc4") or {}).get("final"),
                            "interruptions": c.get("tpt_interruptions") or [], "meets_target": c.get("meets_target"),
                            "test_accuracy": accuracy.get(c["name"])}
    return cells


def pick(runs):
    """The paper's rule: the run with the best final test accuracy (ties: the first); None without any."""
    scored = [(r["test_accuracy"], -i) for i, r in enumerate(runs) if r and r["test_accuracy"] is not None]
    return -max(scored)[1] if scored else None


def compare(a, b):
    names = list(a) + [n for n in b if n not in a]
    rows = []
    for name in names:
        runs = [a.get(name), b.get(name)]
        chosen = pick(runs)
        rows.append({"name": name, "runs": runs, "paper_rule_pick": chosen,
                     "pick_meets_target": None if chosen is None else runs[chosen]["meets_target"]})
    return rows


def fmt(run):
    if not run or run["status"] != "done":
        return "– | – | – | – | – | %s" % ("–" if not run else run["status"])
    red = "–" if run["nc1_reduction"] is None else "%.1f×" % run["nc1_reduction"]
    nc4 = "–" if run["nc4_final"] is None else "%.3f" % run["nc4_final"]
    acc = "–" if run["test_accuracy"] is None else "%.1f" % (100 * run["test_accuracy"])
    breaks = ", ".join(str(e) for e in run["interruptions"]) or "none"
    return "%s | %s | %s | %s | %s | %s" % (run["tpt_onset_epoch"], red, nc4, breaks, acc,
                                           "yes" if run["meets_target"] else "no")


def markdown(rows, labels):
    head = "| cell | " + " | ".join("%s: onset | NC1 ↓ | NC4 | interrupted at | test acc (%%) | target" % l
                                     for l in labels) + " | paper's rule picks | pick meets target |"
    lines = [head, "|" + "---|" * (1 + 12 + 2)]
    for r in rows:
        picked = "–" if r["paper_rule_pick"] is None else labels[r["paper_rule_pick"]]
        meets = "–" if r["pick_meets_target"] is None else ("yes" if r["pick_meets_target"] else "no")
        lines.append("| %s | %s | %s | %s | %s |" % (r["name"], fmt(r["runs"][0]), fmt(r["runs"][1]), picked, meets))
    done = [r for r in rows if r["paper_rule_pick"] is not None]
    counts = [sum(1 for r in rows if r["runs"][i] and r["runs"][i]["meets_target"]) for i in (0, 1)]
    lines += ["", "Cells meeting the target: %s; with the paper's rule over both: %d of %d." % (
        ", ".join("%s %d" % (l, n) for l, n in zip(labels, counts)),
        sum(1 for r in done if r["pick_meets_target"]), len(done))]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grids", nargs=2)
    p.add_argument("--labels", help="names of the two grids in the table (default: their lr)")
    p.add_argument("--out")
    p.add_argument("--json")
    args = p.parse_args()
    a, b = load(args.grids[0]), load(args.grids[1])
    if args.labels:
        labels = args.labels.split(",")
    else:
        labels = ["lr %s" % next((r["lr"] for r in g.values() if r["lr"] is not None), "?") for g in (a, b)]
    rows = compare(a, b)
    text = markdown(rows, labels)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"labels": labels, "rows": rows}, f, indent=2)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
