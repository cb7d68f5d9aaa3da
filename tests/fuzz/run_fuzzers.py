#!/usr/bin/env python3
"""Runs each libFuzzer target until it stops finding new coverage, and prints a table.

    tests/fuzz/run_fuzzers.py BUILD_DIR [--plateau S] [--max S] [--jobs N] [targets...]

Each target starts from tests/fuzz/seeds/<name>/ (copied into BUILD_DIR/corpus/<name>,
which grows as the fuzzer finds new inputs). A target stops when no new coverage came for
--plateau seconds, or at --max seconds. Crash, leak, OOM and timeout inputs land in
BUILD_DIR/artifacts/<name>/; copy each one to tests/fuzz/regressions/<name>/ once fixed.
Output: a Markdown table (executions, seconds, when coverage last grew, final coverage,
artifacts), the rows docs/reliability.md quotes.
"""
import argparse, os, re, shutil, signal, subprocess, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

TARGETS = ["safetensors", "config", "tokenizer", "idx", "caption_csv", "image", "pickle", "torch_archive"]
HERE = os.path.dirname(os.path.abspath(__file__))


def run(build, name, plateau, max_s):
    exe = os.path.join(build, "bin", "fuzz_" + name)
    corpus = os.path.join(build, "corpus", name)
    artifacts = os.path.join(build, "artifacts", name) + "/"
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    seeds = os.path.join(HERE, "seeds", name)
    for f in os.listdir(seeds):
        shutil.copy(os.path.join(seeds, f), corpus)
    regress = os.path.join(HERE, "regressions", name)
    dirs = [corpus] + ([regress] if os.path.isdir(regress) else [])
    cmd = [exe, "-rss_limit_mb=2048", "-timeout=10", "-max_len=65536", "-print_final_stats=1",
           "-artifact_prefix=" + artifacts, "-max_total_time=%d" % max_s] + dirs
    start = time.time()
    last_new = start
    cov = "?"
    execs = "?"
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, errors="replace")
    log = open(os.path.join(build, "fuzz_%s.log" % name), "w")

    def watchdog():
        while p.poll() is None:
            if time.time() - last_new > plateau:
                p.send_signal(signal.SIGINT)  # libFuzzer prints its final stats
                return
            time.sleep(1)
    threading.Thread(target=watchdog, daemon=True).start()
    for line in p.stderr:
        log.write(line)
        if re.search(r"\b(NEW|REDUCE)\b", line):
            last_new = time.time()
        m = re.search(r"cov: (\d+)", line)
        if m:
            cov = m.group(1)
        m = re.search(r"stat::number_of_executed_units: (\d+)", line)
        if m:
            execs = m.group(1)
    p.wait()
    end = time.time()
    found = sorted(f for f in os.listdir(artifacts) if re.match(r"(crash|leak|oom|timeout|slow-unit)-", f))
    return {"name": name, "execs": execs, "seconds": round(end - start), "last_new": round(last_new - start),
            "cov": cov, "artifacts": found, "status": p.returncode}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--plateau", type=int, default=60)
    ap.add_argument("--max", type=int, default=600)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("targets", nargs="*", default=TARGETS)
    a = ap.parse_intermixed_args()
    with ThreadPoolExecutor(a.jobs) as pool:
        rows = list(pool.map(lambda t: run(a.build, t, a.plateau, a.max), a.targets))
    print("| target | executions | seconds | coverage last grew at (s) | coverage (edges) | artifacts |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print("| fuzz_%s | %s | %d | %d | %s | %s |" % (r["name"], r["execs"], r["seconds"], r["last_new"], r["cov"],
                                                       ", ".join(r["artifacts"]) or "none"))
    return 1 if any(r["artifacts"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
