/**
 * A network cluster on this machine, for `Client.connect()` without an
 * address: a scheduler server in this process and workers either in
 * processes of their own (the default: one `dask-ts worker --nworkers N`
 * child, whose nannies run each worker as a process and restart it, so a
 * crashing task cannot take the caller down and `client.restart()` gets
 * fresh processes) or in this process (`processes: false`: still real TCP
 * between them, a task thread each; the cluster itself starts a fresh one
 * in place of a worker told to restart). Closing the client closes it.
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
  private closing = false;

  private constructor(
    readonly server: SchedulerServer,
    private readonly threads: NetworkWorker[],
    private readonly children: ChildProcess[],
    readonly nworkers: number,
  ) {}

  get address(): string {
    return this.server.address;
  }

  static async start(options: LocalNetworkOptions): Promise<LocalNetworkCluster> {
    const n = options.workers ?? availableParallelism();
    const nthreads = options.threadsPerWorker ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("workers", `workers must be a positive integer, got ${String(n)}.`);
    if (!Number.isInteger(nthreads) || nthreads < 1) throw new InvalidArgumentError("threadsPerWorker", `threadsPerWorker must be a positive integer, got ${String(nthreads)}.`);
    const server = await SchedulerServer.start({ port: 0 });
    const threads: NetworkWorker[] = [];
    const children: ChildProcess[] = [];
    const cluster = new LocalNetworkCluster(server, threads, children, n);
    try {
      if (options.processes === false) {
        for (let i = 0; i < n; i++) await cluster.startThreadWorker(`local-${i}`, nthreads, options.memoryLimitMb);
      } else {
        const args = [...process.execArgv, CLI, "worker", server.address, "--nworkers", String(n), "--name", "local", "--nthreads", String(nthreads)];
        if (options.memoryLimitMb !== undefined) args.push("--memory-limit", `${options.memoryLimitMb}MiB`);
        const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] });
        // The workers' lifetime follows the scheduler's: their nannies stop when it closes.
        child.unref();
        children.push(child);
      }
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  /** A worker in this process; one told to restart (`client.restart()`) is replaced, as a nanny would. */
  private async startThreadWorker(name: string, nthreads: number, memoryLimitMb: number | undefined): Promise<void> {
    const w = await NetworkWorker.start({
      scheduler: this.server.address,
      name,
      nthreads,
      restartable: true,
      ...(memoryLimitMb === undefined ? {} : { memoryLimitMb }),
    });
    // Closed while this replacement was starting: it has no cluster to serve.
    if (this.closing) {
      await w.close();
      return;
    }
    this.threads.push(w);
    void w.finished.then(() => {
      this.threads.splice(this.threads.indexOf(w), 1);
      if (w.stoppedBy === "requested" && !this.closing) void this.startThreadWorker(name, nthreads, memoryLimitMb).catch(() => undefined);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.server.close();
    await Promise.all([...this.threads].map((t) => t.close()));
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
