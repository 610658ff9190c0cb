/**
 * The embedded local cluster, the default scheduler: the scheduler state
 * machine on the calling thread and one worker per core on `worker_threads`,
 * talking over MessagePorts (workers also talk to each other directly, for
 * inputs). Started lazily by the first `compute()`.
 *
 * Lifetime: worker threads are `unref`'d whenever no computation is pending,
 * so a program exits as soon as its own work is done — no `close()` needed —
 * and are `ref`'d while something waits on them so the process cannot exit
 * under a pending `await`.
 *
 * Failure: a worker thread that dies (`process.exit()` in a task, out of
 * memory, an uncaught exception in a callback) is replaced at once; the
 * scheduler recomputes what it lost and retries what it was running, and a
 * task present at `allowedFailures` deaths fails with `KilledWorkerError`.
 *
 * @example
 * ```ts
 * import { LocalCluster } from "dask-ts/distributed";
 * await using cluster = await LocalCluster.start({ workers: 4 });
 * await x.compute({ scheduler: cluster });
 * ```
 * @module
 */
import { availableParallelism } from "node:os";
import { MessageChannel, type Worker } from "node:worker_threads";
import {
  ClosedError,
  InvalidArgumentError,
  MissingKeyError,
  deserializeError,
  serializeError,
} from "../core/errors.js";
import { keepShape } from "../core/shapes.js";
import type { Graph, Key, TaskNode } from "../core/graph.js";
import { InprocComm } from "../comm/inproc.js";
import type { ToClientMsg, WorkerReportMsg } from "../scheduler/messages.js";
import { SchedulerShell } from "../scheduler/shell.js";
import { packCodec } from "../scheduler/pack.js";
import type { SchedulerConfig, SchedulerEvent } from "../scheduler/state.js";
import type { HeldKey, PersistedValue, RunOptions, Scheduler } from "../scheduler/types.js";
import type { FromThreadMsg, ThreadInit, ToThreadMsg } from "../worker/thread-protocol.js";
import { startThread } from "../worker/spawn.js";
import { taskError } from "./task-error.js";
import { graphToTasks } from "../scheduler/intake.js";

/**
 * Options of {@link LocalCluster.start}.
 *
 * @example
 * ```ts
 * const cluster = await LocalCluster.start({ workers: 2, threadsPerWorker: 4, memoryLimitMb: 2048 });
 * ```
 */
export interface LocalClusterOptions {
  /** Worker threads. Default: the number of cores (`os.availableParallelism()`). */
  readonly workers?: number;
  /** Tasks a worker thread runs at once (more than 1 only helps async, I/O-bound tasks). Default 1. */
  readonly threadsPerWorker?: number;
  /** V8 old-generation heap limit per worker thread, in MiB. Default: V8's own. */
  readonly memoryLimitMb?: number;
  /** Worker deaths a task may witness before it fails with KilledWorkerError. Default 3. */
  readonly allowedFailures?: number;
  /** Check state-machine invariants after every event (slow; for tests). Default false. */
  readonly validate?: boolean;
  /** Scheduler tunables. */
  readonly scheduler?: Omit<SchedulerConfig, "validate" | "allowedFailures">;
}

interface ThreadHandle {
  readonly address: string;
  readonly thread: Worker;
  readonly comm: InprocComm<ToThreadMsg, FromThreadMsg>;
  ready: boolean;
  /** The last uncaught error of the thread, reported if it dies before it is ready. */
  lastError: Error | undefined;
  readonly dataRequests: Map<number, { resolve: (values: ReadonlyMap<Key, unknown>) => void; reject: (err: Error) => void }>;
}

/**
 * A local cluster of worker threads; implements {@link Scheduler}.
 *
 * @example
 * ```ts
 * await using cluster = await LocalCluster.start({ workers: 4 });
 * console.log(await x.compute({ scheduler: cluster }));
 * ```
 */
export class LocalCluster implements Scheduler, AsyncDisposable {
  readonly name = "embedded";
  private readonly shell: SchedulerShell;
  private readonly threads = new Map<string, ThreadHandle>();
  private readonly options: Required<Pick<LocalClusterOptions, "workers" | "threadsPerWorker">> & LocalClusterOptions;
  private nextWorker = 0;
  private nextClient = 0;
  private nextRequest = 0;
  private pending = 0;
  private closed = false;
  private readonly failures = new Map<string, (err: Error) => void>();
  /** Workers that died before becoming ready, since the last one that did. */
  private startupFailures = 0;
  private closeReason: Error | undefined;
  private workerWaiters: (() => void)[] = [];
  /** Clients that hold persisted keys, by key. */
  private readonly holders = new Map<Key, Set<string>>();
  /** Keys each persist client still holds; a client with none left is removed. */
  private readonly claims = new Map<string, Set<Key>>();

  private constructor(options: LocalClusterOptions) {
    const workers = options.workers ?? availableParallelism();
    const threadsPerWorker = options.threadsPerWorker ?? 1;
    if (!Number.isInteger(workers) || workers < 1) throw new InvalidArgumentError("workers", `workers must be a positive integer, got ${workers}.`);
    if (!Number.isInteger(threadsPerWorker) || threadsPerWorker < 1) {
      throw new InvalidArgumentError("threadsPerWorker", `threadsPerWorker must be a positive integer, got ${threadsPerWorker}.`);
    }
    this.options = { ...options, workers, threadsPerWorker };
    this.shell = new SchedulerShell({
      ...options.scheduler,
      validate: options.validate ?? false,
      allowedFailures: options.allowedFailures ?? 3,
    });
  }

  /**
   * Start a cluster. Resolves when every worker thread is up.
   *
   * @example
   * ```ts
   * const cluster = await LocalCluster.start({ workers: 2 });
   * ```
   */
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const c = new LocalCluster(options);
    for (let i = 0; i < c.options.workers; i++) c.spawn();
    await c.waitForWorkers(c.options.workers);
    c.refIfBusy();
    return c;
  }

  /** Addresses of the running workers. */
  get workers(): string[] {
    return [...this.threads.values()].filter((t) => t.ready).map((t) => t.address);
  }

  /**
   * Resolve once at least `n` workers are running (for example after a
   * worker died and is being replaced).
   *
   * @example
   * ```ts
   * await cluster.waitForWorkers(2);
   * ```
   */
  async waitForWorkers(n: number): Promise<void> {
    while (this.workers.length < n) {
      if (this.closed) throw this.closeReason ?? new ClosedError("The local cluster");
      await new Promise<void>((resolve) => this.workerWaiters.push(resolve));
    }
  }

  /** The scheduler's state machine, for inspection and tests. */
  get schedulerState(): SchedulerShell["state"] {
    return this.shell.state;
  }

  private spawn(): void {
    const address = `inproc://worker-${this.nextWorker++}`;
    const init: ThreadInit = { address, nthreads: this.options.threadsPerWorker, validate: this.options.validate ?? false };
    const thread = startThread(init, this.options.memoryLimitMb);
    const handle: ThreadHandle = {
      address,
      thread,
      ready: false,
      lastError: undefined,
      dataRequests: new Map(),
      comm: new InprocComm<ToThreadMsg, FromThreadMsg>(thread, (msgs) => {
        const fromWorker: WorkerReportMsg[] = [];
        for (const msg of msgs) {
          if (msg.op === "ready") {
            handle.ready = true;
            this.startupFailures = 0;
            this.connectPeers(handle);
            this.shell.addWorker(address, this.options.threadsPerWorker, {
              send: (m) => handle.comm.send(m),
              getData: (keys) =>
                new Promise((resolve, reject) => {
                  const id = this.nextRequest++;
                  handle.dataRequests.set(id, { resolve, reject });
                  handle.comm.send({ op: "get-data", id, keys });
                }),
            });
            this.refIfBusy();
            const waiters = this.workerWaiters;
            this.workerWaiters = [];
            for (const w of waiters) w();
          } else if (msg.op === "data") {
            const r = handle.dataRequests.get(msg.id);
            handle.dataRequests.delete(msg.id);
            if (msg.unsendable !== undefined && msg.unsendable.keys.length > 0) {
              r?.reject(deserializeError(msg.unsendable.errors[0]!));
              continue;
            }
            const got = new Map<Key, unknown>();
            for (let i = 0; i < msg.keys.length; i++) got.set(msg.keys[i]!, msg.values[i]);
            r?.resolve(got);
          } else if (msg.op !== "ran" && msg.op !== "snapshot") {
            // (`ran` answers uploads, which only network workers are sent; `snapshot` answers NetworkWorker.snapshot.)
            fromWorker.push(msg);
          }
        }
        this.shell.fromWorker(address, fromWorker);
      }, packCodec, (msg, err) => {
        // A task whose function or arguments cannot be cloned fails, instead of crashing the process.
        if (msg.op !== "compute-task") return;
        const error = new InvalidArgumentError(
          "args",
          `Task ${msg.key} cannot be sent to a worker thread: ${err.message}. Arguments and captured values must be structured-cloneable (no functions except as delayed arguments, no symbols).`,
        );
        queueMicrotask(() => this.shell.fromWorker(address, [{ op: "task-erred", key: msg.key, runId: msg.runId, error: serializeError(error), stimulusId: this.shell.stimulusId("unsendable") }]));
      }),
    };
    // Without an 'error' listener, a worker's uncaught exception would crash this process.
    thread.on("error", (err) => (handle.lastError = err));
    thread.on("exit", (code) => this.onExit(handle, code));
    // Ref'd until ready (refIfBusy): a program awaiting start-up must not exit under it.
    this.threads.set(address, handle);
  }

  private connectPeers(handle: ThreadHandle): void {
    for (const other of this.threads.values()) {
      if (other === handle || !other.ready) continue;
      const { port1, port2 } = new MessageChannel();
      handle.comm.send({ op: "add-peer", address: other.address, port: port1 }, [port1]);
      other.comm.send({ op: "add-peer", address: handle.address, port: port2 }, [port2]);
    }
  }

  private onExit(handle: ThreadHandle, code: number): void {
    this.threads.delete(handle.address);
    handle.comm.close();
    if (this.closed) return;
    for (const other of this.threads.values()) other.comm.send({ op: "remove-peer", address: handle.address });
    for (const r of handle.dataRequests.values()) r.resolve(new Map());
    this.shell.removeWorker(handle.address, false);
    // Deaths of running workers are the scheduler's business (retry, KilledWorkerError). A worker
    // that cannot even start would be replaced forever: give up after a few in a row.
    if (!handle.ready && ++this.startupFailures >= 3) {
      const cause = handle.lastError ?? new Error(`worker thread exited with code ${code} before it was ready`);
      void this.close(new ClosedError("The local cluster (its worker threads cannot start)", cause));
      return;
    }
    this.spawn();
  }

  private refIfBusy(): void {
    for (const t of this.threads.values()) {
      if (this.pending > 0 || !t.ready) t.thread.ref();
      else t.thread.unref();
    }
  }

  private failAll(err: Error): void {
    for (const fail of [...this.failures.values()]) fail(err);
  }

  /**
   * Check the graph (references, cycles, shippable functions), turn literal
   * and alias nodes into tasks (workers only run tasks) and list them in
   * execution order.
   */
  private prepare(graph: Graph): [Key, TaskNode][] {
    if (this.closed) throw new ClosedError("The local cluster");
    return graphToTasks(graph, (k) => this.holds(k));
  }

  private run(graph: Graph, keys: readonly Key[], deliver: boolean, options: RunOptions): Promise<{ client: string; values: Map<Key, unknown> }> {
    const unique = [...new Set(keys)];
    for (const k of unique) if (!graph.has(k) && !this.holds(k)) throw new MissingKeyError(k);
    // Cleared once the scheduler has taken the tasks in: the closures below live as long as the computation.
    let tasks: [Key, TaskNode][] | undefined = this.prepare(graph);
    const client = `${deliver ? "compute" : "persist"}-${this.nextClient++}`;
    return new Promise((resolve, reject) => {
      const values = new Map<Key, unknown>();
      const toGather: Key[] = [];
      let remaining = unique.length;
      let done = false;
      const settle = (): void => {
        this.pending--;
        this.refIfBusy();
      };
      const finish = (err: Error | undefined): void => {
        if (done) return;
        done = true;
        this.failures.delete(client);
        if (err !== undefined) {
          settle();
          this.shell.removeClient(client);
          reject(err);
          return;
        }
        if (toGather.length === 0) {
          settle();
          resolve({ client, values });
          return;
        }
        // Still pending while the values travel: the process must not exit under the gather.
        this.shell.gather(toGather).then(
          (got) => {
            settle();
            for (const [k, v] of got) values.set(k, v);
            resolve({ client, values });
          },
          (e: unknown) => {
            settle();
            this.shell.removeClient(client);
            reject(e as Error);
          },
        );
      };
      const onMessage = (msg: ToClientMsg): void => {
        if (done) return;
        if (msg.op === "key-in-memory") {
          if (msg.hasValue) values.set(msg.key, msg.value);
          else if (deliver) toGather.push(msg.key);
          if (--remaining === 0) finish(undefined);
        } else {
          finish(taskError(msg.blame, msg.error));
        }
      };
      this.pending++;
      this.refIfBusy();
      this.failures.set(client, (err) => finish(err));
      this.shell.addClient(client, onMessage);
      try {
        const submitted = tasks!;
        tasks = undefined;
        this.shell.stimulus(updateGraphEvent(client, submitted, unique, deliver, options.priority, this.shell.stimulusId("update-graph")));
      } catch (err) {
        finish(err as Error);
      }
      if (unique.length === 0) finish(undefined);
    });
  }

  async compute(graph: Graph, keys: readonly Key[], options: RunOptions = {}): Promise<unknown[]> {
    const { client, values } = await this.run(graph, keys, true, options);
    this.shell.removeClient(client);
    return keys.map((k) => values.get(k));
  }

  async persist(graph: Graph, keys: readonly Key[], options: RunOptions = {}): Promise<PersistedValue[]> {
    const { client } = await this.run(graph, keys, false, options);
    const mine = new Set(keys);
    this.claims.set(client, mine);
    for (const key of mine) {
      let claimants = this.holders.get(key);
      if (claimants === undefined) this.holders.set(key, (claimants = new Set()));
      claimants.add(client);
    }
    return keys.map((key) => {
      const held: HeldKey = { scheduler: this, key, claim: client };
      return { kind: "held", held };
    });
  }

  async gather(keys: readonly Key[]): Promise<unknown[]> {
    if (this.closed) throw new ClosedError("The local cluster");
    // Pending while the values travel, so the process stays alive for them.
    this.pending++;
    this.refIfBusy();
    try {
      const got = await this.shell.gather(keys);
      return keys.map((k) => got.get(k));
    } finally {
      this.pending--;
      this.refIfBusy();
    }
  }

  holds(key: Key): boolean {
    // Held while claimed and not lost for good (it may be being recomputed after a worker died).
    const state = this.shell.state.tasks.get(key)?.state;
    return (this.holders.get(key)?.size ?? 0) > 0 && state !== undefined && state !== "erred";
  }

  release(keys: readonly Key[], claim?: string): void {
    const byClient = new Map<string, Key[]>();
    for (const k of keys) {
      const claimants = this.holders.get(k);
      if (claimants === undefined) continue;
      for (const c of claim === undefined ? [...claimants] : claimants.has(claim) ? [claim] : []) {
        claimants.delete(c);
        let list = byClient.get(c);
        if (list === undefined) byClient.set(c, (list = []));
        list.push(k);
      }
      if (claimants.size === 0) this.holders.delete(k);
    }
    for (const [client, ks] of byClient) {
      const mine = this.claims.get(client);
      for (const k of ks) mine?.delete(k);
      if (this.closed) continue;
      if (mine !== undefined && mine.size === 0) {
        // Nothing left for this persist: drop the client (which releases what it wanted).
        this.claims.delete(client);
        this.shell.removeClient(client);
      } else {
        this.shell.stimulus({ type: "client-releases-keys", client, keys: ks, stimulusId: this.shell.stimulusId("release") });
      }
    }
  }

  /** Stop every worker thread. Pending computations fail with ClosedError. */
  async close(reason?: ClosedError): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.shell.close();
    if (defaultInstance === this) {
      defaultCluster = undefined;
      defaultInstance = undefined;
    }
    this.failAll(reason ?? new ClosedError("The local cluster"));
    for (const w of this.workerWaiters) w();
    this.workerWaiters = [];
    // Data requests to threads about to stop come back empty (the gather then reports the keys missing).
    for (const t of this.threads.values()) for (const r of t.dataRequests.values()) r.resolve(new Map());
    const exits = [...this.threads.values()].map((t) => t.thread.terminate());
    this.threads.clear();
    await Promise.allSettled(exits);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

type UpdateGraphEvent = Extract<SchedulerEvent, { type: "update-graph" }>;

function updateGraphEvent(client: string, tasks: UpdateGraphEvent["tasks"], keys: readonly Key[], deliver: boolean, userPriority: number | undefined, stimulusId: string): UpdateGraphEvent {
  // Every field present, even undefined: one shape of event (see SchedulerState.assign).
  return { type: "update-graph", client, tasks, keys, deliver, userPriority, stimulusId };
}

// One event per computation, all gone between computations: see core/shapes.ts.
keepShape(updateGraphEvent("", [], [], true, undefined, ""));

let defaultCluster: Promise<LocalCluster> | undefined;
let defaultInstance: LocalCluster | undefined;

/**
 * The process-wide embedded cluster, started on first use with one worker per core.
 *
 * @example
 * ```ts
 * const cluster = await defaultLocalCluster();
 * ```
 */
export function defaultLocalCluster(): Promise<LocalCluster> {
  if (defaultCluster === undefined) {
    const starting = LocalCluster.start();
    defaultCluster = starting;
    starting.then(
      (c) => {
        if (defaultCluster === starting) defaultInstance = c;
      },
      () => {
        if (defaultCluster === starting) defaultCluster = undefined;
      },
    );
  }
  return defaultCluster;
}

/**
 * Close the process-wide cluster, if one was started; the next compute starts a fresh one.
 *
 * @example
 * ```ts
 * await closeDefaultLocalCluster(); // e.g. in a test's after() hook
 * ```
 */
export async function closeDefaultLocalCluster(): Promise<void> {
  const c = defaultCluster;
  defaultCluster = undefined;
  if (c !== undefined) await (await c).close();
}
