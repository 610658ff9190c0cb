/**
 * Shared pieces of the benchmark runner: the record every benchmark produces
 * (one JSON line each, the same shape the Python scripts print), the suite
 * interface that `run.ts` drives, selection globs, timing and formatting.
 *
 * Nothing here imports the library: suites do, so a suite that is not
 * selected costs nothing to load.
 * @module
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** One benchmark's outcome: a TS measurement or a line read from a Python script. */
export interface BenchRecord {
  /** Suite that produced it (`overhead`, ...). */
  suite: string;
  /** Benchmark id, shared with the Python side (`overhead-independent-10k`). */
  name: string;
  /** `sync` / `embedded` for TS; `sync` / `threads` for Python Dask. */
  scheduler: string;
  impl: "ts" | "python";
  /** Median of the timed runs in seconds; null when the benchmark failed before any run finished. */
  seconds_median: number | null;
  seconds_all: number[];
  seconds_min: number | null;
  seconds_max: number | null;
  repeats: number;
  warmup: number;
  /** Tasks in the graph as built (before any optimization). */
  n_tasks?: number;
  us_per_task_median?: number;
  us_per_task_min?: number;
  us_per_task_max?: number;
  /**
   * For each timed run, the share (%) of the machine's CPU capacity used by
   * other processes meanwhile (null: run too short to tell, or not Linux).
   * High values mean the timing is not to be trusted.
   */
  other_cpu_pct_all?: (number | null)[];
  /** Median seconds spent building the graph, inside `seconds_median` (TS only). */
  build_seconds_median?: number;
  /** The value of the last run (the check), and what it had to be. */
  result?: unknown;
  expected?: unknown;
  /** False when a run returned a wrong result or threw. */
  ok: boolean;
  error?: string;
  /** Python benchmark to compare with, when the name differs (e.g. a TS-only variant). */
  compare_to?: string;
  /** Free text shown under the table. */
  note?: string;
}

/** What the runner hands every suite. */
export interface SuiteContext {
  /** Timed runs per benchmark when given with `--repeats`; otherwise each suite's defaults. */
  readonly repeats: number | undefined;
  /** Untimed runs before the timed ones when given with `--warmup`. */
  readonly warmup: number | undefined;
  /** Fewer repeats, and skip the slowest rows. */
  readonly quick: boolean;
  /** Worker threads for cluster schedulers (`--workers`); undefined = one per core. */
  readonly workers: number | undefined;
  /** Whether the benchmark id `name` on `scheduler` is selected by `--only`. */
  selects(name: string, scheduler: string): boolean;
  /** A progress line on stderr. */
  log(line: string): void;
}

/** Options of a suite's Python counterpart, a script under bench/python/. */
export interface PythonCounterpart {
  /** File name under bench/python/. */
  readonly script: string;
  /** Command-line arguments for it. */
  args(ctx: SuiteContext, pythonOnly: readonly string[]): string[];
  /** Python scheduler to compare each TS scheduler with. */
  readonly pairs: Readonly<Record<string, string>>;
  /** Python schedulers shown as columns. Default: sync and threads. */
  readonly columns?: readonly string[];
}

/** A benchmark suite; `run.ts` lists the suite modules. */
export interface BenchSuite {
  readonly name: string;
  readonly description: string;
  /** Every benchmark id as `name@scheduler`, for `--list` and selection. */
  ids(ctx: SuiteContext): string[];
  run(ctx: SuiteContext): Promise<BenchRecord[]>;
  readonly python?: PythonCounterpart;
  /** What the table shows: microseconds per task (default) or seconds per run. */
  readonly unit?: "us-per-task" | "seconds";
  /** Extra lines printed under the suite's table (targets, ratios). */
  summary?(records: readonly BenchRecord[]): string[];
}

// ---------------------------------------------------------------- selection

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/**
 * `--only` entries: a suite name selects that suite; anything else is a glob
 * over `name` or `name@scheduler` (and selects the suites that have a match).
 */
export class Selection {
  private readonly suites: Set<string>;
  private readonly globs: RegExp[];
  readonly raw: readonly string[];

  constructor(entries: readonly string[], suiteNames: readonly string[]) {
    this.raw = entries;
    this.suites = new Set(entries.filter((e) => suiteNames.includes(e)));
    this.globs = entries.filter((e) => !suiteNames.includes(e)).map(globToRegExp);
  }

  get empty(): boolean {
    return this.raw.length === 0;
  }

  /** The `--only` entries that are globs, to pass on to Python scripts. */
  get benchmarkGlobs(): string[] {
    return this.raw.filter((e) => !this.suites.has(e));
  }

  suiteSelected(suite: string, ids: readonly string[]): boolean {
    if (this.empty || this.suites.has(suite)) return true;
    return ids.some((id) => this.matches(id) || this.matches(id.split("@")[0]!));
  }

  selects(suite: string, name: string, scheduler: string): boolean {
    if (this.empty || this.suites.has(suite)) return true;
    return this.matches(name) || this.matches(`${name}@${scheduler}`);
  }

  private matches(id: string): boolean {
    return this.globs.some((g) => g.test(id));
  }
}

// ---------------------------------------------------------------- timing

/** Busy CPU seconds of the whole machine since boot (all cores), from /proc/stat; undefined off Linux. */
function machineBusySeconds(): number | undefined {
  try {
    const first = readFileSync("/proc/stat", "latin1").split("\n", 1)[0]!;
    if (!first.startsWith("cpu ")) return undefined;
    // user nice system idle iowait irq softirq steal ...; clock ticks of 1/100 s on Linux
    const f = first.trim().split(/\s+/).slice(1).map(Number);
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0);
    return Number.isFinite(busy) ? busy / 100 : undefined;
  } catch {
    return undefined;
  }
}

/** A point to measure other processes' CPU use from. */
export interface CpuMark {
  readonly wall: number;
  readonly own: number;
  readonly busy: number | undefined;
}

export function cpuMark(): CpuMark {
  const u = process.cpuUsage();
  return { wall: performance.now() / 1e3, own: (u.user + u.system) / 1e6, busy: machineBusySeconds() };
}

/**
 * % of the machine's CPU capacity used by everything but this process
 * (all its threads) since `from`, or null when the interval is too short for
 * /proc/stat's 10 ms resolution to tell.
 */
export function otherCpuPct(from: CpuMark, to: CpuMark = cpuMark()): number | null {
  if (from.busy === undefined || to.busy === undefined) return null;
  const capacity = (to.wall - from.wall) * availableParallelism();
  if (capacity < 0.5) return null;
  const other = to.busy - from.busy - (to.own - from.own);
  return Math.round(Math.min(100, Math.max(0, (100 * other) / capacity)));
}

let gcFn: (() => void) | undefined | null;

/** A full garbage collection between runs (as Python's harness does with gc.collect()), when V8 allows it. */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    try {
      const g = (globalThis as { gc?: () => void }).gc;
      if (typeof g === "function") gcFn = g;
      else {
        setFlagsFromString("--expose-gc");
        gcFn = runInNewContext("gc") as () => void;
      }
    } catch {
      gcFn = null;
    }
  }
  gcFn?.();
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One timed run: total seconds (build + compute), build seconds, and the value computed. */
export interface RunSample {
  readonly seconds: number;
  readonly buildSeconds: number;
  readonly value: unknown;
}

export interface MeasureSpec {
  readonly suite: string;
  readonly name: string;
  readonly scheduler: string;
  readonly repeats: number;
  readonly warmup: number;
  readonly nTasks?: number;
  readonly expected: unknown;
  readonly compareTo?: string;
  readonly note?: string;
  /** Build and compute once; time it yourself (build included). */
  readonly once: () => Promise<RunSample>;
}

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;
const round3 = (x: number): number => Math.round(x * 1e3) / 1e3;

function sameValue(a: unknown, b: unknown): boolean {
  return Object.is(a, b) || JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Warm-up runs, then timed runs with a collection before each. Every run's
 * value (warm-up included) is checked; the first wrong value or exception
 * stops the benchmark and is reported loudly — a wrong answer is never timed
 * quietly.
 */
export async function measure(spec: MeasureSpec, log: (line: string) => void): Promise<BenchRecord> {
  const seconds: number[] = [];
  const build: number[] = [];
  const other: (number | null)[] = [];
  let value: unknown;
  let error: string | undefined;
  const id = `${spec.name}@${spec.scheduler}`;
  try {
    for (let i = 0; i < spec.warmup + spec.repeats; i++) {
      collectGarbage();
      const mark = cpuMark();
      const s = await spec.once();
      const busy = otherCpuPct(mark);
      value = s.value;
      if (!sameValue(s.value, spec.expected)) {
        error = `WRONG RESULT: got ${show(s.value)}, expected ${show(spec.expected)} (run ${i + 1}${i < spec.warmup ? ", warm-up" : ""})`;
        break;
      }
      if (i >= spec.warmup) {
        seconds.push(s.seconds);
        build.push(s.buildSeconds);
        other.push(busy);
      }
    }
  } catch (e) {
    error = `FAILED: ${e instanceof Error ? `${e.name}: ${e.message.split("\n")[0]}` : String(e)}`;
  }
  const med = seconds.length > 0 ? median(seconds) : null;
  const rec: BenchRecord = {
    suite: spec.suite,
    name: spec.name,
    scheduler: spec.scheduler,
    impl: "ts",
    seconds_median: med === null ? null : round6(med),
    seconds_all: seconds.map(round6),
    seconds_min: seconds.length > 0 ? round6(Math.min(...seconds)) : null,
    seconds_max: seconds.length > 0 ? round6(Math.max(...seconds)) : null,
    repeats: seconds.length,
    warmup: spec.warmup,
    result: value,
    expected: spec.expected,
    ok: error === undefined,
  };
  if (spec.nTasks !== undefined) {
    rec.n_tasks = spec.nTasks;
    if (med !== null) {
      rec.us_per_task_median = round3((med / spec.nTasks) * 1e6);
      rec.us_per_task_min = round3((Math.min(...seconds) / spec.nTasks) * 1e6);
      rec.us_per_task_max = round3((Math.max(...seconds) / spec.nTasks) * 1e6);
    }
  }
  if (other.some((x) => x !== null)) rec.other_cpu_pct_all = other;
  if (build.length > 0) rec.build_seconds_median = round6(median(build));
  if (spec.compareTo !== undefined) rec.compare_to = spec.compareTo;
  if (spec.note !== undefined) rec.note = spec.note;
  if (error !== undefined) {
    rec.error = error;
    const bar = "!".repeat(78);
    log(`${bar}\n!!! ${id}: ${error}\n${bar}`);
  } else {
    log(
      `  ${spec.name.padEnd(34)} ${spec.scheduler.padEnd(9)} median ${fmtMs(med!).padStart(9)}` +
        (rec.us_per_task_median !== undefined ? `  ${fmtUs(rec.us_per_task_median).padStart(6)} µs/task` : "") +
        `  [${seconds.map((x) => fmtMs(x).replace(" ms", "")).join(", ")}] ms` +
        (rec.build_seconds_median !== undefined ? `  (build ${fmtMs(rec.build_seconds_median)})` : "") +
        (noisy(rec) ? `  !! other processes used ${rec.other_cpu_pct_all!.map((x) => (x === null ? "?" : `${x}%`)).join(", ")} of the CPU` : ""),
    );
  }
  return rec;
}

/** Whether other processes took more than `threshold` % of the CPU in the median run (timing not trustworthy). */
export function noisy(r: BenchRecord, threshold = 10): boolean {
  const xs = (r.other_cpu_pct_all ?? []).filter((x): x is number => x !== null);
  return xs.length > 0 && median(xs) > threshold;
}

/** Time `build()` then `run(graph)`; the sample's seconds cover both. */
export async function timed<G>(build: () => G, run: (graph: G) => Promise<unknown>): Promise<RunSample> {
  const t0 = performance.now();
  const g = build();
  const t1 = performance.now();
  const value = await run(g);
  const t2 = performance.now();
  return { seconds: (t2 - t0) / 1e3, buildSeconds: (t1 - t0) / 1e3, value };
}

// ---------------------------------------------------------------- formatting

function show(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(v);
  }
}

/** Seconds as milliseconds with about three significant digits (progress lines). */
export function fmtMs(s: number): string {
  const ms = s * 1e3;
  return `${ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3)} ms`;
}

/** µs with about three significant digits. */
export function fmtUs(us: number): string {
  if (us >= 1000) return Math.round(us).toLocaleString("en-US");
  if (us >= 100) return us.toFixed(0);
  if (us >= 10) return us.toFixed(1);
  return us.toFixed(2);
}

export function fmtInt(n: number): string {
  return n.toLocaleString("en-US");
}
