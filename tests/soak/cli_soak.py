#!/usr/bin/env python3
"""A soak of vitscope-cli's long commands (issue 28): a run, not a test; CI times nothing.

For MINUTES it loops over the commands a practitioner scripts: `reconstruct` (random, block
and grid masking), `embed` (images and texts) and `zeroshot` over a folder of Fashion-MNIST
images, one subfolder per class given as one --folder each (one process labels them all:
the CLI's batch mode). Each command runs as its own process; for each it records the exit
status, wall time and peak resident memory (wait4's ru_maxrss). For the batch command it
also samples the process's VmRSS while it runs, so that memory growing inside one long
process shows, and checks that every image was scored.

At the end, JSON on stdout: per command the runs, failures, median time and the peak
memory of the first and the last run; for the batch runs, resident memory after a third of
the run against its end (it grows with the results the process holds for its JSON).

Usage: tests/soak/cli_soak.py BUILD_DIR MINUTES [--mae DIR] [--clip DIR] [--images N]
Defaults: the bundled models (resources/models/fmnist-mae, fmnist-clip), 10000 images.
Python's standard library only.
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import struct
import threading
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FMNIST = os.environ.get("VITSCOPE_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def png(pixels, width, height):
    """An 8-bit grayscale PNG of `pixels` (rows top to bottom)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + pixels[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def label_of(name):
    return name.replace("/", " or ")


def write_images(folder, count):
    """The first `count` test images as PNG files, one subfolder per class."""
    with gzip.open(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")) as f:
        images = f.read()[16:]
    with gzip.open(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = f.read()[8:]
    paths = []
    for i in range(count):
        sub = os.path.join(folder, label_of(CLASSES[labels[i]]))
        os.makedirs(sub, exist_ok=True)
        path = os.path.join(sub, f"{i:05d}.png")
        with open(path, "wb") as out:
            out.write(png(images[i * 784:(i + 1) * 784], 28, 28))
        paths.append(path)
    return paths


def vm_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def run(argv, stdout_path, sample=False):
    """Runs one command, its output into stdout_path; returns (status, seconds, peak MB,
    samples of (s, MB))."""
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        out = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        err = os.open(os.path.join(tempfile.gettempdir(), "vitscope-cli-soak.err"),
                      os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(err, 2)
        os.execv(argv[0], argv)
    samples = []
    stop = threading.Event()

    def sampler():
        while not stop.wait(0.1):
            mb = vm_rss_mb(pid)
            if mb:
                samples.append((time.monotonic() - start, mb))

    thread = threading.Thread(target=sampler) if sample else None
    if thread:
        thread.start()
    _, status, usage = os.wait4(pid, 0)
    stop.set()
    if thread:
        thread.join()
    return os.waitstatus_to_exitcode(status), time.monotonic() - start, usage.ru_maxrss / 1024, samples


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build")
    p.add_argument("minutes", type=float)
    p.add_argument("--mae", default=os.path.join(ROOT, "resources/models/fmnist-mae"))
    p.add_argument("--clip", default=os.path.join(ROOT, "resources/models/fmnist-clip"))
    p.add_argument("--images", type=int, default=10000)
    a = p.parse_args()
    cli = os.path.join(a.build, "bin", "vitscope-cli")
    tmp = tempfile.mkdtemp(prefix="vitscope-cli-soak-")
    folder = os.path.join(tmp, "images")
    paths = write_images(folder, a.images)
    labels = ",".join(label_of(c) for c in CLASSES)
    class_folders = sum((["--folder", os.path.join(folder, label_of(c))] for c in CLASSES), [])
    commands = {}
    for mask in ("random", "block", "grid"):
        commands[f"reconstruct --mask {mask}"] = [cli, "reconstruct", "--model", a.mae, "--image", paths[0],
                                                   "--out", os.path.join(tmp, "panel.png"), "--mask", mask]
    commands["embed"] = [cli, "embed", "--model", a.clip] + sum((["--image", x] for x in paths[:8]), []) + \
        ["--text", "a photo of a coat", "--text", "a photo of a sneaker"]
    commands["zeroshot --folder"] = [cli, "zeroshot", "--model", a.clip, "--labels", labels] + class_folders
    results = {name: {"runs": 0, "failures": [], "seconds": [], "peak_mb": []} for name in commands}
    batch = []
    end = time.monotonic() + a.minutes * 60
    cycles = 0
    while time.monotonic() < end:
        cycles += 1
        for name, argv in commands.items():
            is_batch = name == "zeroshot --folder"
            stdout_path = os.path.join(tmp, "out.json")
            code, seconds, peak, samples = run(argv, stdout_path, sample=is_batch)
            r = results[name]
            r["runs"] += 1
            r["seconds"].append(seconds)
            r["peak_mb"].append(peak)
            if code != 0:
                with open(os.path.join(tempfile.gettempdir(), "vitscope-cli-soak.err")) as f:
                    r["failures"].append({"cycle": cycles, "status": code, "stderr": f.read()[-500:]})
            if is_batch and code == 0:
                with open(stdout_path) as f:
                    scored = json.load(f).get("accuracy", {}).get("scored", 0)
                if scored != a.images:
                    r["failures"].append({"cycle": cycles, "status": 0,
                                          "stderr": f"scored {scored} images of {a.images}"})
                if samples:
                    third = [mb for t, mb in samples if t >= seconds / 3] or [samples[-1][1]]
                    batch.append({"seconds": seconds, "after_a_third_mb": third[0], "end_mb": samples[-1][1],
                                  "output_mb": os.path.getsize(stdout_path) / 2**20})
    out = {"soak": "vitscope-cli", "minutes": a.minutes, "cycles": cycles, "images": a.images,
           "mae": a.mae, "clip": a.clip, "commands": {}}
    for name, r in results.items():
        out["commands"][name] = {
            "runs": r["runs"], "failures": len(r["failures"]), "first_failures": r["failures"][:3],
            "median_s": statistics.median(r["seconds"]) if r["seconds"] else None,
            "peak_mb_first": r["peak_mb"][0] if r["peak_mb"] else None,
            "peak_mb_last": r["peak_mb"][-1] if r["peak_mb"] else None,
            "peak_mb_max": max(r["peak_mb"]) if r["peak_mb"] else None}
    if batch:
        # Inside one process, memory grows with the results it holds for its JSON; what
        # the soak looks for is growth beyond that, and a change between the first run and
        # the last.
        growth = [b["end_mb"] - b["after_a_third_mb"] for b in batch]
        out["batch_rss_inside_one_process"] = {"runs": len(batch), "first": batch[0], "last": batch[-1],
                                               "growth_from_a_third_to_end_mb_median": statistics.median(growth),
                                               "growth_from_a_third_to_end_mb_max": max(growth)}
    json.dump(out, sys.stdout, indent=2)
    print()
    return 1 if any(r["failures"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
