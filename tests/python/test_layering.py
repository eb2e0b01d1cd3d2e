#!/usr/bin/env python3
"""Who may include whom (docs/design.md, "Layering"): every #include "<folder>/..." of the library's folders
is checked against the folders that folder may depend on. Never upward: kernels know no graph, ops know no
modules, optim knows no models or data, only train/ and the experiments hold communicators, and nothing in
the library includes experiments/, tests/ or benchmarks/. Standard library only."""
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALLOWED = {
    "core": {"core"},
    "backends": {"core", "backends"},
    "autograd": {"core", "backends", "autograd"},
    "layers": {"core", "backends", "autograd", "layers"},
    "optim": {"core", "backends", "autograd", "optim"},
    "data": {"core", "data"},
    "distributed": {"core", "distributed"},
    "nc": {"core", "backends", "autograd", "layers", "data", "nc"},
    "train": {"core", "backends", "autograd", "layers", "optim", "data", "distributed", "train"},
}
PROJECT_FOLDERS = set(ALLOWED) | {"experiments", "tests", "benchmarks"}
INCLUDE = re.compile(r'\s*#\s*include\s+"([A-Za-z_]+)/')


def violations():
    found = []
    for top, allowed in ALLOWED.items():
        for root, _, files in os.walk(os.path.join(REPO, top)):
            for name in sorted(files):
                if not name.endswith((".h", ".cpp", ".cu", ".cuh")):
                    continue
                path = os.path.join(root, name)
                with open(path, errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if m and m.group(1) in PROJECT_FOLDERS and m.group(1) not in allowed:
                            found.append(f"{os.path.relpath(path, REPO)}:{number}: {top}/ may not include "
                                         f"{m.group(1)}/ ({line.strip()})")
    return found


def main():
    found = violations()
    # The checker must see includes at all: a folder list that matched nothing would pass vacuously.
    assert INCLUDE.match('#include "backends/dispatch.h"'), "include pattern broken"
    if found:
        print("\n".join(found))
        sys.exit(f"test_layering: {len(found)} include(s) against docs/design.md's layering")
    print("test_layering: every include of", ", ".join(sorted(ALLOWED)), "follows the layering")


if __name__ == "__main__":
    main()
