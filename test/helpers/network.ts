// A network cluster for the failure and scenario tests: a SchedulerServer in
// this process (so a test can read its state, with validation on), workers
// as real `dask-ts worker` processes on loopback (with or without a nanny),
// and bounded waits on the scheduler's log and on conditions.
import diagnostics_channel from "node:diagnostics_channel";
import { Client, type ClientOptions } from "../../src/client/client.js";
import type { SchedulerEvent } from "../../src/scheduler/state.js";
import { SchedulerServer, type SchedulerServerOptions } from "../../src/scheduler/server.js";
import { Nanny, type NannyOptions } from "../../src/worker/nanny.js";
import { CliProcess, within } from "./cli.js";

/**
 * Resolve once `cond()` holds, checking every few milliseconds; reject
 * after `timeoutMs` naming `what`. For state that changes without an event
 * to wait on (a worker's removal as the scheduler sees it).
 */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`after ${timeoutMs} ms, still not: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Count the results workers report to any scheduler in this process, as
 * they arrive (from the `dask-ts:scheduler:stimulus` channel), to act when
 * a computation is part-way. `stop()` unsubscribes.
 */
export function countFinished(): { readonly count: number; stop(): void } {
  const counter = { count: 0, stop: () => diagnostics_channel.unsubscribe("dask-ts:scheduler:stimulus", listener) };
  const listener = (m: unknown): void => {
    const ev = m as SchedulerEvent;
    if (ev.type !== "worker-message") return;
    if (ev.msg.op === "task-finished") counter.count++;
    else if (ev.msg.op === "tasks-finished") counter.count += ev.msg.keys.length;
  };
  diagnostics_channel.subscribe("dask-ts:scheduler:stimulus", listener);
  return counter;
}

/** How a worker process ended (bounded). */
export function exited(proc: CliProcess, timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return proc.exit(timeoutMs);
}

/** Options of {@link TestCluster.start}. */
export interface TestClusterOptions {
  /** Plain (`--no-nanny`) worker processes to start, named w0, w1, ... Default 0. */
  readonly workers?: number;
  /** More flags for those workers. */
  readonly workerArgs?: readonly string[];
  readonly workerTimeoutMs?: number;
  readonly noWorkersTimeoutMs?: number;
  /** Scheduler tunables; validation is on unless `validate: false`. */
  readonly scheduler?: SchedulerServerOptions["scheduler"];
  readonly client?: ClientOptions;
}

/** A worker process and the address it registered at. */
export interface WorkerProcess {
  readonly name: string;
  readonly proc: CliProcess;
  readonly address: string;
}

/** A scheduler here, worker processes, a client; everything closed by {@link close}. */
export class TestCluster {
  /** What the scheduler logged: workers and clients coming and going. */
  readonly log: string[] = [];
  readonly workers: WorkerProcess[] = [];
  private readonly nannies: Nanny[] = [];
  private waiters: { pattern: RegExp; from: number; resolve: (m: RegExpMatchArray) => void }[] = [];
  server!: SchedulerServer;
  client!: Client;

  private constructor() {}

  static async start(options: TestClusterOptions = {}): Promise<TestCluster> {
    const c = new TestCluster();
    c.server = await SchedulerServer.start({
      port: 0,
      ...(options.workerTimeoutMs === undefined ? {} : { workerTimeoutMs: options.workerTimeoutMs }),
      ...(options.noWorkersTimeoutMs === undefined ? {} : { noWorkersTimeoutMs: options.noWorkersTimeoutMs }),
      scheduler: { validate: true, ...options.scheduler },
      log: (line) => {
        c.log.push(line);
        c.check();
      },
    });
    try {
      await Promise.all(Array.from({ length: options.workers ?? 0 }, (_, i) => c.worker(`w${i}`, options.workerArgs)));
      c.client = await Client.connect(c.server.address, { setAsDefault: false, ...options.client });
      await c.client.waitForWorkers(c.workers.length);
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  /** The first log line at index `from` or later that matches (bounded). */
  logLine(pattern: RegExp, from = 0, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const waited = new Promise<RegExpMatchArray>((resolve) => {
      this.waiters.push({ pattern, from, resolve });
      this.check();
    });
    return within(waited, timeoutMs, () => `no scheduler log line ${pattern}:\n${this.log.join("\n")}`);
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      for (; w.from < this.log.length; w.from++) {
        const m = w.pattern.exec(this.log[w.from]!);
        if (m !== null) {
          w.resolve(m);
          return false;
        }
      }
      return true;
    });
  }

  /** Start a `dask-ts worker --no-nanny` process; resolves once the scheduler has registered it. */
  async worker(name: string, args: readonly string[] = []): Promise<WorkerProcess> {
    const from = this.log.length;
    const proc = new CliProcess(["worker", this.server.address, "--no-nanny", "--name", name, ...args]);
    const [, address] = await this.logLine(new RegExp(`^worker ${name} registered at (\\S+) `), from);
    const w = { name, proc, address: address! };
    this.workers.push(w);
    return w;
  }

  /** Start a nanny here (its worker in a child process), stopped by {@link close}. */
  nanny(name: string, options: Partial<NannyOptions> = {}): Nanny {
    const n = Nanny.start({ scheduler: this.server.address, name, backoffMs: 10, ...options });
    this.nannies.push(n);
    return n;
  }

  /** The address the worker `name` registered at, at or after log line `from`. */
  async registered(name: string, from = 0): Promise<string> {
    return (await this.logLine(new RegExp(`^worker ${name} registered at (\\S+) `), from))[1]!;
  }

  /** Addresses of the workers holding `key` on the scheduler. */
  holders(key: string): string[] {
    return [...(this.server.shell.state.tasks.get(key)?.whoHas ?? [])].map((w) => w.address);
  }

  async close(): Promise<void> {
    await this.client?.close();
    await this.server?.close();
    await Promise.all(this.nannies.map((n) => n.close()));
    for (const w of this.workers) if (w.proc.alive) w.proc.kill("SIGKILL");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
