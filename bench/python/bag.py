#!/usr/bin/python3
"""Python Dask counterpart of the bag suite: two dask.bag jobs over the files of
bench/data/generate.ts, timed from building the bag to the computed result, on
dask's "processes" scheduler (the bag default: a pool of spawned processes, one
per core, new for every compute), "threads" (the local thread pool) and "sync".

  bag-json-names-topk  read_text(DATA/logs-*.jsonl).map(json.loads).pluck("name")
                         .frequencies().topk(10, key=lambda kv: kv[1])
  bag-wordcount-topk   read_text(DATA/text-*.txt).str.split().flatten()
                         .frequencies().topk(20, key=lambda kv: kv[1])

Result: a checksum of the top-k pairs, the first 16 hex digits of the sha256 of
one line "key<TAB>count\\n" per pair in top-k order; it must equal the published
one (the same for every scheduler). `detail` shows the first three pairs.

Output: one JSON object per benchmark on stdout, with the keys
  name, scheduler, seconds_median, seconds_all, seconds_min, seconds_max,
  repeats, warmup, n_tasks (tasks of the bag's graph as built),
  us_per_task_median, result, expected, detail, ok[, error]
  [, other_cpu_pct_all: per timed run, the % of the machine's CPU that other
  processes used meanwhile (the scheduler's own worker processes count as
  ours); null where the run was too short to tell]
Progress goes to stderr.

Options (environment variable in brackets):
  --data DIR    the data directory [DASK_TS_BENCH_DATA]; default dask-ts-bench-data
                in the temporary directory, as bench/data/generate.ts writes it
  --repeats N   timed runs per benchmark [BENCH_REPEATS]; default 3
  --warmup N    untimed runs first [BENCH_WARMUP]; default 0
  --quick       skip the sync rows (they only show what the other two gain)
  --only LIST   comma-separated globs over NAME or NAME@SCHEDULER [BENCH_ONLY]
  --list        print the benchmark ids and exit

Runs with Debian's python3-dask (apt-get install -y python3-dask).
"""
import argparse
import gc
import glob
import hashlib
import json
import os
import sys
import tempfile
import time

import dask.bag as db

from common import busy_warning, cpu_mark, make_record, other_cpu_pct, selected

# The checksums of the Python baseline (identical under every scheduler).
EXPECTED = {
    "bag-json-names-topk": "57227bac6b4062c7",
    "bag-wordcount-topk": "ba6a4722f8fe7e2e",
}
PATTERNS = {
    "bag-json-names-topk": "logs-*.jsonl",
    "bag-wordcount-topk": "text-*.txt",
}
SCHEDULERS = ("processes", "threads", "sync")


def names_topk(data):
    b = db.read_text(os.path.join(data, PATTERNS["bag-json-names-topk"]))
    return b.map(json.loads).pluck("name").frequencies().topk(10, key=lambda kv: kv[1])


def wordcount_topk(data):
    b = db.read_text(os.path.join(data, PATTERNS["bag-wordcount-topk"]))
    return b.str.split().flatten().frequencies().topk(20, key=lambda kv: kv[1])


BUILDERS = {
    "bag-json-names-topk": names_topk,
    "bag-wordcount-topk": wordcount_topk,
}


def checksum(pairs):
    text = "".join("%s\t%d\n" % (k, v) for k, v in pairs)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def options():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=env("DASK_TS_BENCH_DATA")
                    or os.path.join(tempfile.gettempdir(), "dask-ts-bench-data"))
    ap.add_argument("--repeats", type=int, default=int(env("BENCH_REPEATS")) if env("BENCH_REPEATS") else 3)
    ap.add_argument("--warmup", type=int, default=int(env("BENCH_WARMUP")) if env("BENCH_WARMUP") else 0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=env("BENCH_ONLY", ""))
    ap.add_argument("--list", action="store_true")
    return ap.parse_args()


def run_one(data, name, scheduler, repeats, warmup):
    build = BUILDERS[name]
    expected = EXPECTED[name]
    times, other, result, detail, error, n_tasks = [], [], None, None, None, None
    try:
        n_tasks = len(build(data).__dask_graph__())
        for i in range(warmup + repeats):
            gc.collect()
            mark = cpu_mark(children=True)
            t0 = time.perf_counter()
            pairs = build(data).compute(scheduler=scheduler)
            dt = time.perf_counter() - t0
            busy = other_cpu_pct(mark, children=True)
            result = checksum(pairs)
            detail = "top3 " + ", ".join("%s:%d" % (k, v) for k, v in list(pairs)[:3])
            if result != expected:
                error = "WRONG RESULT: checksum %s, expected %s (run %d; %s)" % (result, expected, i + 1, detail)
                break
            if i >= warmup:
                times.append(dt)
                other.append(busy)
    except Exception as e:  # record the failure, go on with the next benchmark
        error = "FAILED: %s: %s" % (type(e).__name__, (str(e).splitlines() or [""])[0])
    rec = make_record(name, scheduler, times, other, warmup, n_tasks, result, expected, error, detail)
    if not error:
        print("  %-34s py-%-9s median %8.3fs  [%s]  %s%s"
              % (name, scheduler, rec["seconds_median"], ", ".join("%.3f" % t for t in times),
                 detail, busy_warning(other)), file=sys.stderr, flush=True)
    print(json.dumps(rec), flush=True)


def main():
    args = options()
    globs = [g for g in args.only.split(",") if g]
    todo = [(name, s) for s in SCHEDULERS for name in BUILDERS
            if selected(globs, name, s) and not (args.quick and s == "sync")]
    if args.list:
        for name, s in todo:
            print("%s@%s" % (name, s))
        return 0
    missing = sorted({PATTERNS[name] for name, _ in todo
                      if not glob.glob(os.path.join(args.data, PATTERNS[name]))})
    if missing:
        error = ("FAILED: no %s in %s; write the data with node dist/bench/data/generate.js"
                 % (" or ".join(missing), args.data))
        print("!!! " + error, file=sys.stderr, flush=True)
        for name, s in todo:
            print(json.dumps(record(name, s, [], [], args.warmup, None, None, None, error)), flush=True)
        return 1
    if args.quick:
        print("  (--quick: the sync rows are skipped)", file=sys.stderr, flush=True)
    for name, s in todo:
        run_one(args.data, name, s, args.repeats, args.warmup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
