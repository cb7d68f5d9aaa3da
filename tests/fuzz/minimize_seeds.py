#!/usr/bin/env python3
"""A small seed set from a grown corpus: the fewest inputs that still reach every edge.

    tests/fuzz/minimize_seeds.py BUILD_DIR TARGET CORPUS_DIR OUT_DIR

libFuzzer's own -merge=1 keeps every input that adds a feature (an edge at a new hit
count), thousands of files for the config target. This runs that merge once to learn each
input's features from its control file, maps features to edges (libFuzzer numbers an
8-bit counter's features edge * 8 + hit-count bucket), and picks inputs greedily: the one
reaching the most edges not yet reached, the smaller on a tie, until every edge of the
corpus is reached. Prints how many inputs and bytes were kept and the edges they reach.
"""
import os, shutil, subprocess, sys, tempfile


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    build, target, corpus, out = sys.argv[1:]
    exe = os.path.join(build, "bin", "fuzz_" + target)
    with tempfile.TemporaryDirectory() as tmp:
        control = os.path.join(tmp, "control")
        merged = os.path.join(tmp, "merged")
        os.makedirs(merged)
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        subprocess.run([exe, "-merge=1", "-merge_control_file=" + control, "-rss_limit_mb=4096", "-timeout=60",
                        "-artifact_prefix=" + tmp + "/", merged, corpus],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        with open(control) as f:
            lines = f.read().splitlines()
    n = int(lines[0])
    files = lines[2:2 + n]
    edges = {}
    for line in lines[2 + n:]:
        parts = line.split()
        if parts and parts[0] == "FT":
            edges[int(parts[1])] = {int(x) // 8 for x in parts[2:]}
    size = {i: os.path.getsize(files[i]) for i in edges}
    todo = set().union(*edges.values()) if edges else set()
    total = len(todo)
    chosen = []
    while todo:
        best = max(edges, key=lambda i: (len(edges[i] & todo), -size[i]))
        gain = edges[best] & todo
        if not gain:
            break
        chosen.append(best)
        todo -= gain
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for i in chosen:
        shutil.copy(files[i], out)
    print("%s: %d of %d inputs, %d bytes, reaching all %d edges of the corpus" %
          (target, len(chosen), n, sum(size[i] for i in chosen), total))


if __name__ == "__main__":
    main()
