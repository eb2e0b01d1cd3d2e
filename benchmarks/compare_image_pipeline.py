#!/usr/bin/env python3
"""ImageNet preprocessing per core: collapse's decode + Resize(256) + CenterCrop(224) against torchvision's
(PIL decode + transforms.Resize(256) + transforms.CenterCrop(224)), on the same JPEG files, alternating
rounds in one invocation, one thread each.

collapse runs as `OMP_NUM_THREADS=1 bench-data --only imagenet --imagenet FOLDER` (its "decode + resize +
crop" line: every file of FOLDER/train decoded by libjpeg-turbo, resized bilinearly as Pillow does, cropped,
and reduced to channel statistics); torchvision's pipeline runs in this process over the same files (the
PIL image converted to RGB, as torchvision's default loader does, then the two transforms).

    benchmarks/compare_image_pipeline.py --folder data/imagenet [--rounds 3]
Needs Pillow (python3-pil, which python3-matplotlib brings) and torchvision's transforms when present
(without torchvision, PIL's own resize(BILINEAR) + crop stands in, which is what the transforms call).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def jpeg_files(folder):
    out = []
    for root, _, files in os.walk(os.path.join(folder, "train")):
        out += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith((".jpeg", ".jpg", ".png"))]
    return sorted(out)


def torchvision_pipeline():
    from PIL import Image
    try:
        from torchvision import transforms
        resize, crop = transforms.Resize(256), transforms.CenterCrop(224)
        return "torchvision transforms", lambda path: crop(resize(Image.open(path).convert("RGB")))
    except ImportError:
        def fallback(path):
            img = Image.open(path).convert("RGB")
            w, h = img.size
            s = 256 / min(w, h)
            img = img.resize((max(256, int(w * s)), max(256, int(h * s))), Image.BILINEAR)
            left, top = (img.size[0] - 224) // 2, (img.size[1] - 224) // 2
            return img.crop((left, top, left + 224, top + 224))
        return "PIL resize + crop (no torchvision)", fallback


def ours(bench, folder):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([bench, "--only", "imagenet", "--imagenet", folder], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"compare_image_pipeline.py: bench-data failed:\n{r.stderr}")
    m = re.search(r"decode \+ resize \+ crop.*?(\d+) images\s+([\d.]+) s\s+(\d+) images/s", r.stdout)
    if not m:
        sys.exit(f"compare_image_pipeline.py: no decode line in bench-data's output:\n{r.stdout}")
    return int(m.group(1)), float(m.group(2))


def ensure_pillow():
    """Re-executes this script under an interpreter that imports PIL (the running one, then Debian's)."""
    try:
        import PIL  # noqa: F401
        return
    except ImportError:
        pass
    for python in ("/usr/bin/python3", shutil.which("python3")):
        if python and os.path.realpath(python) != os.path.realpath(sys.executable) and subprocess.run(
                [python, "-c", "import PIL"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit("compare_image_pipeline.py: no Python interpreter here imports PIL (tried the running one and "
             "/usr/bin/python3); install it with apt-get install python3-pil")


def main():
    ensure_pillow()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", required=True, help="ImageNet-style folder with train/<wnid>/*.JPEG")
    ap.add_argument("--bench", default=os.path.join(REPO, "build", "bench-data"))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    files = jpeg_files(args.folder)
    if not files:
        sys.exit(f"compare_image_pipeline.py: no images under {args.folder}/train")
    label, pipeline = torchvision_pipeline()
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    print(f"{len(files)} images under {args.folder}/train; one thread each; {args.rounds} alternating rounds")
    theirs, mine = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for f in files:
            pipeline(f)
        theirs.append(len(files) / (time.perf_counter() - t0))
        n, seconds = ours(args.bench, args.folder)
        mine.append(n / seconds)
    a, b = statistics.median(mine), statistics.median(theirs)
    print(f"collapse (libjpeg-turbo + Pillow-exact bilinear): {a:.0f} images/s per core  rounds {[round(x) for x in mine]}")
    print(f"{label}: {b:.0f} images/s per core  rounds {[round(x) for x in theirs]}")
    print(f"ratio collapse / torchvision: {a / b:.2f}")


if __name__ == "__main__":
    main()
