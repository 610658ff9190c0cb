/**
 * Generator of the bag benchmark data, byte for byte the files the Python
 * baseline's `gen_data.py` writes: `logs-00.jsonl` .. `logs-07.jsonl` and
 * `text-00.txt` .. `text-07.txt` (~440 MB). Files are written in parallel,
 * one worker thread per core, and each is checked against the published
 * sha256 (`expected.ts`).
 *
 *   node dist/bench/data/generate.js [DIR] [--only logs,text] [--force] [--jobs N]
 *   node dist/bench/data/generate.js [DIR] --check
 *
 * DIR defaults to $DASK_TS_BENCH_DATA, else `dask-ts-bench-data` in the OS
 * temporary directory. A file is skipped when the manifest in DIR
 * (`dask-ts-manifest.json`) says it was written with the expected hash and
 * its size and modification time have not changed since. `--check` writes
 * nothing: it tests the random-number code against its definition and
 * re-hashes every file present.
 * @module
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { EXPECTED } from "./expected.js";
import { mix64Big, Modulus, randBig, Stream, Zipf } from "./random.js";
import { personNames, word } from "./vocab.js";
import { LOGS_FILES, TEXT_FILES, writeLogs, writeText, type Written } from "./writers.js";

export const DATA_SETS = ["logs", "text"] as const;
export type DataSet = (typeof DATA_SETS)[number];

const MANIFEST = "dask-ts-manifest.json";
const MANIFEST_VERSION = 1;

/** The benchmark data directory: $DASK_TS_BENCH_DATA, else `dask-ts-bench-data` under the OS temporary directory. */
export function dataDir(): string {
  return resolve(process.env.DASK_TS_BENCH_DATA || join(tmpdir(), "dask-ts-bench-data"));
}

/** The files of a data set, in order. */
export function fileNames(set: DataSet): string[] {
  return set === "logs"
    ? Array.from({ length: LOGS_FILES }, (_, f) => `logs-${String(f).padStart(2, "0")}.jsonl`)
    : Array.from({ length: TEXT_FILES }, (_, f) => `text-${String(f).padStart(2, "0")}.txt`);
}

interface Job {
  readonly set: DataSet;
  readonly f: number;
  readonly dir: string;
}

interface ManifestEntry {
  bytes: number;
  sha256: string;
  mtimeMs: number;
}

interface Manifest {
  version: number;
  files: Record<string, ManifestEntry>;
}

function readManifest(dir: string): Manifest {
  try {
    const m = JSON.parse(readFileSync(join(dir, MANIFEST), "utf8")) as Manifest;
    if (m.version === MANIFEST_VERSION && typeof m.files === "object") return m;
  } catch {
    // missing or unreadable: start afresh
  }
  return { version: MANIFEST_VERSION, files: {} };
}

function writeManifest(dir: string, m: Manifest): void {
  const sorted = Object.fromEntries(Object.entries(m.files).sort(([a], [b]) => (a < b ? -1 : 1)));
  writeFileSync(join(dir, MANIFEST), `${JSON.stringify({ version: m.version, files: sorted }, null, 1)}\n`);
}

/** Whether `name` is in place: the manifest recorded the expected hash for it, and its size and time are unchanged. */
function upToDate(dir: string, name: string, m: Manifest): boolean {
  const e = m.files[name];
  const want = EXPECTED[name];
  if (e === undefined || want === undefined || e.sha256 !== want.sha256 || e.bytes !== want.bytes) return false;
  try {
    const st = statSync(join(dir, name));
    return st.size === e.bytes && st.mtimeMs === e.mtimeMs;
  } catch {
    return false;
  }
}

export function sha256File(path: string): string {
  const h = createHash("sha256");
  const buf = Buffer.allocUnsafe(1 << 22);
  const fd = openSync(path, "r");
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

function runJob(job: Job): Written & { seconds: number } {
  const t0 = performance.now();
  const w = job.set === "logs" ? writeLogs(job.dir, job.f) : writeText(job.dir, job.f);
  return { ...w, seconds: (performance.now() - t0) / 1e3 };
}

/** Run the jobs on `jobs` worker threads (on this thread when jobs = 1), reporting each file as it is done. */
async function runJobs(todo: readonly Job[], jobs: number, done: (w: Written & { seconds: number }) => void): Promise<void> {
  if (jobs <= 1) {
    for (const j of todo) done(runJob(j));
    return;
  }
  const queue = [...todo];
  const url = new URL(import.meta.url);
  await Promise.all(
    Array.from({ length: Math.min(jobs, queue.length) }, async () => {
      const worker = new Worker(url, { workerData: { benchDataWorker: true } });
      try {
        for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
          const j = job;
          const r = await new Promise<Written & { seconds: number }>((ok, fail) => {
            const onError = (e: Error): void => fail(e);
            worker.once("error", onError);
            worker.once("message", (msg: { ok: Written & { seconds: number } } | { error: string }) => {
              worker.off("error", onError);
              if ("ok" in msg) ok(msg.ok);
              else fail(new Error(`${j.set} file ${j.f}: ${msg.error}`));
            });
            worker.postMessage(j);
          });
          done(r);
        }
      } finally {
        await worker.terminate();
      }
    }),
  );
}

export interface GenerateOptions {
  readonly dir?: string;
  readonly only?: readonly DataSet[];
  readonly force?: boolean;
  /** Worker threads; default one per core. */
  readonly jobs?: number;
  readonly log?: (line: string) => void;
}

/**
 * Write the missing or changed files of the chosen data sets. Resolves with
 * the names of files whose hash differs from the published one (empty: all
 * good).
 */
export async function generate(opts: GenerateOptions = {}): Promise<string[]> {
  const dir = opts.dir ?? dataDir();
  const log = opts.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  mkdirSync(dir, { recursive: true });
  const manifest = readManifest(dir);
  const todo: Job[] = [];
  let kept = 0;
  for (const set of opts.only ?? DATA_SETS) {
    fileNames(set).forEach((name, f) => {
      if (opts.force !== true && upToDate(dir, name, manifest)) kept++;
      else todo.push({ set, f, dir });
    });
  }
  if (kept > 0) log(`${kept} file(s) already in place in ${dir}`);
  const bad: string[] = [];
  if (todo.length === 0) return bad;
  // Run from source (tsx), worker threads would lack the TypeScript loader: one thread then.
  const fromSource = import.meta.url.endsWith(".ts");
  const jobs = fromSource ? 1 : Math.max(1, opts.jobs ?? availableParallelism());
  log(`writing ${todo.length} file(s) to ${dir} with ${Math.min(jobs, todo.length)} thread(s)${fromSource ? " (run from source; the compiled script uses one thread per core)" : ""}`);
  const t0 = performance.now();
  await runJobs(todo, jobs, (w) => {
    const want = EXPECTED[w.name];
    const ok = want !== undefined && want.sha256 === w.sha256 && want.bytes === w.bytes;
    if (ok) manifest.files[w.name] = { bytes: w.bytes, sha256: w.sha256, mtimeMs: statSync(join(dir, w.name)).mtimeMs };
    else {
      delete manifest.files[w.name];
      bad.push(w.name);
    }
    writeManifest(dir, manifest);
    log(
      `  ${ok ? "wrote" : "WRONG"} ${w.name.padEnd(14)} ${w.bytes.toLocaleString("en-US").padStart(11)} bytes  ${w.seconds.toFixed(1)} s` +
        (ok ? "" : `  sha256 ${w.sha256}, expected ${want?.sha256 ?? "(no published hash)"} / ${want?.bytes ?? "?"} bytes`),
    );
  });
  log(`done in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  return bad;
}

// ---------------------------------------------------------------- --check

/** Test the fast random-number code and the vocabularies against their definitions; returns failure messages. */
export function selfTest(): string[] {
  const fails: string[] = [];
  const expect = (what: string, got: unknown, want: unknown): void => {
    if (got !== want) fails.push(`${what}: got ${String(got)}, expected ${String(want)}`);
  };
  // Test vectors of the format.
  expect("r(1,3,5)[0]", randBig(1, 3, 5, 0), 10454706002845098059n);
  expect("r(1,3,5)[1]", randBig(1, 3, 5, 1), 14929996620635896535n);
  const s = new Stream(1, 3, 5);
  expect("Stream(1,3,5) value 0", s.nextBig(), 10454706002845098059n);
  expect("Stream(1,3,5) value 1", s.nextBig(), 14929996620635896535n);
  // The 32-bit-halves code against BigInt on many values of several streams, and the reductions.
  for (const [d, f, c] of [
    [2, 0, 1],
    [3, 7, 1],
    [2, 5, 8],
    [3, 0, 0],
  ] as const) {
    const st = new Stream(d, f, c);
    for (let i = 0; i < 20_000; i++) {
      const got = st.nextBig();
      const want = randBig(d, f, c, i);
      if (got !== want) {
        fails.push(`r(${d},${f},${c})[${i}]: halves give ${got}, BigInt ${want}`);
        break;
      }
    }
  }
  const zipf = new Zipf(50_000);
  expect("Zipf(50000) total", zipf.total, 48949734374);
  const cum: bigint[] = [];
  let c = 0n;
  for (let k = 0; k < 50_000; k++) cum.push((c += (1n << 32n) / BigInt(k + 1)));
  const moduli = [3, 17, 1_000, 100_000, 31_536_000, 100_000_001, zipf.total].map((n) => new Modulus(n));
  const a = new Stream(3, 2, 1);
  const b = new Stream(3, 2, 1);
  for (let i = 0; i < 20_000; i++) {
    const v = a.nextBig();
    for (const m of moduli) {
      const got = m.of(a.hi, a.lo);
      const want = Number(v % BigInt(m.n));
      if (got !== want) fails.push(`${v} mod ${m.n}: got ${got}, expected ${want}`);
    }
    const u = v % BigInt(zipf.total);
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (u < cum[mid]!) hi = mid;
      else lo = mid + 1;
    }
    const rank = zipf.rank(b);
    if (rank !== lo) fails.push(`Zipf rank of ${v}: got ${rank}, expected ${lo}`);
    if (fails.length > 10) break;
  }
  expect("mix64(0)", mix64Big(0n), 0n);
  for (const [k, w] of [
    [0, "ba"],
    [99, "zu"],
    [100, "baba"],
    [10099, "zuzu"],
    [10100, "bababa"],
    [49999, "bozozu"],
  ] as const)
    expect(`word(${k})`, word(k), w);
  expect("names[0]", personNames()[0], "Baba Cuba");
  return fails;
}

/** Re-hash the files of the chosen sets; returns the number of files missing or wrong. */
function checkFiles(dir: string, only: readonly DataSet[], log: (line: string) => void): number {
  let bad = 0;
  for (const set of only)
    for (const name of fileNames(set)) {
      const p = join(dir, name);
      const want = EXPECTED[name]!;
      if (!existsSync(p)) {
        log(`  MISSING ${name}`);
        bad++;
        continue;
      }
      const size = statSync(p).size;
      const sha = size === want.bytes ? sha256File(p) : "(size differs)";
      const ok = sha === want.sha256;
      log(`  ${ok ? "ok     " : "WRONG  "} ${name.padEnd(14)} ${size.toLocaleString("en-US").padStart(11)} bytes${ok ? "" : `  ${sha}, expected ${want.sha256} / ${want.bytes} bytes`}`);
      if (!ok) bad++;
    }
  return bad;
}

// ---------------------------------------------------------------- CLI

function usage(): string {
  return "usage: node dist/bench/data/generate.js [DIR] [--only logs,text] [--force] [--jobs N] [--check]";
}

async function main(argv: readonly string[]): Promise<number> {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  let dir: string | undefined;
  let only: DataSet[] = [...DATA_SETS];
  let force = false;
  let check = false;
  let jobs: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = (): string => inline ?? argv[++i] ?? "";
    if (flag === "--only") {
      const sets = value().split(",").filter((s) => s !== "");
      const unknown = sets.filter((s) => !(DATA_SETS as readonly string[]).includes(s));
      if (unknown.length > 0 || sets.length === 0) {
        log(`--only takes a comma-separated list of ${DATA_SETS.join(", ")}; got ${JSON.stringify(sets.join(","))}\n${usage()}`);
        return 2;
      }
      only = sets as DataSet[];
    } else if (flag === "--force") force = true;
    else if (flag === "--check") check = true;
    else if (flag === "--jobs") {
      jobs = Number(value());
      if (!Number.isInteger(jobs) || jobs < 1) {
        log(`--jobs needs a positive integer\n${usage()}`);
        return 2;
      }
    } else if (flag === "-h" || flag === "--help") {
      process.stdout.write(`${usage()}\n`);
      return 0;
    } else if (!a.startsWith("-") && dir === undefined) dir = resolve(a);
    else {
      log(`unknown argument ${JSON.stringify(a)}\n${usage()}`);
      return 2;
    }
  }
  dir ??= dataDir();
  if (check) {
    const t0 = performance.now();
    const fails = selfTest();
    for (const f of fails) log(`  SELF-TEST FAILED: ${f}`);
    log(`random numbers, moduli, Zipf ranks and words against their definitions: ${fails.length === 0 ? "ok" : `${fails.length} failure(s)`} (${((performance.now() - t0) / 1e3).toFixed(1)} s)`);
    log(`files in ${dir}:`);
    const bad = checkFiles(dir, only, log);
    log(bad === 0 && fails.length === 0 ? "all good" : `${bad} file(s) missing or wrong`);
    return bad === 0 && fails.length === 0 ? 0 : 1;
  }
  const bad = await generate({ dir, only, force, ...(jobs === undefined ? {} : { jobs }), log });
  if (bad.length > 0) {
    log(`!!! ${bad.length} file(s) differ from the published sha256: ${bad.join(", ")}`);
    return 1;
  }
  return 0;
}

if (!isMainThread && (workerData as { benchDataWorker?: boolean } | null)?.benchDataWorker === true) {
  parentPort!.on("message", (job: Job) => {
    try {
      parentPort!.postMessage({ ok: runJob(job) });
    } catch (e) {
      parentPort!.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  });
} else if (isMainThread && process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`generate failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
