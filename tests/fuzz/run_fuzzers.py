#!/usr/bin/env python3
"""Runs each libFuzzer target until it stops finding new coverage, and prints a table.

    tests/fuzz/run_fuzzers.py BUILD_DIR [--plateau S] [--max S] [--jobs N] [targets...]

Each target starts from tests/fuzz/seeds/<name>/ (copied into BUILD_DIR/corpus/<name>,
which grows as the fuzzer finds new inputs, and is kept: a second run continues). A target
stops when its edge coverage has not grown for --plateau seconds, or at --max seconds.
Crash, leak, OOM and timeout inputs land in BUILD_DIR/artifacts/<name>/; copy each one
to tests/fuzz/regressions/<name>/ once fixed.
Output: a Markdown table (executions, seconds, when coverage last grew, final coverage,
artifacts), the rows docs/reliability.md quotes.

Leaks: every target but torch_archive checks for leaks input by input (libFuzzer's
-detect_leaks). LibTorch's zip reader leaks its state whenever its constructor refuses a
file (tests/fuzz/lsan_libtorch.supp), so there a leak check would follow almost every
input and cost 3 to 4 times the fuzzing; torch_archive fuzzes with -detect_leaks=0 and its
whole corpus is replayed afterwards under LeakSanitizer with full stacks, so that only
that LibTorch allocation is suppressed. The replay's verdict is a column of the table.

--seeds-out DIR: after the run, the fewest inputs of each target's corpus that reach all
of its edges (minimize_seeds.py) in DIR/<name>/, the seeds to commit.
"""
import argparse, os, re, shutil, signal, subprocess, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

TARGETS = ["safetensors", "config", "tokenizer", "idx", "caption_csv", "image", "pickle", "torch_archive"]
HERE = os.path.dirname(os.path.abspath(__file__))
SUPP = os.path.join(HERE, "lsan_libtorch.supp")
FUZZ_OPTIONS = {"torch_archive": ["-detect_leaks=0"]}


def leak_replay(exe, dirs):
    """Runs every input once under LeakSanitizer with full stacks; 'clean', or what leaked."""
    files = [os.path.join(d, f) for d in dirs for f in sorted(os.listdir(d))]
    env = dict(os.environ, ASAN_OPTIONS="fast_unwind_on_malloc=0", LSAN_OPTIONS="suppressions=" + SUPP)
    p = subprocess.run([exe, "-rss_limit_mb=4096", "-timeout=60"] + files, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, errors="replace")
    m = re.search(r"SUMMARY: AddressSanitizer: (\d+) byte\(s\) leaked in (\d+)", p.stderr)
    if m:
        return "%d inputs: %s bytes leaked in %s allocations" % (len(files), m.group(1), m.group(2))
    return "%d inputs: %s" % (len(files), "clean" if p.returncode == 0 else "exit %d" % p.returncode)


def run(build, name, plateau, max_s, seeds_out=None):
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
           "-artifact_prefix=" + artifacts, "-max_total_time=%d" % max_s] + FUZZ_OPTIONS.get(name, []) + dirs
    start = time.time()
    last_new = start
    cov = "?"
    execs = "?"
    last_new_exec = "?"
    env = dict(os.environ, LSAN_OPTIONS="suppressions=" + SUPP)
    if "-detect_leaks=0" in FUZZ_OPTIONS.get(name, []):
        env["ASAN_OPTIONS"] = "detect_leaks=0"  # nor at exit: the replay below checks
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, errors="replace", env=env)
    log = open(os.path.join(build, "fuzz_%s.log" % name), "w", buffering=1)  # line by line: watchable

    def watchdog():
        while p.poll() is None:
            if time.time() - last_new > plateau:
                p.send_signal(signal.SIGINT)  # libFuzzer prints its final stats
                return
            time.sleep(1)
    threading.Thread(target=watchdog, daemon=True).start()
    for line in p.stderr:
        log.write(line)
        # Coverage is libFuzzer's edge count ("cov:"). Its features ("ft:", an edge at a
        # new hit count, a longer input) keep growing long after the edges stop, so they
        # do not hold the plateau back.
        m = re.match(r"#(\d+)\s+\w+\s+cov: (\d+)", line)
        if m:
            if cov == "?" or int(m.group(2)) > int(cov):
                last_new = time.time()
                last_new_exec = m.group(1)
            cov = m.group(2)
        m = re.search(r"stat::number_of_executed_units: (\d+)", line)
        if m:
            execs = m.group(1)
    p.wait()
    end = time.time()
    found = sorted(f for f in os.listdir(artifacts) if re.match(r"(crash|leak|oom|timeout|slow-unit)-", f))
    replay = leak_replay(exe, dirs) if "-detect_leaks=0" in FUZZ_OPTIONS.get(name, []) else "checked per input"
    if seeds_out:
        subprocess.run([sys.executable, os.path.join(HERE, "minimize_seeds.py"), build, name, corpus,
                        os.path.join(seeds_out, name)], stdout=sys.stderr)
    return {"name": name, "execs": execs, "seconds": round(end - start), "last_new": round(last_new - start),
            "last_new_exec": last_new_exec, "cov": cov, "artifacts": found, "status": p.returncode, "leaks": replay}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--plateau", type=int, default=60)
    ap.add_argument("--max", type=int, default=600)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seeds-out")
    ap.add_argument("targets", nargs="*", default=TARGETS)
    a = ap.parse_intermixed_args()
    with ThreadPoolExecutor(a.jobs) as pool:
        rows = list(pool.map(lambda t: run(a.build, t, a.plateau, a.max, a.seeds_out), a.targets))
    print("| target | executions | seconds | coverage last grew at (s) | at execution | coverage (edges) | artifacts | leaks |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print("| fuzz_%s | %s | %d | %d | %s | %s | %s | %s |" % (
            r["name"], r["execs"], r["seconds"], r["last_new"], r["last_new_exec"], r["cov"],
            ", ".join(r["artifacts"]) or "none", r["leaks"]))
    sys.stdout.flush()
    return 1 if any(r["artifacts"] or "leaked" in r["leaks"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
