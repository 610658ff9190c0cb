/**
 * Starting a worker thread (`thread.ts`), for the embedded cluster and for
 * network worker processes alike. The thread inherits the parent's Node
 * flags, minus those that only make sense for a main script and would stop
 * it from starting.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import type { ThreadInit } from "./thread-protocol.js";

/**
 * This process's Node flags minus those that only make sense for the main
 * script (`-e`, `-p`, `--input-type`): the flags (loaders such as tsx
 * included) a worker thread or a child worker process starts with.
 *
 * @example
 * ```ts
 * spawn(process.execPath, [...inheritedExecArgv(), cli, "worker", address]);
 * ```
 */
export function inheritedExecArgv(): string[] {
  const argv = process.execArgv;
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-e" || a === "--eval" || a === "-p" || a === "--print" || a === "--input-type") {
      i++;
      continue;
    }
    if (a.startsWith("--eval=") || a.startsWith("--print=") || a.startsWith("--input-type=")) continue;
    out.push(a);
  }
  return out;
}

/**
 * The Node flags worker threads start with: {@link inheritedExecArgv}, or
 * `undefined` (inherit, Node's default, which also skips V8 flags such as
 * `--max-old-space-size`) when nothing needs removing.
 */
function workerExecArgv(): string[] | undefined {
  const out = inheritedExecArgv();
  return out.length === process.execArgv.length ? undefined : out;
}

/** Start a worker thread. Flags Node refuses for workers (V8 and process options) are dropped, not fatal. */
export function startThread(init: ThreadInit, memoryLimitMb: number | undefined): Worker {
  const url = new URL("../worker/thread.js", import.meta.url);
  const resourceLimits = memoryLimitMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: memoryLimitMb } };
  const execArgv = workerExecArgv();
  try {
    return new Worker(url, { workerData: init, ...resourceLimits, ...(execArgv === undefined ? {} : { execArgv }) });
  } catch (err) {
    if ((err as { code?: string }).code !== "ERR_WORKER_INVALID_EXEC_ARGV" || execArgv === undefined) throw err;
    const invalid = new Set(((err as Error).message.split(": ").pop() ?? "").split(",").map((f) => f.trim()));
    return new Worker(url, { workerData: init, ...resourceLimits, execArgv: execArgv.filter((a) => !invalid.has(a)) });
  }
}

