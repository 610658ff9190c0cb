/**
 * `bag` suite: the two `dask.bag` jobs of the Python baseline, on the same
 * generated files (`bench/data/generate.ts`, written first if missing), timed
 * from building the bag to the computed top-k:
 *
 *   bag-json-names-topk  readText(logs-*.jsonl).map(JSON.parse).pluck("name")
 *                          .frequencies().topk(10, ([, n]) => n)
 *   bag-wordcount-topk   readText(text-*.txt).str.split().flatten()
 *                          .frequencies().topk(20, ([, n]) => n)
 *
 * (the same calls as Python's jobs; `str.split()` splits on runs of
 * whitespace in both.) The result is the checksum the baseline defines: the first 16 hex digits of the
 * sha256 of `key\tcount\n` per pair, in top-k order. Each job runs on the
 * embedded cluster and on `sync`; the target is the embedded figure
 * against the faster of Python's `processes` and `threads`.
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import * as db from "../src/bag.js";
import { LocalCluster } from "../src/distributed.js";
import { fmtMs, measure, timed, type BenchRecord, type BenchSuite, type SuiteContext } from "./harness.js";
import { dataDir, generate } from "./data/generate.js";

interface Job {
  readonly name: string;
  readonly files: string;
  readonly expected: string;
  readonly build: (dir: string) => db.Bag<[string, number]>;
}

const JOBS: readonly Job[] = [
  {
    name: "bag-json-names-topk",
    files: "logs",
    expected: "57227bac6b4062c7",
    build: (dir) =>
      db
        .readText(join(dir, "logs-*.jsonl"))
        .map(JSON.parse)
        .pluck("name")
        .frequencies()
        .topk(10, ([, n]) => n) as db.Bag<[string, number]>,
  },
  {
    name: "bag-wordcount-topk",
    files: "text",
    expected: "ba6a4722f8fe7e2e",
    build: (dir) =>
      db
        .readText(join(dir, "text-*.txt"))
        .str.split()
        .flatten()
        .frequencies()
        .topk(20, ([, n]) => n),
  },
];

const SCHEDULERS = ["embedded", "sync"] as const;

function checksum(pairs: readonly [string, number][]): string {
  return createHash("sha256")
    .update(pairs.map(([k, n]) => `${k}\t${n}\n`).join(""))
    .digest("hex")
    .slice(0, 16);
}

function plan(ctx: SuiteContext): { job: Job; s: (typeof SCHEDULERS)[number] }[] {
  const out: { job: Job; s: (typeof SCHEDULERS)[number] }[] = [];
  for (const s of SCHEDULERS) for (const job of JOBS) if (!(ctx.quick && s === "sync") && ctx.selects(job.name, s)) out.push({ job, s });
  return out;
}

async function run(ctx: SuiteContext): Promise<BenchRecord[]> {
  const todo = plan(ctx);
  if (todo.length === 0) return [];
  const dir = dataDir();
  const t0 = performance.now();
  const wrong = await generate({ only: [...new Set(todo.map((t) => t.job.files))] as ("logs" | "text")[], log: ctx.log });
  if (wrong.length > 0) throw new Error(`benchmark data in ${dir} differs from the published files: ${wrong.join(", ")}`);
  ctx.log(`  data in ${dir} ready (${fmtMs((performance.now() - t0) / 1e3)})`);
  const records: BenchRecord[] = [];
  let cluster: LocalCluster | undefined;
  try {
    if (todo.some((t) => t.s === "embedded")) cluster = await LocalCluster.start(ctx.workers === undefined ? {} : { workers: ctx.workers });
    for (const { job, s } of todo) {
      records.push(
        await measure(
          {
            suite: "bag",
            name: job.name,
            scheduler: s,
            repeats: ctx.repeats ?? 3,
            warmup: ctx.warmup ?? 1,
            expected: job.expected,
            once: () =>
              timed(
                () => job.build(dir),
                async (bag) => checksum(await bag.compute({ scheduler: s === "sync" ? "sync" : cluster! })),
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
  const lines: string[] = [];
  for (const job of JOBS) {
    const ts = records.find((r) => r.impl === "ts" && r.name === job.name && r.scheduler === "embedded" && r.ok);
    const py = records.filter((r) => r.impl === "python" && r.name === job.name && (r.scheduler === "processes" || r.scheduler === "threads") && r.ok);
    if (ts?.seconds_median == null || py.length === 0) continue;
    const best = py.reduce((a, b) => ((a.seconds_median ?? Infinity) <= (b.seconds_median ?? Infinity) ? a : b));
    const ratio = (best.seconds_median ?? NaN) / ts.seconds_median;
    lines.push(
      `- ${job.name}: embedded ${ts.seconds_median.toFixed(2)} s vs Python ${best.scheduler} ${best.seconds_median?.toFixed(2)} s (the faster of processes and threads): ` +
        `${ratio.toFixed(1)}× (issue target ≥ 4×: ${ratio >= 4 ? "met" : "NOT met"})`,
    );
  }
  return lines;
}

export const suite: BenchSuite = {
  name: "bag",
  description: "dask-ts/bag over ~440 MB of generated logs and text: JSON names top-10, word count top-20",
  ids: (ctx) => plan({ ...ctx, quick: false, selects: () => true }).map(({ job, s }) => `${job.name}@${s}`),
  run,
  summary,
  unit: "seconds",
  python: {
    script: "bag.py",
    args: (ctx, names) => [
      "--data",
      dataDir(),
      ...(ctx.repeats === undefined ? [] : ["--repeats", String(ctx.repeats)]),
      ...(ctx.warmup === undefined ? [] : ["--warmup", String(ctx.warmup)]),
      ...(ctx.quick ? ["--quick"] : []),
      ...(names.length > 0 ? ["--only", names.join(",")] : []),
    ],
    pairs: { embedded: "processes", sync: "sync" },
    columns: ["processes", "threads", "sync"],
  },
};
