#!/usr/bin/python3
"""Python Dask counterpart of bench/overhead.ts: the same task graphs, timed the
same way (graph construction + dask.compute), on dask's "sync" and "threads"
schedulers.

Output: one JSON object per benchmark on stdout, with the keys
  name, scheduler, seconds_median, seconds_all, seconds_min, seconds_max,
  repeats, warmup, n_tasks, us_per_task_median, result, expected, ok[, error]
  [, other_cpu_pct_all: per timed run, the % of the machine's CPU that other
  processes used meanwhile; null where the run was too short to tell]
Progress goes to stderr.

Options (environment variable in brackets):
  --repeats N   timed runs per benchmark [BENCH_REPEATS]; default 5 (3 with --quick,
                3 for the 1M row)
  --warmup N    untimed runs first [BENCH_WARMUP]; default 1 (0 for the 1M row)
  --quick       fewer repeats
  --only LIST   comma-separated globs over NAME or NAME@SCHEDULER [BENCH_ONLY]
  --with-1m     also run the 1,000,000-task row [BENCH_PY_1M=1]; it takes minutes
  --list        print the benchmark ids and exit

Runs with Debian's python3-dask (apt-get install -y python3-dask).
"""
import argparse
import gc
import json
import os
import sys
import time

import dask
from dask import delayed

from common import busy_warning, cpu_mark, make_record, other_cpu_pct, selected


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def total(xs):
    s = 0
    for x in xs:
        s += x
    return s


# Each builder returns (root, number of tasks it created).

def single():
    return delayed(inc)(1), 1


def independent(n):
    return delayed(total)([delayed(inc)(i) for i in range(n)]), n + 1


def chain(n):
    x = 0
    for _ in range(n):
        x = delayed(inc)(x)
    return x, n


def tree(leaves):
    level = [delayed(inc)(i) for i in range(leaves)]
    count = leaves
    while len(level) > 1:
        nxt = [delayed(add)(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        count += len(nxt)
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0], count


def independent_tree(n, chunk):
    partials, count = [], 0
    for start in range(0, n, chunk):
        parts = [delayed(inc)(i) for i in range(start, min(n, start + chunk))]
        partials.append(delayed(total)(parts))
        count += len(parts) + 1
    return delayed(total)(partials), count + 1


def tri(n):
    return n * (n + 1) // 2


# name, builder, tasks, expected, slow
BENCHMARKS = [
    ("overhead-single-task", single, 1, 2, False),
    ("overhead-independent-10k", lambda: independent(10_000), 10_001, tri(10_000), False),
    ("overhead-chain-2k", lambda: chain(2_000), 2_000, 2_000, False),
    ("overhead-tree-4096", lambda: tree(4_096), 8_191, tri(4_096), False),
    ("overhead-independent-1m", lambda: independent_tree(1_000_000, 1_000), 1_001_001,
     tri(1_000_000), True),
]
SCHEDULERS = ("sync", "threads")


def options():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=int(env("BENCH_REPEATS")) if env("BENCH_REPEATS") else None)
    ap.add_argument("--warmup", type=int, default=int(env("BENCH_WARMUP")) if env("BENCH_WARMUP") else None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=env("BENCH_ONLY", ""))
    ap.add_argument("--with-1m", dest="with_1m", action="store_true",
                    default=env("BENCH_PY_1M", "") not in ("", "0"))
    ap.add_argument("--list", action="store_true")
    return ap.parse_args()


def run_one(name, scheduler, builder, n_tasks, expected, repeats, warmup):
    times, other, result, error = [], [], None, None
    try:
        for i in range(warmup + repeats):
            gc.collect()
            mark = cpu_mark()
            t0 = time.perf_counter()
            root, built = builder()
            (result,) = dask.compute(root, scheduler=scheduler)
            dt = time.perf_counter() - t0
            busy = other_cpu_pct(mark)
            del root
            if built != n_tasks:
                raise RuntimeError("built %d tasks, expected %d" % (built, n_tasks))
            if result != expected:
                error = "WRONG RESULT: got %r, expected %r (run %d)" % (result, expected, i + 1)
                break
            if i >= warmup:
                times.append(dt)
                other.append(busy)
    except Exception as e:  # record the failure, go on with the next benchmark
        error = "FAILED: %s: %s" % (type(e).__name__, (str(e).splitlines() or [""])[0])
    rec = make_record(name, scheduler, times, other, warmup, n_tasks, result, expected, error)
    if not error:
        print("  %-34s py-%-7s median %8.4fs  %9.2f us/task  [%s]%s"
              % (name, scheduler, rec["seconds_median"], rec["us_per_task_median"],
                 ", ".join("%.4f" % t for t in times), busy_warning(other)), file=sys.stderr, flush=True)
    print(json.dumps(rec), flush=True)


def main():
    args = options()
    globs = [g for g in args.only.split(",") if g]
    for scheduler in SCHEDULERS:
        for name, builder, n_tasks, expected, slow in BENCHMARKS:
            if not selected(globs, name, scheduler):
                continue
            if args.list:
                print("%s@%s" % (name, scheduler))
                continue
            if slow and (args.quick or not args.with_1m):
                print("  %s@%s skipped (set BENCH_PY_1M=1 or pass --with-1m to run it; minutes)"
                      % (name, scheduler), file=sys.stderr, flush=True)
                continue
            if slow:
                repeats = args.repeats if args.repeats is not None else 3
                warmup = args.warmup if args.warmup is not None else 0
                print("  %s@%s: %d runs of %d tasks, this takes minutes..."
                      % (name, scheduler, repeats + warmup, n_tasks), file=sys.stderr, flush=True)
            else:
                repeats = args.repeats if args.repeats is not None else (3 if args.quick else 5)
                warmup = args.warmup if args.warmup is not None else 1
            run_one(name, scheduler, builder, n_tasks, expected, repeats, warmup)


if __name__ == "__main__":
    main()
