/**
 * A network cluster on this machine, for `Client.connect()` without an
 * address: a scheduler server in this process and workers either in
 * processes of their own (the default: each is a `dask-ts worker
 * --no-nanny` child, so a crashing task cannot take the caller down) or in
 * this process (`processes: false`: still real TCP between them, a task
 * thread each). Closing the client closes it.
 *
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "../core/errors.js";
import { SchedulerServer } from "../scheduler/server.js";
import { NetworkWorker } from "../worker/process.js";

/**
 * Options of the local network cluster `Client.connect()` starts.
 *
 * @example
 * ```ts
 * await using client = await Client.connect({ workers: 2, processes: true });
 * ```
 */
export interface LocalNetworkOptions {
  /** Workers. Default: the number of cores. */
  readonly workers?: number;
  /** Workers in child processes (default) or in this process. */
  readonly processes?: boolean;
  /** Tasks each worker runs at once. Default 1. */
  readonly threadsPerWorker?: number;
  /** Heap limit of each worker's task thread, in MiB. */
  readonly memoryLimitMb?: number;
}

const CLI = fileURLToPath(new URL("../cli/main.js", import.meta.url));

/** @internal A scheduler and its workers, owned by one client. */
export class LocalNetworkCluster {
  private constructor(
    readonly server: SchedulerServer,
    private readonly threads: NetworkWorker[],
    private readonly children: ChildProcess[],
  ) {}

  get address(): string {
    return this.server.address;
  }

  get nworkers(): number {
    return this.threads.length + this.children.length;
  }

  static async start(options: LocalNetworkOptions): Promise<LocalNetworkCluster> {
    const n = options.workers ?? availableParallelism();
    const nthreads = options.threadsPerWorker ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("workers", `workers must be a positive integer, got ${String(n)}.`);
    if (!Number.isInteger(nthreads) || nthreads < 1) throw new InvalidArgumentError("threadsPerWorker", `threadsPerWorker must be a positive integer, got ${String(nthreads)}.`);
    const server = await SchedulerServer.start({ port: 0 });
    const threads: NetworkWorker[] = [];
    const children: ChildProcess[] = [];
    try {
      if (options.processes === false) {
        for (let i = 0; i < n; i++) {
          threads.push(
            await NetworkWorker.start({
              scheduler: server.address,
              name: `local-${i}`,
              nthreads,
              ...(options.memoryLimitMb === undefined ? {} : { memoryLimitMb: options.memoryLimitMb }),
            }),
          );
        }
      } else {
        for (let i = 0; i < n; i++) {
          const args = [...process.execArgv, CLI, "worker", server.address, "--no-nanny", "--name", `local-${i}`, "--nthreads", String(nthreads)];
          if (options.memoryLimitMb !== undefined) args.push("--memory-limit", `${options.memoryLimitMb}MiB`);
          const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] });
          // The workers' lifetime follows the scheduler's: they leave when it closes.
          child.unref();
          children.push(child);
        }
      }
    } catch (err) {
      await server.close();
      for (const t of threads) await t.close();
      for (const c of children) c.kill("SIGKILL");
      throw err;
    }
    return new LocalNetworkCluster(server, threads, children);
  }

  async close(): Promise<void> {
    await this.server.close();
    await Promise.all(this.threads.map((t) => t.close()));
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const kill = setTimeout(() => c.kill("SIGKILL"), 5_000);
            c.once("exit", () => {
              clearTimeout(kill);
              resolve();
            });
          }),
      ),
    );
  }
}
