// Network workers in processes of their own, for cluster tests: start one
// (resolving once it has registered), wait for one to exit, and kill those
// still running when the tests are done.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const workerScript = fileURLToPath(new URL("../fixtures/network-worker.js", import.meta.url));
const children = new Set<ChildProcess>();

/** Where and how a worker process runs. */
export interface WorkerProcessOptions {
  /** Its working directory (where uploaded modules find packages). */
  readonly cwd?: string;
  /** Variables added to the environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** The worker's local directory. */
  readonly localDirectory?: string;
}

/** A worker process and the address it registered with. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly address: string;
}

/** Start a worker process; resolves once it has registered. */
export async function startWorker(address: string, name: string, options: WorkerProcessOptions = {}): Promise<WorkerProcess> {
  const args = [workerScript, address, name, ...(options.localDirectory === undefined ? [] : [options.localDirectory])];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "inherit"],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  const lines = createInterface({ input: child.stdout! });
  const registered = await new Promise<string>((resolve, reject) => {
    lines.on("line", (l) => l.startsWith("ready ") && resolve(l.slice("ready ".length)));
    child.once("exit", (code) => reject(new Error(`worker ${name} exited with ${code} before it was ready`)));
  });
  return { child, address: registered };
}

/** The exit code of a worker process, once it has exited. */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

/** SIGKILL every worker process still running (for `after`). */
export function killWorkers(): void {
  for (const c of children) c.kill("SIGKILL");
}
