/**
 * `distributed` suite: what a task costs on the network cluster — a
 * scheduler in this process, two worker processes over TCP on loopback, a
 * `Client` — side by side with Python's `dask.distributed`
 * `LocalCluster(n_workers=2, threads_per_worker=1)` (bench/python/network.py; not named distributed.py, which would shadow the package).
 * Both clusters are started once, outside the timings.
 *
 *   overhead-client-map-10k   client.gather(client.map(inc, range(10000), { pure: false }))
 *   overhead-independent-10k  10,000 delayed inc + a sum, computed on the cluster
 *   overhead-tree-4096        a 4,096-leaf binary tree of delayed adds
 *
 * The target: at least 20× Python's throughput.
 * @module
 */
import { Client } from "../src/distributed.js";
import { compute } from "../src/index.js";
import { fmtMs, fmtUs, measure, timed, type BenchRecord, type BenchSuite, type SuiteContext } from "./harness.js";
import { buildIndependent, buildTree, triangle } from "./overhead.js";

const inc = (x: number): number => x + 1;

interface Workload {
  readonly name: string;
  readonly tasks: number;
  readonly expected: number;
  readonly run: (client: Client) => Promise<number>;
}

const WORKLOADS: readonly Workload[] = [
  {
    name: "overhead-client-map-10k",
    tasks: 10_000,
    expected: triangle(10_000),
    run: async (client) => {
      const futures = client.map(inc, Array.from({ length: 10_000 }, (_, i) => i), { pure: false });
      const values = await client.gather(futures);
      return values.reduce((a, b) => a + b, 0);
    },
  },
  {
    name: "overhead-independent-10k",
    tasks: 10_001,
    expected: triangle(10_000),
    run: async (client) => (await compute(buildIndependent(10_000).root, { scheduler: client }))[0] as number,
  },
  {
    name: "overhead-tree-4096",
    tasks: 8_191,
    expected: triangle(4_096),
    run: async (client) => (await compute(buildTree(4_096).root, { scheduler: client }))[0] as number,
  },
];

const SCHEDULER = "network";

function plan(ctx: SuiteContext): Workload[] {
  return WORKLOADS.filter((w) => ctx.selects(w.name, SCHEDULER));
}

async function run(ctx: SuiteContext): Promise<BenchRecord[]> {
  const todo = plan(ctx);
  if (todo.length === 0) return [];
  const workers = ctx.workers ?? 2;
  const t0 = performance.now();
  const client = await Client.connect({ workers, processes: process.env.BENCH_NETWORK_THREADS === "1" ? false : true, setAsDefault: false });
  ctx.log(`  network cluster: scheduler here, ${workers} worker processes, up in ${fmtMs((performance.now() - t0) / 1e3)}`);
  const records: BenchRecord[] = [];
  try {
    for (const w of todo) {
      records.push(
        await measure(
          {
            suite: "distributed",
            name: w.name,
            scheduler: SCHEDULER,
            repeats: ctx.repeats ?? (ctx.quick ? 3 : 5),
            warmup: ctx.warmup ?? 1,
            nTasks: w.tasks,
            expected: w.expected,
            once: () => timed(() => client, (c) => w.run(c)),
          },
          ctx.log,
        ),
      );
    }
  } finally {
    await client.close();
  }
  return records;
}

function summary(records: readonly BenchRecord[]): string[] {
  const lines: string[] = [];
  for (const w of WORKLOADS) {
    const ts = records.find((r) => r.impl === "ts" && r.name === w.name && r.ok);
    const py = records.find((r) => r.impl === "python" && r.name === w.name && r.ok);
    if (ts?.us_per_task_median === undefined || py?.us_per_task_median === undefined) continue;
    const ratio = py.us_per_task_median / ts.us_per_task_median;
    lines.push(
      `- ${w.name}: ${fmtUs(ts.us_per_task_median)} µs/task vs Python distributed ${fmtUs(py.us_per_task_median)}: ${ratio.toFixed(1)}× (issue target ≥ 20×: ${ratio >= 20 ? "met" : "NOT met"})`,
    );
  }
  return lines;
}

export const suite: BenchSuite = {
  name: "distributed",
  description: "network cluster: scheduler + 2 worker processes over TCP + Client, vs dask.distributed LocalCluster(2 workers, 1 thread)",
  ids: (ctx) => plan({ ...ctx, selects: () => true }).map((w) => `${w.name}@${SCHEDULER}`),
  run,
  summary,
  python: {
    script: "network.py",
    args: (ctx, names) => [
      ...(ctx.repeats === undefined ? [] : ["--repeats", String(ctx.repeats)]),
      ...(ctx.warmup === undefined ? [] : ["--warmup", String(ctx.warmup)]),
      ...(ctx.quick ? ["--quick"] : []),
      ...(names.length > 0 ? ["--only", names.join(",")] : []),
    ],
    pairs: { [SCHEDULER]: "distributed" },
    columns: ["distributed"],
  },
};
