/**
 * `overhead` suite: graphs of tiny tasks, so the time measured is the
 * scheduler's own cost per task (graph construction included, as on the
 * Python side). Every benchmark runs on the `sync` scheduler and on an
 * embedded LocalCluster (one worker thread per core unless `--workers`),
 * started once before the timings and warmed up.
 *
 * | id | graph | tasks | result |
 * |---|---|---|---|
 * | overhead-single-task | `inc(1)` | 1 | 2 |
 * | overhead-independent-10k | 10,000 `inc(i)` + one `sum` | 10,001 | 50005000 |
 * | overhead-chain-2k | `x = inc(x)` 2,000 times | 2,000 | 2000 |
 * | overhead-chain-2k-nofuse | the same, linear fusion off | 2,000 | 2000 |
 * | overhead-tree-4096 | 4,096 `inc(i)` leaves, pairwise `add` to one | 8,191 | 8390656 |
 * | overhead-independent-1m | 1,000,000 `inc(i)`, `sum` of each 1,000, final `sum` | 1,001,001 | 500000500000 |
 * @module
 */
import { compute, delayed, type ComputeOptions, type Delayed } from "../src/index.js";
import { LocalCluster } from "../src/distributed.js";
import { fmtInt, fmtMs, fmtUs, measure, timed, type BenchRecord, type BenchSuite, type SuiteContext } from "./harness.js";

// Self-contained functions: worker threads receive them as source text.
const inc = delayed((x: number) => x + 1, { name: "inc" });
const add = delayed((x: number, y: number) => x + y, { name: "add" });
const sum = delayed(
  (xs: readonly number[]) => {
    let s = 0;
    for (const x of xs) s += x;
    return s;
  },
  { name: "sum" },
);

/** A built graph and the number of tasks it holds (counted while building). */
export interface Built {
  readonly root: Delayed<number>;
  readonly tasks: number;
}

function buildSingle(): Built {
  return { root: inc(1), tasks: 1 };
}

export function buildIndependent(n: number): Built {
  const parts: Delayed<number>[] = new Array<Delayed<number>>(n);
  for (let i = 0; i < n; i++) parts[i] = inc(i);
  return { root: sum(parts), tasks: n + 1 };
}

function buildChain(n: number): Built {
  let x: Delayed<number> | number = 0;
  for (let i = 0; i < n; i++) x = inc(x);
  return { root: x as Delayed<number>, tasks: n };
}

export function buildTree(leaves: number): Built {
  let level: Delayed<number>[] = [];
  for (let i = 0; i < leaves; i++) level.push(inc(i));
  let tasks = leaves;
  while (level.length > 1) {
    const next: Delayed<number>[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(add(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    tasks += level.length >> 1;
    level = next;
  }
  return { root: level[0]!, tasks };
}

/** n independent `inc`, summed `chunk` at a time, then one final sum: no task has more than max(chunk, n/chunk) arguments. */
function buildIndependentTree(n: number, chunk: number): Built {
  const partials: Delayed<number>[] = [];
  let tasks = 0;
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    const parts: Delayed<number>[] = new Array<Delayed<number>>(end - start);
    for (let i = start; i < end; i++) parts[i - start] = inc(i);
    partials.push(sum(parts));
    tasks += end - start + 1;
  }
  return { root: sum(partials), tasks: tasks + 1 };
}

interface Workload {
  readonly name: string;
  readonly build: () => Built;
  readonly expected: number;
  /** Tasks in the graph; every build is checked against it. */
  readonly tasks: number;
  /** Skipped with --quick; default repeats 3 instead of 5. */
  readonly slow?: boolean;
  readonly optimize?: ComputeOptions["optimize"];
  /** Python benchmark it compares with, when the name differs. */
  readonly compareTo?: string;
  readonly note?: string;
}

export const triangle = (n: number): number => (n * (n + 1)) / 2;

const WORKLOADS: readonly Workload[] = [
  { name: "overhead-single-task", build: buildSingle, tasks: 1, expected: 2 },
  { name: "overhead-independent-10k", build: () => buildIndependent(10_000), tasks: 10_001, expected: triangle(10_000) },
  { name: "overhead-chain-2k", build: () => buildChain(2_000), tasks: 2_000, expected: 2_000 },
  {
    name: "overhead-chain-2k-nofuse",
    build: () => buildChain(2_000),
    tasks: 2_000,
    expected: 2_000,
    optimize: { fuse: false },
    compareTo: "overhead-chain-2k",
    note:
      "overhead-chain-2k-nofuse: linear fusion switched off (`optimize: { fuse: false }`), so the 2,000 tasks are scheduled one by one, " +
      "as Python Dask does for delayed on sync/threads (its delayed optimization only culls). overhead-chain-2k uses the default optimizations, which fuse the chain.",
  },
  { name: "overhead-tree-4096", build: () => buildTree(4_096), tasks: 8_191, expected: triangle(4_096) },
  // 1,000,000 inc + 1,000 partial sums + 1 final sum
  { name: "overhead-independent-1m", build: () => buildIndependentTree(1_000_000, 1_000), tasks: 1_001_001, expected: triangle(1_000_000), slow: true },
];

const SCHEDULERS = ["sync", "embedded"] as const;
type SchedulerId = (typeof SCHEDULERS)[number];

function plan(ctx: SuiteContext): { w: Workload; s: SchedulerId }[] {
  const out: { w: Workload; s: SchedulerId }[] = [];
  for (const s of SCHEDULERS) for (const w of WORKLOADS) if (!(ctx.quick && w.slow === true) && ctx.selects(w.name, s)) out.push({ w, s });
  return out;
}

async function run(ctx: SuiteContext): Promise<BenchRecord[]> {
  const todo = plan(ctx);
  const records: BenchRecord[] = [];
  if (ctx.quick && WORKLOADS.some((w) => w.slow === true)) ctx.log("  (--quick: the 1,000,000-task rows are skipped)");
  let cluster: LocalCluster | undefined;
  try {
    if (todo.some((t) => t.s === "embedded")) {
      const t0 = performance.now();
      cluster = await LocalCluster.start(ctx.workers === undefined ? {} : { workers: ctx.workers });
      const started = (performance.now() - t0) / 1e3;
      // Warm the threads up (first messages, function compilation) before anything is timed.
      const [w] = await compute(buildIndependent(1_000).root, { scheduler: cluster });
      if (w !== triangle(1_000)) throw new Error(`embedded cluster warm-up returned ${String(w)}, expected ${triangle(1_000)}`);
      ctx.log(`  embedded LocalCluster: ${cluster.workers.length} worker threads, up in ${fmtMs(started)}, warm-up done`);
    }
    for (const { w, s } of todo) {
      const options: ComputeOptions = {
        scheduler: s === "sync" ? "sync" : cluster!,
        ...(w.optimize === undefined ? {} : { optimize: w.optimize }),
      };
      const repeats = ctx.repeats ?? (w.slow === true ? 3 : ctx.quick ? 3 : 5);
      const warmup = ctx.warmup ?? 1;
      if (w.slow === true) ctx.log(`  ${w.name}@${s}: ${warmup + repeats} runs of ${fmtInt(w.tasks)} tasks, this takes a while...`);
      records.push(
        await measure(
          {
            suite: "overhead",
            name: w.name,
            scheduler: s,
            repeats,
            warmup,
            nTasks: w.tasks,
            expected: w.expected,
            ...(w.compareTo === undefined ? {} : { compareTo: w.compareTo }),
            ...(w.note === undefined ? {} : { note: w.note }),
            once: () =>
              timed(
                () => {
                  const b = w.build();
                  if (b.tasks !== w.tasks) throw new Error(`${w.name} built ${b.tasks} tasks, the benchmark says ${w.tasks}`);
                  return b.root;
                },
                async (root) => (await compute(root, options))[0],
              ),
          },
          ctx.log,
        ),
      );
    }
  } finally {
    await cluster?.close();
  }
  return records;
}

function summary(records: readonly BenchRecord[]): string[] {
  const find = (name: string, s: string): BenchRecord | undefined => records.find((r) => r.impl === "ts" && r.name === name && r.scheduler === s && r.ok);
  const lines: string[] = [];
  const e10k = find("overhead-independent-10k", "embedded");
  if (e10k?.us_per_task_median !== undefined) {
    const v = e10k.us_per_task_median;
    lines.push(`- embedded, 10,000 independent tasks: ${fmtUs(v)} µs/task (issue target ≤ 10 µs: ${v <= 10 ? "met" : "NOT met"})`);
  }
  for (const s of SCHEDULERS) {
    const small = find("overhead-independent-10k", s);
    const big = find("overhead-independent-1m", s);
    if (small?.us_per_task_median === undefined) continue;
    if (big?.us_per_task_median === undefined) {
      if (s === "embedded") lines.push(`- embedded, per-task(1M) / per-task(10k): not measured (the 1M row was skipped or failed)`);
      continue;
    }
    const r = big.us_per_task_median / small.us_per_task_median;
    lines.push(
      `- ${s}, per-task(1M) / per-task(10k) = ${fmtUs(big.us_per_task_median)} / ${fmtUs(small.us_per_task_median)} µs = ${r.toFixed(2)}×` +
        (s === "embedded" ? ` (issue target ≤ 1.5×: ${r <= 1.5 ? "met" : "NOT met"})` : ""),
    );
  }
  return lines;
}

export const suite: BenchSuite = {
  name: "overhead",
  description: "scheduler cost per task: 10k independent + sum, 2k chain, 4,096-leaf tree, 1M independent, one task",
  ids: (ctx) => plan({ ...ctx, quick: false, selects: () => true }).map(({ w, s }) => `${w.name}@${s}`),
  run,
  summary,
  python: {
    script: "overhead.py",
    args: (ctx, names) => [
      ...(ctx.repeats === undefined ? [] : ["--repeats", String(ctx.repeats)]),
      ...(ctx.warmup === undefined ? [] : ["--warmup", String(ctx.warmup)]),
      ...(ctx.quick ? ["--quick"] : []),
      ...(names.length > 0 ? ["--only", names.join(",")] : []),
    ],
    pairs: { sync: "sync", embedded: "threads" },
  },
};
