#!/usr/bin/env python3
"""Training-step throughput of collapse against PyTorch on the CPU, row by row.

For each row (architecture x width x input x threads) this script times one full SGD step (zero_grad,
forward, cross-entropy, backward, SGD with momentum 0.9 and weight decay 5e-4) at the same batch size in
both frameworks, in the same invocation, alternating: PyTorch round, collapse round, PyTorch round, ...
Each round is the median of --steps steps after warm-up; a framework's figure is the median of its
rounds. collapse runs as `bench-train-step` (benchmarks/train_step.cpp) for exactly that row.

The PyTorch models are the same networks, with the same shapes and parameter counts (checked against
`bench-train-step --print-params` before anything is timed):
  VGG11-BN   features -> flatten -> Linear(512*s*s, h) -> ReLU -> BatchNorm1d -> Linear(h, h) -> ReLU ->
             BatchNorm1d -> Linear(h, C), h = 4096*width (the paper's head)
  ResNet18   torchvision's layout with a 3x3 stride-1 stem and no max-pool, channels scaled by width
  DenseNet40 DenseNet-BC (torchvision's DenseNet class), k = 12*width, 3 blocks of 6 layers, 3x3 stem to
             2k channels, compression 0.5, bottleneck 4k
Channel counts are scaled as collapse does: max(1, round(c * width)).

PyTorch runs in its best CPU configuration: channels_last activations and weights (oneDNN convolutions
without reorders), torch.set_num_threads(threads), tcmalloc (the script re-executes itself with
LD_PRELOAD=libtcmalloc_minimal.so.4 when that library exists: `apt-get install -y libtcmalloc-minimal4`)
and an optimised BLAS for the Linear layers. Debian's python3-torch calls libblas.so.3, which is the
netlib reference BLAS unless an optimised one is installed; VGG's 4096-wide head then runs ~20x slower
than with OpenBLAS and the comparison would flatter collapse. The script preloads a system OpenBLAS
(libopenblas0-openmp or -pthread) when one is installed, or the library given by --blas; it warns when
PyTorch is left on the reference BLAS. (Installing libopenblas0-* switches the system-wide libblas.so.3
alternative; to avoid that, `apt-get download libopenblas0-openmp && dpkg -x libopenblas0-openmp_*.deb DIR`
and pass --blas DIR/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0.)
collapse runs without these preloads (its caching allocator makes a steady-state step allocate nothing,
and its Linear layers call oneDNN's sgemm).

Inputs: 3x32x32 and 1x28x28; the protocol pads 28x28 images to 32x32, so the 1x28x28 rows run both
networks on 1x32x32 batches.

PyTorch is only needed by this script, never by the build or the tests. The script looks for an
interpreter that imports torch (the running one, then /usr/bin/python3, ...) and re-executes itself
with it; when none does it says how to install it (Debian: `apt-get install python3-torch
python3-torchvision`).

Output: a table and one JSON line per row with keys arch, input, width, threads, ours_img_s,
pytorch_img_s, ratio (= ours / pytorch; above 1 means collapse is faster), plus batch, params and the
load average seen while the row ran.

  benchmarks/compare_pytorch.py                                      # every row (long)
  benchmarks/compare_pytorch.py --arch resnet18 --width 0.25 --input 3x32x32 --threads 1   # one row
  benchmarks/compare_pytorch.py --bench /tmp/build/bench-train-step --steps 20 --rounds 3
  benchmarks/compare_pytorch.py --threads 2 --width 0.25 --busy-cores 1   # idle, then one core busy, both frameworks
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TCMALLOC_NAMES = ["libtcmalloc_minimal.so.4", "libtcmalloc.so.4"]
TCMALLOC_DIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"]
REEXEC_MARK = "COLLAPSE_COMPARE_PYTORCH_REEXEC"
# Debian's python3-torch calls the libblas.so.3 alternative, which is the netlib reference BLAS unless an
# optimised one is installed: its Linear layers are then ~20x slower than with OpenBLAS (the VGG head).
# An optimised BLAS preloaded before libblas.so.3 takes over sgemm_ for this process only.
FAST_BLAS_CANDIDATES = [
    "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/libmkl_rt.so",
    "/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4",
]
PRELOAD_STRIP = ("tcmalloc", "blas", "mkl_rt", "blis")


# ---------------------------------------------------------------- interpreter and allocator set-up

def imports_torch(python):
    try:
        r = subprocess.run([python, "-c", "import torch, torchvision"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_tcmalloc():
    for d in TCMALLOC_DIRS:
        for n in TCMALLOC_NAMES:
            p = os.path.join(d, n)
            if os.path.exists(p):
                return p
    return None


def find_fast_blas(requested):
    """An optimised BLAS to preload for PyTorch's Linear layers: --blas PATH, else a system OpenBLAS/BLIS/MKL."""
    if requested == "none":
        return None
    if requested:
        if not os.path.exists(requested):
            sys.exit(f"compare_pytorch.py: --blas {requested}: no such file")
        return os.path.abspath(requested)
    for p in FAST_BLAS_CANDIDATES:
        if os.path.exists(p):
            return p
    return None


def blas_in_use():
    """The BLAS library this process has mapped (after importing torch), by real path."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path)
                if any(k in name for k in ("blas", "mkl_rt", "blis")):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(libs)


def ensure_environment(blas_request, script=None):
    """Re-executes `script` (default: this one) under an interpreter with torch, with tcmalloc (and an optimised
    BLAS) preloaded; returns when that is already the case."""
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    python = sys.executable
    if not have_torch:
        candidates = ["/usr/bin/python3", shutil.which("python3"), "/usr/local/bin/python3", shutil.which("python")]
        python = next((c for c in candidates
                       if c and os.path.realpath(c) != os.path.realpath(sys.executable) and imports_torch(c)), None)
        if python is None:
            sys.stderr.write(
                "compare_pytorch.py: no Python interpreter here imports torch and torchvision (tried the running one, "
                "/usr/bin/python3 and python3 on PATH).\n"
                "Install PyTorch to run this comparison, e.g. on Debian 12:\n"
                "    apt-get install -y python3-torch python3-torchvision\n"
                "(then run this script again; it finds /usr/bin/python3). PyTorch is never needed to build or test "
                "collapse.\n")
            sys.exit(2)
    env = dict(os.environ)
    if env.get(REEXEC_MARK):
        return  # already set up by the re-exec below
    preload = env.get("LD_PRELOAD", "").split()
    tcmalloc = find_tcmalloc()
    if tcmalloc is None:
        sys.stderr.write("compare_pytorch.py: tcmalloc not found; PyTorch runs with glibc malloc "
                         "(for PyTorch's best CPU configuration: apt-get install -y libtcmalloc-minimal4)\n")
    elif not any("tcmalloc" in p for p in preload):
        preload.insert(0, tcmalloc)
    blas = find_fast_blas(blas_request)
    if blas and blas not in preload:
        preload.append(blas)
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
    env[REEXEC_MARK] = "1"
    sys.stdout.flush()
    os.execve(python, [python, script or os.path.abspath(__file__)] + sys.argv[1:], env)


# ---------------------------------------------------------------- the PyTorch models

def scaled(c, width):
    return max(1, int(c * width + 0.5))


def build_vgg(torch_nn, depth, width, cin, size, classes):
    nn = torch_nn
    cfgs = {11: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
            13: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
            16: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
            19: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M']}
    layers, c, s = [], cin, size
    for v in cfgs[depth]:
        if v == 'M':
            layers.append(nn.MaxPool2d(2, 2))
            s //= 2
        else:
            out = scaled(v, width)
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            c = out
    h = scaled(4096, width)
    head = nn.Sequential(nn.Linear(c * s * s, h), nn.ReLU(inplace=True), nn.BatchNorm1d(h), nn.Linear(h, h),
                         nn.ReLU(inplace=True), nn.BatchNorm1d(h), nn.Linear(h, classes))
    return nn.Sequential(nn.Sequential(*layers), nn.Flatten(), head)


def build_resnet(torch_nn, depth, width, cin, size, classes):
    nn = torch_nn
    assert depth in (18, 34), "only BasicBlock ResNets (18, 34) are defined here"
    blocks = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}[depth]

    class BasicBlock(nn.Module):
        def __init__(self, cin_, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin_, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or cin_ != planes:
                self.downsample = nn.Sequential(nn.Conv2d(cin_, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):  # torchvision's BasicBlock.forward
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            c = scaled(64, width)
            self.conv1 = nn.Conv2d(cin, c, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU(inplace=True)
            stages = []
            for i, n in enumerate(blocks):
                planes = scaled(64 << i, width)
                seq = []
                for b in range(n):
                    seq.append(BasicBlock(c, planes, 2 if (i > 0 and b == 0) else 1))
                    c = planes
                stages.append(nn.Sequential(*seq))
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(c, classes)
            # torchvision's initialisation, as collapse's Conv2d (kaiming normal, fan_out) and BatchNorm: the
            # step's time does not depend on it, but a whole run's trajectory does (benchmarks/whole_run.py).
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet()


def build_densenet(torch_nn, depth, width, cin, size, classes):
    nn = torch_nn
    from torchvision.models.densenet import DenseNet
    assert (depth - 4) % 6 == 0 and depth < 121, "only DenseNet-BC for small images (depth 6n+4) is defined here"
    n = (depth - 4) // 6
    k = scaled(12, width)
    m = DenseNet(growth_rate=k, block_config=(n, n, n), num_init_features=2 * k, bn_size=4, num_classes=classes)
    m.features.conv0 = nn.Conv2d(cin, 2 * k, 3, 1, 1, bias=False)
    del m.features.norm0, m.features.relu0, m.features.pool0
    return m


BUILDERS = {"vgg": build_vgg, "resnet": build_resnet, "densenet": build_densenet}


def split_arch(name):
    """'resnet18' -> ('resnet', 18): the depth is the trailing run of digits."""
    i = len(name)
    while i > 0 and name[i - 1].isdigit():
        i -= 1
    family = name[:i]
    if not family or i == len(name) or family not in BUILDERS:
        sys.exit(f"compare_pytorch.py: --arch {name}: expected one of {', '.join(BUILDERS)} followed by a depth "
                 "(vgg11, resnet18, densenet40)")
    return family, int(name[i:])


def parse_input(s):
    c, h, w = (int(v) for v in s.split("x"))
    assert h == w, f"--input {s}: square images only"
    return c, (32 if h == 28 else h)


# ---------------------------------------------------------------- timing

class TorchRow:
    """A PyTorch model, optimizer and batch for one row, timed a round at a time."""

    def __init__(self, torch, arch, width, input_label, batch, classes, seed):
        family, depth = split_arch(arch)
        cin, size = parse_input(input_label)
        torch.manual_seed(seed)
        self.torch = torch
        self.model = BUILDERS[family](torch.nn, depth, width, cin, size, classes)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.model = self.model.to(memory_format=torch.channels_last).train()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        self.x = torch.randn(batch, cin, size, size).contiguous(memory_format=torch.channels_last)
        self.y = torch.randint(0, classes, (batch,))
        self.batch = batch

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        loss = self.torch.nn.functional.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()

    def round(self, steps, warmup):
        for _ in range(warmup):
            self.step()
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            self.step()
            times.append(time.perf_counter() - t0)
        return self.batch / statistics.median(times) if times else None


def current_rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_row_main(argv):
    """Child mode (--memory-row): one PyTorch row alone in this process, so that its peak is its own."""
    arch, width, inp, threads, batch, classes, seed, steps = argv
    import resource
    import torch
    torch.set_num_threads(int(threads))
    before = current_rss_mb()
    row = TorchRow(torch, arch, float(width), inp, int(batch), int(classes), int(seed))
    row.round(int(steps), 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": round(peak, 1), "rss_before_model_mb": round(before, 1)}))


def run_torch_memory(arch, width, input_label, threads, batch, classes, seed, steps):
    """Peak memory of a PyTorch row, measured in a child process under this process's environment."""
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-row", arch, repr(width), input_label, str(threads),
           str(batch), str(classes), str(seed), str(steps)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}{r.stdout}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def environment_without_preloads():
    """This process's environment minus what ensure_environment added for PyTorch: collapse runs without them."""
    env = dict(os.environ)
    env.pop(REEXEC_MARK, None)
    env["LD_PRELOAD"] = " ".join(p for p in env.get("LD_PRELOAD", "").split()
                                 if not any(k in os.path.basename(p) for k in PRELOAD_STRIP))
    if not env["LD_PRELOAD"]:
        env.pop("LD_PRELOAD")
    return env


def run_ours(bench, arch, width, input_label, threads, batch, steps, warmup):
    cmd = [bench, "--arch", arch, "--width", repr(width), "--input", input_label, "--threads", str(threads),
           "--batch", str(batch), "--steps", str(steps), "--warmup", str(warmup), "--json-only"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=environment_without_preloads())
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}{r.stdout}")
    rows = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert len(rows) == 1, f"expected one JSON row from {' '.join(cmd)}, got:\n{r.stdout}"
    return rows[0]


def our_param_counts(bench, archs, widths, inputs):
    cmd = [bench, "--print-params", "--arch", *archs, "--width", *[repr(w) for w in widths], "--input", *inputs]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            out[(d["arch"], float(d["width"]), d["input"])] = d["params"]
    return out


def alternate_rounds(row, args, arch, width, input_label, threads, loads):
    """PyTorch round, collapse round, ... (args.rounds each): the img/s of each round and our last JSON row."""
    ours_rates, torch_rates, last = [], [], None
    for _ in range(args.rounds):
        torch_rates.append(row.round(args.steps, 1))
        last = run_ours(args.bench, arch, width, input_label, threads, args.batch, args.steps, args.warmup)
        ours_rates.append(last["ours_img_s"])
        loads.append(os.getloadavg()[0])
    return ours_rates, torch_rates, last


class BusyCores:
    """K single-threaded spinning processes, each in a session of its own, for the duration of a block: a busy
    machine as a desktop's other applications make it (with Linux's autogroup scheduler, a spinner in this
    script's own session would share the cores differently: docs/performance.md § "A busy machine")."""

    def __init__(self, count):
        self.count, self.procs = count, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
                      for _ in range(self.count)]
        time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def default_bench():
    for p in [os.path.join(REPO, "build", "bench-train-step"), os.path.join(os.getcwd(), "build", "bench-train-step")]:
        if os.path.exists(p):
            return p
    return os.path.join(REPO, "build", "bench-train-step")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-row":
        memory_row_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=["vgg11", "resnet18", "densenet40"], help="family + depth")
    ap.add_argument("--width", nargs="+", type=float, default=[0.25, 1.0], help="channel width multipliers")
    ap.add_argument("--input", nargs="+", default=["1x28x28", "3x32x32"], help="CxHxW; 1x28x28 runs as 1x32x32")
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="thread counts (both frameworks)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per round (median)")
    ap.add_argument("--warmup", type=int, default=8, help="untimed steps before each round")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per framework (median of rounds)")
    ap.add_argument("--bench", default=default_bench(), help="path of bench-train-step (default: build/bench-train-step)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--busy-cores", type=int, default=0,
                    help="after each row's idle rounds, run them again while K single-threaded spinners, each in a "
                         "session of its own, take K cores (a busy machine); rows then report both")
    ap.add_argument("--blas", default="",
                    help="a BLAS library to LD_PRELOAD for PyTorch's Linear layers (default: a system OpenBLAS when "
                         "installed, e.g. apt-get install libopenblas0-openmp); 'none' keeps libblas.so.3")
    args = ap.parse_args()

    ensure_environment(args.blas)
    import torch
    blas = blas_in_use()
    reference_blas = any("/blas/libblas.so" in p for p in blas) and not any(
        k in os.path.basename(p) for p in blas for k in ("openblas", "mkl", "blis"))
    if reference_blas:
        print("WARNING: PyTorch's Linear layers run on the netlib reference BLAS (Debian's default libblas.so.3), "
              "far from PyTorch's best configuration; install an optimised one (apt-get install libopenblas0-openmp) "
              "or pass --blas PATH/libopenblas.so.0")

    if not os.path.exists(args.bench):
        sys.exit(f"compare_pytorch.py: {args.bench} not found; build it first "
                 "(cmake --build build --target bench-train-step) or pass --bench PATH")

    ours_params = our_param_counts(args.bench, args.arch, args.width, args.input)
    mismatches = 0
    for arch in args.arch:
        for w in args.width:
            for inp in args.input:
                family, depth = split_arch(arch)
                cin, size = parse_input(inp)
                theirs = sum(p.numel() for p in BUILDERS[family](torch.nn, depth, w, cin, size, args.classes).parameters())
                ours = ours_params.get((arch, float(w), inp))
                if ours != theirs:
                    mismatches += 1
                    print(f"PARAMETER COUNT MISMATCH {arch} width {w:g} {inp}: collapse {ours}, PyTorch {theirs}")
    if mismatches:
        sys.exit("compare_pytorch.py: the PyTorch models do not match collapse's; nothing timed")

    print(f"collapse vs PyTorch {torch.__version__} (CPU, {torch.backends.mkldnn.is_available() and 'oneDNN' or 'no oneDNN'} "
          f"convolutions, channels_last, LD_PRELOAD={os.environ.get('LD_PRELOAD', '') or 'none'}; "
          f"BLAS mapped: {', '.join(blas) or 'none'})")
    print(f"one SGD step (zero_grad, forward, cross-entropy, backward, momentum 0.9, wd 5e-4), batch {args.batch}; "
          f"{args.rounds} alternating rounds per framework, each the median of {args.steps} steps after {args.warmup} "
          f"warm-up; 1x28x28 runs as 1x32x32 (padded, as the protocol). ratio = ours / pytorch. "
          f"parameter counts match for every row.")
    print("MB: peak resident memory of the process that ran the row (in parentheses: that peak minus the resident "
          "memory before the model was built, i.e. the model and its step; each PyTorch row runs alone in a child)")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    header = (f"{'arch':<11} {'input':<8} {'width':>5} {'thr':>3} {'params':>10} | {'ours img/s':>10} "
              f"{'pytorch img/s':>13} {'ratio':>6} | {'ours MB':>13} {'pytorch MB':>13} {'allocs':>6} {'prims':>5} | load")
    print(header)
    sys.stdout.flush()
    for arch in args.arch:
        for inp in args.input:
            for w in args.width:
                for t in args.threads:
                    torch.set_num_threads(t)
                    loads = [os.getloadavg()[0]]
                    row = TorchRow(torch, arch, w, inp, args.batch, args.classes, args.seed)
                    row.round(0, args.warmup)
                    ours_rates, torch_rates, last = alternate_rounds(row, args, arch, w, inp, t, loads)
                    busy_ours, busy_torch = [], []
                    if args.busy_cores:
                        with BusyCores(args.busy_cores):
                            busy_ours, busy_torch, _ = alternate_rounds(row, args, arch, w, inp, t, [])
                    del row
                    mem = run_torch_memory(arch, w, inp, t, args.batch, args.classes, args.seed, args.steps)
                    ours_step_mb = last["peak_rss_mb"] - last.get("rss_before_model_mb", 0.0)
                    torch_step_mb = mem["peak_rss_mb"] - mem["rss_before_model_mb"]
                    ours, theirs = statistics.median(ours_rates), statistics.median(torch_rates)
                    load = statistics.mean(loads)
                    print(f"{arch:<11} {inp:<8} {w:>5g} {t:>3} {last['params']:>10} | {ours:>10.1f} {theirs:>13.1f} "
                          f"{ours / theirs:>6.2f} | {last['peak_rss_mb']:>6.0f} ({ours_step_mb:>4.0f}) "
                          f"{mem['peak_rss_mb']:>6.0f} ({torch_step_mb:>4.0f}) {last['allocs_per_step']:>6.2f} "
                          f"{last['primitives_created']:>5} | {load:.2f}")
                    if args.busy_cores:
                        b_ours, b_theirs = statistics.median(busy_ours), statistics.median(busy_torch)
                        print(f"{'':<11} {'busy ' + str(args.busy_cores):<8} {'':>5} {'':>3} {'':>10} | {b_ours:>10.1f} "
                              f"{b_theirs:>13.1f} {b_ours / b_theirs:>6.2f} | busy/idle: ours {b_ours / ours:.2f}, "
                              f"pytorch {b_theirs / theirs:.2f}")
                        busy = {"busy_cores": args.busy_cores, "busy_ours_img_s": round(b_ours, 2),
                                "busy_pytorch_img_s": round(b_theirs, 2), "busy_ratio": round(b_ours / b_theirs, 3),
                                "ours_busy_over_idle": round(b_ours / ours, 3),
                                "pytorch_busy_over_idle": round(b_theirs / theirs, 3)}
                    else:
                        busy = {}
                    print(json.dumps({"arch": arch, "input": inp, "width": w, "threads": t, "batch": args.batch,
                                      "params": last["params"], "ours_img_s": round(ours, 2),
                                      "pytorch_img_s": round(theirs, 2), "ratio": round(ours / theirs, 3),
                                      "ours_rounds": ours_rates, "pytorch_rounds": [round(r, 2) for r in torch_rates],
                                      "ours_peak_rss_mb": last["peak_rss_mb"],
                                      "pytorch_peak_rss_mb": mem["peak_rss_mb"],
                                      "ours_step_mb": round(ours_step_mb, 1), "pytorch_step_mb": round(torch_step_mb, 1),
                                      "ours_allocs_per_step": last["allocs_per_step"],
                                      "ours_primitives_created": last["primitives_created"],
                                      "loadavg_1min": round(load, 2), **busy}))
                    sys.stdout.flush()
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
