"""Helpers shared by the Python benchmark scripts: selection by glob, the
machine-load check, and the JSON record every script prints (the protocol
bench/run.ts reads)."""
import fnmatch
import os
import statistics
import sys
import time


def selected(globs, name, scheduler):
    if not globs:
        return True
    return any(fnmatch.fnmatchcase(i, g) for g in globs for i in (name, name + "@" + scheduler))


def machine_busy_seconds():
    """Busy CPU seconds of the whole machine (all cores) since boot, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        if fields[0] != "cpu":
            return None
        v = [int(x) for x in fields[1:9]]
        return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / 100.0  # user nice system irq softirq steal
    except (OSError, ValueError, IndexError):
        return None


def cpu_mark(children=False):
    """Wall time, this process's CPU seconds (and its waited-for children's), and the machine's busy seconds."""
    t = os.times()
    own = t.user + t.system + (t.children_user + t.children_system if children else 0)
    return time.perf_counter(), own, machine_busy_seconds()


def other_cpu_pct(mark, children=False):
    """% of the machine's CPU used by other processes since mark (None: too short to tell)."""
    wall0, own0, busy0 = mark
    wall1, own1, busy1 = cpu_mark(children)
    capacity = (wall1 - wall0) * len(os.sched_getaffinity(0))
    if busy0 is None or busy1 is None or capacity < 0.5:
        return None
    return round(min(100.0, max(0.0, 100.0 * ((busy1 - busy0) - (own1 - own0)) / capacity)))


def make_record(name, scheduler, times, other, warmup, n_tasks, result, expected, error, detail=None):
    """The JSON record of one benchmark."""
    rec = {"name": name, "scheduler": scheduler, "seconds_all": [round(t, 6) for t in times],
           "repeats": len(times), "warmup": warmup, "n_tasks": n_tasks,
           "result": result, "expected": expected, "ok": error is None}
    if detail is not None:
        rec["detail"] = detail
    if any(x is not None for x in other):
        rec["other_cpu_pct_all"] = other
    if times:
        med = statistics.median(times)
        rec.update(seconds_median=round(med, 6), seconds_min=round(min(times), 6),
                   seconds_max=round(max(times), 6))
        if n_tasks:
            rec["us_per_task_median"] = round(med / n_tasks * 1e6, 3)
    else:
        rec.update(seconds_median=None, seconds_min=None, seconds_max=None)
    if error:
        rec["error"] = error
        print("!!! %s@%s: %s" % (name, scheduler, error), file=sys.stderr, flush=True)
    return rec


def busy_warning(other):
    """A progress-line suffix when other processes took more than 10 % of the CPU (median)."""
    busy = [x for x in other if x is not None]
    if busy and statistics.median(busy) > 10:
        return "  !! other processes used %s of the CPU" % ", ".join("?" if x is None else "%d%%" % x for x in other)
    return ""
