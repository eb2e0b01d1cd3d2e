#!/usr/bin/env python3
"""The whole CPU-scale job, collapse against the same job written in PyTorch, timed in one invocation.

One step is not the job: a run also loads and prepares its data, measures the collapse at ~40 epochs
(a pass over the training set and one over the test set each), writes metrics and checkpoints, and
plots. This script runs the protocol end to end in both frameworks, alternating (collapse, PyTorch,
collapse, ...), and reports each one's wall time, its terminal-phase onset and its final NC values:

  collapse  build/nc-experiment --dataset fashion-mnist --arch resnet --depth 18 --width W --per-class N
            --test-per-class T --epochs E --batch-size B --threads K --seed S (its defaults for the rest:
            lr 0.0679, momentum 0.9, weight decay 5e-4, decays x0.1 at E/3 and 2E/3, the notebook's
            measurement epochs scaled to E, checkpoints, plots)
  PyTorch   the same protocol in PyTorch's best CPU configuration (channels_last, tcmalloc and an
            optimised BLAS preloaded as benchmarks/compare_pytorch.py does, torch.set_num_threads(K)):
            collapse's training subset and initial weights (the collapse run's train_indices.npy and
            initial_model.safetensors; --own-draw: its own seeded draw and initialisation), the first T
            per class of the test set,
            per-channel mean/std of the training subset, 28x28 padded to 32x32 with raw 0 before
            normalising, the same ResNet18 (parameter count equal), SGD with the same settings and
            MultiStepLR, shuffled batches with the last incomplete one dropped; at each measured epoch
            the features of both sets exported with experiments/torch_export.py and measured with
            `collapse-analyze` (the same definitions as nc-experiment), one metrics line each.
Both jobs start from the same weights on the same examples; only the batch order (each framework's own
shuffle) and the arithmetic differ, so onsets and NC values agree within run-to-run spread, not exactly.
--seed S gives round r the seed S + r: three rounds time three different runs of the same size.

    benchmarks/whole_run.py                          # the issue's protocol: 300/class, 120 epochs, width 1/4
    benchmarks/whole_run.py --epochs 12 --rounds 1   # a quick look
Output: a table, and one JSON line per run with framework, round, wall_s, onset_epoch, final metrics and
phases_s (seconds per phase, from the closing "time:" line each job prints).
PyTorch is only needed by this script (Debian: apt-get install python3-torch python3-torchvision).
"""
import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "experiments"))
import compare_pytorch as peer  # noqa: E402  (models, interpreter and preload set-up)

CHILD_FLAG = "--pytorch-child"


def default_measure_epochs(epochs):
    """experiments/support/protocol.cpp's default_measure_epochs: the notebook's list scaled to `epochs`."""
    notebook = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 20, 22, 24, 27, 29, 32, 35, 38, 42, 45,
                50, 54, 59, 65, 71, 77, 85, 92, 101, 110, 121, 132, 144, 158, 172, 188, 206, 225, 245, 268, 293, 320,
                350]
    out = {0, epochs}
    for e in notebook:
        out.add(min(max(int(e * epochs / 350.0 + 0.5), 1), epochs))
    return sorted(out)


# ---------------------------------------------------------------- the PyTorch job (child process)

def read_idx(path):
    import numpy as np
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def balanced_subset(labels, per_class, rng):
    import numpy as np
    picks = [np.sort(rng.choice(np.flatnonzero(labels == c), per_class, replace=False)) for c in range(10)]
    return np.sort(np.concatenate(picks))


def first_per_class(labels, per_class):
    import numpy as np
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(10)]))


def pytorch_job(args):
    import numpy as np
    import torch
    import torch_export

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    root = args.data_root
    x_train = read_idx(os.path.join(root, "train-images-idx3-ubyte.gz"))
    y_train = read_idx(os.path.join(root, "train-labels-idx1-ubyte.gz"))
    x_test = read_idx(os.path.join(root, "t10k-images-idx3-ubyte.gz"))
    y_test = read_idx(os.path.join(root, "t10k-labels-idx1-ubyte.gz"))
    if args.replay:  # collapse's subset, checked against the protocol's rule
        train_idx = np.load(os.path.join(args.replay, "train_indices.npy"))
        in_range = train_idx.ndim == 1 and np.all((train_idx >= 0) & (train_idx < len(y_train)))
        counts = np.bincount(y_train[train_idx], minlength=10) if in_range else None
        if not in_range or len(np.unique(train_idx)) != len(train_idx) or not np.all(counts == args.per_class):
            sys.exit(f"whole_run.py: {args.replay}/train_indices.npy is not {args.per_class} distinct examples "
                     "per class")
    else:
        train_idx = balanced_subset(y_train, args.per_class, rng)
    test_idx = first_per_class(y_test, args.test_per_class)
    raw = x_train[train_idx].astype(np.float64) / 255.0
    mean, std = float(raw.mean()), float(raw.std())

    def prepare(images):  # pad with raw 0, then normalise (as torchvision's Pad before ToTensor/Normalize)
        padded = np.zeros((len(images), 1, 32, 32), np.float32)
        padded[:, 0, 2:30, 2:30] = images.astype(np.float32) / np.float32(255.0)
        t = (torch.from_numpy(padded) - np.float32(mean)) / np.float32(std)
        return t.contiguous(memory_format=torch.channels_last)

    xtr, ytr = prepare(x_train[train_idx]), torch.from_numpy(y_train[train_idx].astype(np.int64))
    xte, yte = prepare(x_test[test_idx]), torch.from_numpy(y_test[test_idx].astype(np.int64))

    model = peer.build_resnet(torch.nn, 18, args.width, 1, 32, 10)
    if args.replay:  # strict: every name and shape of collapse's state dict must match the peer's
        model.load_state_dict(torch_export.load_safetensors(os.path.join(args.replay, "initial_model.safetensors")))
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[args.epochs // 3, args.epochs * 2 // 3], gamma=0.1)
    measure = set(default_measure_epochs(args.epochs))
    n, b = len(ytr), args.batch
    generator = torch.Generator().manual_seed(args.seed)
    train_batches = [(xtr[i:i + 512], ytr[i:i + 512]) for i in range(0, n, 512)]
    test_batches = [(xte[i:i + 512], yte[i:i + 512]) for i in range(0, len(yte), 512)]
    os.makedirs(args.out, exist_ok=True)
    metrics_path = os.path.join(args.out, "metrics.jsonl")
    open(metrics_path, "w").close()

    def measure_now(epoch):
        folder = os.path.join(args.out, "features")
        torch_export.export(model, model.fc, train_batches, folder)
        torch_export.export(model, model.fc, test_batches, folder, prefix="test_")
        out_json = os.path.join(args.out, "analysis.json")
        f = lambda name: os.path.join(folder, name)  # noqa: E731
        subprocess.run([args.analyze, "--features", f("features.npy"), "--labels", f("labels.npy"), "--weights",
                        f("weights.npy"), "--bias", f("bias.npy"), "--test-features", f("test_features.npy"),
                        "--test-labels", f("test_labels.npy"), "--json", out_json], check=True,
                       stdout=subprocess.DEVNULL)
        with open(out_json) as fh:
            line = json.load(fh)
        line["epoch"] = epoch
        with open(metrics_path, "a") as fh:
            fh.write(json.dumps(line) + "\n")

    # The same split as nc-experiment's closing "time:" line, for the log: where the job's time went.
    measuring = 0.0

    def timed_measure(epoch):
        nonlocal measuring
        t0 = time.perf_counter()
        measure_now(epoch)
        measuring += time.perf_counter() - t0

    job_start = time.perf_counter()
    model.train()
    if 0 in measure:
        timed_measure(0)
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - b + 1, b):  # the last incomplete batch is dropped
            idx = order[start:start + b]
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        sched.step()
        if epoch in measure:
            timed_measure(epoch)
    total = time.perf_counter() - job_start
    print(f"time: training {total - measuring:.1f} s, measurements {measuring:.1f} s (export and collapse-analyze), "
          f"total {total:.1f} s (after start-up and data preparation)")


# ---------------------------------------------------------------- the parent: both jobs, alternating

def read_metrics(folder):
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def summary_of(lines):
    onset = next((m["epoch"] for m in lines if m.get("train_error") == 0), None)
    last = lines[-1] if lines else {}
    return {"onset_epoch": onset, "measurements": len(lines),
            **{k: last.get(k) for k in ("train_error", "test_error", "nc1", "nc3", "nc4", "equinorm_means",
                                        "equiangular_means")}}


def phases_of(log):
    """Seconds per phase from the job's closing "time: training 258.3 s, analysis 31.6 s, ..." line."""
    with open(log) as f:
        line = next((l for l in reversed(f.read().splitlines()) if l.startswith("time: ")), "")
    return {name.strip(): float(s) for name, s in re.findall(r"([a-z][a-z ]*?) ([0-9.]+) s", line[len("time: "):])}


def run_timed(cmd, env, log):
    t0 = time.perf_counter()
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"whole_run.py: {' '.join(cmd)} failed ({r.returncode}); log: {log}")
    return wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=120)
    ap.add_argument("--per-class", type=int, default=300)
    ap.add_argument("--test-per-class", type=int, default=100)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.0679)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds (collapse, then PyTorch); round r uses "
                    "seed S + r")
    ap.add_argument("--own-draw", action="store_true", help="PyTorch draws its own subset and initialisation with the "
                    "seed instead of replaying collapse's")
    ap.add_argument("--data-root", default="/usr/share/datasets/fashion-mnist",
                    help="Fashion-MNIST's IDX files (default: Debian's dataset-fashion-mnist)")
    ap.add_argument("--build", default=os.path.join(REPO, "build"), help="folder of nc-experiment, collapse-analyze")
    ap.add_argument("--out", default="/tmp/collapse-whole-run", help="run folders and logs (replaced)")
    ap.add_argument("--blas", default="", help="as compare_pytorch.py --blas")
    ap.add_argument("--analyze", default="", help=argparse.SUPPRESS)
    ap.add_argument("--replay", default="", help=argparse.SUPPRESS)
    ap.add_argument(CHILD_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pytorch_child:
        pytorch_job(args)
        return

    peer.ensure_environment(args.blas, script=os.path.abspath(__file__))
    import torch
    nc_experiment, analyze = os.path.join(args.build, "nc-experiment"), os.path.join(args.build, "collapse-analyze")
    for tool in (nc_experiment, analyze):
        if not os.path.exists(tool):
            sys.exit(f"whole_run.py: {tool} not found; build it first (scripts/setup) or pass --build DIR")
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    ours_env = peer.environment_without_preloads()
    print(f"whole job: Fashion-MNIST {args.per_class}/class (+{args.test_per_class}/class test), ResNet18 width "
          f"{args.width:g}, {args.epochs} epochs, batch {args.batch}, lr {args.lr}, {args.threads} threads, "
          f"{len(default_measure_epochs(args.epochs))} measurements; PyTorch {torch.__version__} with "
          f"LD_PRELOAD={os.environ.get('LD_PRELOAD', '') or 'none'}")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    results = []
    for r in range(args.rounds):
        seed = args.seed + r
        ours_folder = os.path.join(args.out, f"collapse-{r}")
        cmd = [nc_experiment, "--dataset", "fashion-mnist", "--data-root", args.data_root, "--arch", "resnet",
               "--depth", "18", "--width", repr(args.width), "--per-class", str(args.per_class), "--test-per-class",
               str(args.test_per_class), "--epochs", str(args.epochs), "--batch-size", str(args.batch), "--lr",
               repr(args.lr), "--threads", str(args.threads), "--seed", str(seed), "--quiet", "--out", ours_folder]
        wall = run_timed(cmd, ours_env, ours_folder + ".log")
        results.append({"framework": "collapse", "round": r, "seed": seed, "wall_s": round(wall, 1),
                        **summary_of(read_metrics(ours_folder)), "phases_s": phases_of(ours_folder + ".log")})
        print(json.dumps(results[-1]), flush=True)

        folder = os.path.join(args.out, f"pytorch-{r}")
        cmd = [sys.executable, os.path.abspath(__file__), CHILD_FLAG, "--out", folder, "--analyze", analyze,
               "--data-root", args.data_root, "--epochs", str(args.epochs), "--per-class", str(args.per_class),
               "--test-per-class", str(args.test_per_class), "--width", repr(args.width), "--batch",
               str(args.batch), "--lr", repr(args.lr), "--threads", str(args.threads), "--seed", str(seed)]
        if not args.own_draw:
            cmd += ["--replay", ours_folder]
        wall = run_timed(cmd, dict(os.environ), folder + ".log")
        results.append({"framework": "pytorch", "round": r, "seed": seed, "wall_s": round(wall, 1),
                        **summary_of(read_metrics(folder)), "phases_s": phases_of(folder + ".log")})
        print(json.dumps(results[-1]), flush=True)
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'framework':<10} {'seed':>5} {'wall s':>8} {'onset':>6} {'NC1 end':>10} {'NC4 end':>8} {'test err':>8}")
    for x in results:
        print(f"{x['framework']:<10} {x['seed']:>5} {x['wall_s']:>8.1f} {str(x['onset_epoch']):>6} "
              f"{x['nc1'] if x['nc1'] is None else format(x['nc1'], '.4g'):>10} "
              f"{x['nc4'] if x['nc4'] is None else format(x['nc4'], '.3f'):>8} "
              f"{x['test_error'] if x['test_error'] is None else format(x['test_error'], '.3f'):>8}")
    ours = [x["wall_s"] for x in results if x["framework"] == "collapse"]
    theirs = [x["wall_s"] for x in results if x["framework"] == "pytorch"]
    # Each round pairs the two jobs back to back (the machine's speed drifts between rounds); the medians
    # are statistics.median's (the mean of the middle two for an even number of rounds).
    per_round = [round(a / b, 3) for a, b in zip(ours, theirs)]
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"collapse / PyTorch wall time: per round {', '.join(f'{r:.2f}' for r in per_round)}; "
          f"medians {ratio:.2f}")
    print(json.dumps({"summary": True, "ours_wall_s": ours, "pytorch_wall_s": theirs, "per_round_ratio": per_round,
                      "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
