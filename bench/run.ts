/**
 * `npm run bench`: run the benchmark suites, then the same workloads with
 * Python Dask (when `/usr/bin/python3` can import dask), and print one
 * Markdown table per suite with both side by side. Progress goes to stderr,
 * the tables to stdout, and every raw record to a JSON-lines file under the
 * OS temporary directory (its path is printed at the end).
 *
 * Options (environment variable in brackets):
 *   --only LIST      suites (`overhead`, `comm`) or benchmark globs over NAME or NAME@SCHEDULER,
 *                    comma-separated [BENCH_ONLY]
 *   --repeats N      timed runs per benchmark [BENCH_REPEATS]
 *   --warmup N       untimed runs before them [BENCH_WARMUP]
 *   --quick          fewer repeats, skip the slowest rows [BENCH_QUICK=1]
 *   --workers N      worker threads of the embedded cluster [BENCH_WORKERS]
 *   --python PATH    interpreter for the Python Dask side [BENCH_PYTHON], default /usr/bin/python3
 *   --no-python      TS only [BENCH_NO_PYTHON=1]
 *   --python-1m      also time the 1,000,000-task rows in Python (minutes) [BENCH_PY_1M=1]
 *   --out FILE       where to write the JSON lines [BENCH_OUT]
 *   --list           print the benchmark ids and exit
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { fmtInt, fmtUs, noisy, Selection, type BenchRecord, type BenchSuite, type SuiteContext } from "./harness.js";

/** The suites, in run order. A new suite is a module exporting `suite: BenchSuite`, added here. */
const SUITES: readonly { readonly name: string; readonly load: () => Promise<BenchSuite> }[] = [
  { name: "overhead", load: async () => (await import("./overhead.js")).suite },
  { name: "bag", load: async () => (await import("./bag.js")).suite },
  { name: "distributed", load: async () => (await import("./distributed.js")).suite },
  { name: "comm", load: async () => (await import("./comm.js")).suite },
];

const DEFAULT_PYTHON = "/usr/bin/python3";

interface Options {
  only: string[];
  repeats: number | undefined;
  warmup: number | undefined;
  quick: boolean;
  workers: number | undefined;
  python: string;
  noPython: boolean;
  python1m: boolean;
  out: string | undefined;
  list: boolean;
}

function usage(): string {
  return [
    "usage: node dist/bench/run.js [--only LIST] [--repeats N] [--warmup N] [--quick] [--workers N]",
    "                              [--python PATH | --no-python] [--python-1m] [--out FILE] [--list]",
    `suites: ${SUITES.map((s) => s.name).join(", ")}; see bench/README.md`,
  ].join("\n");
}

function positiveInt(flag: string, v: string | undefined, min = 1): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min) {
    process.stderr.write(`${flag} needs an integer >= ${min}, got ${JSON.stringify(v)}\n${usage()}\n`);
    process.exit(2);
  }
  return n;
}

const truthy = (v: string | undefined): boolean => v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";

function parseOptions(argv: readonly string[]): Options {
  const env = process.env;
  const o: Options = {
    only: (env.BENCH_ONLY ?? "").split(",").filter((s) => s !== ""),
    repeats: env.BENCH_REPEATS ? positiveInt("BENCH_REPEATS", env.BENCH_REPEATS) : undefined,
    warmup: env.BENCH_WARMUP ? positiveInt("BENCH_WARMUP", env.BENCH_WARMUP, 0) : undefined,
    quick: truthy(env.BENCH_QUICK),
    workers: env.BENCH_WORKERS ? positiveInt("BENCH_WORKERS", env.BENCH_WORKERS) : undefined,
    python: env.BENCH_PYTHON || DEFAULT_PYTHON,
    noPython: truthy(env.BENCH_NO_PYTHON),
    python1m: truthy(env.BENCH_PY_1M),
    out: env.BENCH_OUT || undefined,
    list: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case "--only":
        o.only = (value() ?? "").split(",").filter((s) => s !== "");
        break;
      case "--repeats":
        o.repeats = positiveInt(flag, value());
        break;
      case "--warmup":
        o.warmup = positiveInt(flag, value(), 0);
        break;
      case "--quick":
        o.quick = true;
        break;
      case "--workers":
        o.workers = positiveInt(flag, value());
        break;
      case "--python":
        o.python = value() ?? DEFAULT_PYTHON;
        break;
      case "--no-python":
        o.noPython = true;
        break;
      case "--python-1m":
        o.python1m = true;
        break;
      case "--out":
        o.out = value();
        break;
      case "--list":
        o.list = true;
        break;
      case "-h":
      case "--help":
        process.stdout.write(`${usage()}\n`);
        process.exit(0);
        break;
      default:
        process.stderr.write(`unknown option ${JSON.stringify(a)}\n${usage()}\n`);
        process.exit(2);
    }
  }
  return o;
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------- Python Dask

interface PythonInfo {
  readonly available: boolean;
  readonly version?: string;
  readonly reason?: string;
}

function probePython(python: string): PythonInfo {
  const r = spawnSync(python, ["-c", "import sys, dask; print(sys.version.split()[0], dask.__version__)"], { encoding: "utf8", timeout: 60_000 });
  if (r.error !== undefined) return { available: false, reason: `${python} could not be run (${r.error.message})` };
  if (r.status !== 0) {
    const last = r.stderr.trim().split("\n").pop() ?? "";
    return { available: false, reason: `${python} -c "import dask" failed${last ? `: ${last}` : ""}` };
  }
  const [py, dask] = r.stdout.trim().split(/\s+/);
  return { available: true, version: `Python ${py}, dask ${dask}` };
}

/** The script under bench/python/, whether this file runs from dist/bench/ (compiled) or bench/ (tsx). */
function pythonScript(name: string): string | undefined {
  for (const rel of [`../../bench/python/${name}`, `./python/${name}`]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Run a Python benchmark script; its stdout is JSON lines, its stderr goes to ours. */
function runPython(python: string, script: string, args: readonly string[], suite: string, env: NodeJS.ProcessEnv): Promise<{ records: BenchRecord[]; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn(python, [script, ...args], { stdio: ["ignore", "pipe", "inherit"], env });
    const records: BenchRecord[] = [];
    const rl = createInterface({ input: child.stdout });
    rl.on("line", (line) => {
      const t = line.trim();
      if (!t.startsWith("{")) return;
      try {
        const r = JSON.parse(t) as Omit<BenchRecord, "suite" | "impl">;
        records.push({ ...r, suite, impl: "python" });
      } catch {
        log(`  (ignored a line of ${script} that is not JSON: ${t.slice(0, 80)})`);
      }
    });
    child.on("error", (e) => resolve({ records, error: e.message }));
    child.on("close", (code, signal) => {
      resolve(code === 0 ? { records } : { records, error: `exited with ${signal ?? `code ${String(code)}`}` });
    });
  });
}

// ---------------------------------------------------------------- table

/** The figure a suite's table shows: microseconds per task, or seconds per run. */
interface Metric {
  readonly header: string;
  value(r: BenchRecord): number | undefined;
  min(r: BenchRecord): number | undefined;
  max(r: BenchRecord): number | undefined;
  fmt(x: number): string;
}

const fmtSeconds = (x: number): string => (x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));

function metricOf(suite: BenchSuite): Metric {
  if (suite.unit === "seconds") {
    return {
      header: "seconds",
      value: (r) => r.seconds_median ?? undefined,
      min: (r) => r.seconds_min ?? undefined,
      max: (r) => r.seconds_max ?? undefined,
      fmt: fmtSeconds,
    };
  }
  return { header: "µs/task", value: (r) => r.us_per_task_median, min: (r) => r.us_per_task_min, max: (r) => r.us_per_task_max, fmt: fmtUs };
}

function tsCell(r: BenchRecord, m: Metric): string {
  if (!r.ok) return `**${r.error?.startsWith("WRONG") ? "WRONG RESULT" : "FAILED"}**`;
  const v = m.value(r);
  if (v === undefined) return "";
  const lo = m.min(r);
  const hi = m.max(r);
  const range = lo !== undefined && hi !== undefined && r.repeats > 1 ? ` (${m.fmt(lo)}–${m.fmt(hi)})` : "";
  return `${m.fmt(v)}${range}${noisy(r) ? " ⚠" : ""}`;
}

function pyCell(r: BenchRecord | undefined, python: PythonState, m: Metric): string {
  if (python.kind !== "ran") return python.kind === "missing" ? "n/a" : "–";
  if (r === undefined) return "skipped";
  if (!r.ok) return `**${r.error?.startsWith("WRONG") ? "WRONG RESULT" : "FAILED"}**`;
  const v = m.value(r);
  return v === undefined ? "" : `${m.fmt(v)}${noisy(r) ? " ⚠" : ""}`;
}

type PythonState = { kind: "ran" } | { kind: "missing" } | { kind: "off" };

function table(suite: BenchSuite, records: readonly BenchRecord[], python: PythonState): string {
  const ts = records.filter((r) => r.impl === "ts");
  const py = records.filter((r) => r.impl === "python");
  const pairs = suite.python?.pairs ?? {};
  const columns = suite.python?.columns ?? ["sync", "threads"];
  const m = metricOf(suite);
  const lines = [
    `### ${suite.name}`,
    "",
    `| benchmark | scheduler | tasks | ${m.header} TS (min–max) | ${columns.map((c) => `${m.header} Python ${c}`).join(" | ")} | Python/TS |`,
    `|---|---|--:|--:|${columns.map(() => "--:|").join("")}--:|`,
  ];
  for (const r of ts) {
    const pyName = r.compare_to ?? r.name;
    const paired = py.find((p) => p.name === pyName && p.scheduler === pairs[r.scheduler]);
    const mine = m.value(r);
    const theirs = paired === undefined ? undefined : m.value(paired);
    let ratio = "";
    if (r.ok && paired?.ok === true && theirs !== undefined && mine !== undefined && mine > 0) {
      ratio = `${(theirs / mine).toFixed(1)}× (vs ${paired.scheduler})`;
    }
    const cells = columns.map((c) => pyCell(py.find((p) => p.name === pyName && p.scheduler === c), python, m));
    lines.push(`| ${r.name} | ${r.scheduler} | ${r.n_tasks === undefined ? "" : fmtInt(r.n_tasks)} | ${tsCell(r, m)} | ${cells.join(" | ")} | ${ratio} |`);
  }
  const notes = [...new Set(ts.map((r) => r.note).filter((n): n is string => n !== undefined))];
  const extra = suite.summary?.(records) ?? [];
  if (notes.length > 0 || extra.length > 0) lines.push("");
  for (const n of notes) lines.push(`- ${n}`);
  lines.push(...extra);
  const shaky = records.filter((r) => r.ok && noisy(r));
  if (shaky.length > 0) {
    lines.push(
      `- ⚠ other processes used more than 10 % of the machine's CPU during these runs (median): ${shaky.map((r) => `${r.impl === "ts" ? "TS" : "Python"} ${r.name}@${r.scheduler}`).join(", ")}. ` +
        "Those figures are not to be trusted; run again on a quiet machine.",
    );
  }
  const bad = records.filter((r) => !r.ok);
  for (const r of bad) lines.push(`- **${r.impl === "ts" ? "TS" : "Python"} ${r.name}@${r.scheduler}: ${r.error ?? "failed"}**`);
  return lines.join("\n");
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.python1m) process.env.BENCH_PY_1M = "1";
  const selection = new Selection(opts.only, SUITES.map((s) => s.name));
  const ctxFor = (suite: string): SuiteContext => ({
    repeats: opts.repeats,
    warmup: opts.warmup,
    quick: opts.quick,
    workers: opts.workers,
    selects: (name, scheduler) => selection.selects(suite, name, scheduler),
    log,
  });

  // Which suites: a suite named in --only, or one with a benchmark matching a glob (that needs its module).
  const chosen: BenchSuite[] = [];
  for (const entry of SUITES) {
    if (!selection.empty && opts.only.includes(entry.name)) chosen.push(await entry.load());
    else if (selection.empty || selection.benchmarkGlobs.length > 0) {
      const s = await entry.load();
      if (selection.suiteSelected(s.name, s.ids(ctxFor(s.name)))) chosen.push(s);
    }
  }
  if (opts.list) {
    for (const s of chosen) for (const id of s.ids(ctxFor(s.name))) if (selection.selects(s.name, ...(id.split("@") as [string, string]))) process.stdout.write(`${s.name}: ${id}\n`);
    return 0;
  }
  if (chosen.length === 0) {
    log(`--only ${opts.only.join(",")} selects nothing.\n${usage()}`);
    return 2;
  }

  let python: PythonState = { kind: "off" };
  let pyInfo: PythonInfo | undefined;
  if (!opts.noPython && chosen.some((s) => s.python !== undefined)) {
    pyInfo = probePython(opts.python);
    python = pyInfo.available ? { kind: "ran" } : { kind: "missing" };
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const out = opts.out ?? join(tmpdir(), `dask-ts-bench-${stamp}.jsonl`);
  const meta = {
    type: "meta",
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: availableParallelism(),
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    python: pyInfo?.version ?? null,
    load_average_start: loadavg().map((x) => Math.round(x * 100) / 100),
    options: { ...opts },
  };
  const busyAtStart = loadavg()[0]! > 0.5 * availableParallelism();
  if (busyAtStart) log(`  !!! the machine is busy (1-min load average ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores): timings will be noisy`);
  writeFileSync(out, `${JSON.stringify(meta)}\n`);
  const save = (rs: readonly BenchRecord[]): void => {
    if (rs.length > 0) appendFileSync(out, rs.map((r) => `${JSON.stringify({ type: "result", ...r })}\n`).join(""));
  };

  log(`dask-ts benchmarks: ${chosen.map((s) => s.name).join(", ")}${opts.quick ? " (quick)" : ""}; node ${process.version}, ${availableParallelism()} cores`);
  if (python.kind === "ran") log(`Python Dask found: ${pyInfo!.version} (${opts.python})`);

  const all: { suite: BenchSuite; records: BenchRecord[] }[] = [];
  for (const suite of chosen) {
    log(`\n== ${suite.name}: ${suite.description}`);
    const ctx = ctxFor(suite.name);
    const records = await suite.run(ctx);
    save(records);
    if (python.kind === "ran" && suite.python !== undefined && records.length > 0) {
      const script = pythonScript(suite.python.script);
      if (script === undefined) log(`  !!! bench/python/${suite.python.script} not found; Python columns left empty`);
      else {
        const names = [...new Set(records.map((r) => r.compare_to ?? r.name))];
        log(`\n== ${suite.name} in Python Dask (${pyInfo!.version}): ${suite.python.script}`);
        const res = await runPython(opts.python, script, suite.python.args(ctx, names), suite.name, process.env);
        if (res.error !== undefined) log(`  !!! ${suite.python.script} ${res.error}`);
        save(res.records);
        records.push(...res.records);
      }
    }
    all.push({ suite, records });
  }

  const header = [
    `## dask-ts benchmarks${opts.quick ? " (quick)" : ""}`,
    "",
    `Node ${process.version} on ${meta.cpu}, ${meta.cores} cores, ${meta.memory_gib} GiB; ` +
      (python.kind === "ran" ? `${pyInfo!.version}.` : python.kind === "missing" ? "Python Dask not available." : "Python Dask not run."),
    `1-min load average at the start: ${meta.load_average_start[0]!.toFixed(2)}` +
      (busyAtStart ? " — **the machine was busy with other work: timings are noisy**." : ".") +
      " ⚠ marks a figure taken while other processes used more than 10 % of the CPU.",
    "µs/task = median seconds (graph construction + compute) / tasks. Python/TS = how many times faster dask-ts is than Python Dask " +
      "(TS sync vs Python sync, TS embedded vs Python threads).",
  ];
  process.stdout.write(`\n${header.join("\n")}\n`);
  for (const { suite, records } of all) process.stdout.write(`\n${table(suite, records, python)}\n`);
  if (python.kind === "missing") {
    process.stdout.write(
      `\nPython Dask was not found (${pyInfo!.reason}), so only the TS figures are shown. ` +
        "To compare, install Debian's package: `apt-get install -y python3-dask` (or point BENCH_PYTHON at an interpreter that has dask).\n",
    );
  }
  process.stdout.write(`\nRaw results (JSON lines): ${out}\n`);
  const failed = all.flatMap((a) => a.records).filter((r) => !r.ok);
  if (failed.length > 0) {
    log(`\n!!! ${failed.length} benchmark(s) failed or returned a wrong result: ${failed.map((r) => `${r.impl}:${r.name}@${r.scheduler}`).join(", ")}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    log(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  },
);
