#!/usr/bin/python3
"""Python Dask counterpart of bench/distributed.ts: dask.distributed's
LocalCluster(n_workers=2, threads_per_worker=1) started once (outside the
timings), a Client in this process, and the same workloads:

  overhead-client-map-10k   client.gather(client.map(inc, range(10000), pure=False))
  overhead-independent-10k  delayed(total)([delayed(inc)(i) for i in range(10000)]), computed on the cluster
  overhead-tree-4096        4,096 delayed inc leaves, pairwise add levels to one

Output: one JSON line per benchmark (the protocol of overhead.py), scheduler
"distributed". Options: --repeats N (default 3), --warmup N (default 1),
--quick, --only GLOBS, --list.

Runs with Debian's python3-distributed (apt-get install -y python3-distributed).
"""
import gc
import json
import sys
import time

import dask

import common
import overhead

SCHEDULER = "distributed"


def client_map(client):
    def run():
        futures = client.map(overhead.inc, range(10000), pure=False)
        return sum(client.gather(futures))
    return run


def delayed_graph(builder):
    def run():
        root, _ = builder()
        (result,) = dask.compute(root)
        return result
    return run


def main():
    args = overhead.options()
    globs = [g for g in args.only.split(",") if g]
    plan = [
        ("overhead-client-map-10k", client_map, 10_000, overhead.tri(10_000)),
        ("overhead-independent-10k", lambda c: delayed_graph(lambda: overhead.independent(10_000)), 10_001, overhead.tri(10_000)),
        ("overhead-tree-4096", lambda c: delayed_graph(lambda: overhead.tree(4_096)), 8_191, overhead.tri(4_096)),
    ]
    todo = [p for p in plan if common.selected(globs, p[0], SCHEDULER)]
    if args.list:
        for p in todo:
            print("%s@%s" % (p[0], SCHEDULER))
        return
    if not todo:
        return
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True)
    client = Client(cluster)
    try:
        for name, make, n_tasks, expected in todo:
            repeats = args.repeats if args.repeats is not None else 3
            warmup = args.warmup if args.warmup is not None else 1
            run = make(client)
            times, other, result, error = [], [], None, None
            try:
                for i in range(warmup + repeats):
                    gc.collect()
                    mark = common.cpu_mark()
                    t0 = time.perf_counter()
                    result = run()
                    dt = time.perf_counter() - t0
                    busy = common.other_cpu_pct(mark)
                    if result != expected:
                        error = "WRONG RESULT: got %r, expected %r (run %d)" % (result, expected, i + 1)
                        break
                    if i >= warmup:
                        times.append(dt)
                        other.append(busy)
            except Exception as e:
                error = "FAILED: %s: %s" % (type(e).__name__, (str(e).splitlines() or [""])[0])
            rec = common.make_record(name, SCHEDULER, times, other, warmup, n_tasks, result, expected, error)
            if not error:
                print("  %-34s py-%-11s median %8.4fs  %9.2f us/task%s" % (name, SCHEDULER, rec["seconds_median"], rec["us_per_task_median"], common.busy_warning(other)),
                      file=sys.stderr, flush=True)
            print(json.dumps(rec), flush=True)
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
