/**
 * A network worker: the process a `dask-ts worker` command (or its nanny)
 * runs. Tasks run on a worker thread running the very same `thread.ts` as
 * the embedded cluster, with the same state machine; this process's main
 * thread is a relay between that thread and the network:
 *
 * - scheduler ↔ thread: task messages pass through unchanged;
 * - thread → peers: for every other worker the scheduler announces, the
 *   thread gets a `MessagePort` whose requests the relay carries to that
 *   worker's process over TCP (one connection per peer, opened on first use);
 * - peers → thread: data requests arriving on this worker's listener are
 *   handed to the thread and its answer sent back;
 * - uploaded modules: the relay writes them under the worker's local
 *   directory (`uploads.ts`), holding back the scheduler's later messages
 *   until they are written, so that a task using an upload reaches the
 *   thread after it; the thread imports the module and answers.
 *
 * The worker heartbeats the scheduler (every second, or as often as the
 * scheduler asks) and stops when the scheduler tells it to or its
 * connection to the scheduler drops.
 *
 * @example
 * ```ts
 * const worker = await NetworkWorker.start({ scheduler: "tcp://10.0.0.5:8786", name: "w1" });
 * await worker.finished; // until the scheduler goes away
 * ```
 * @module
 */
import { hostname, tmpdir } from "node:os";
import { MessageChannel, type Worker } from "node:worker_threads";
import { ClosedError, CommClosedError, MissingKeyError, serializeError, type SerializedError } from "../core/errors.js";
import { prepareTask, runTask } from "../core/execute.js";
import type { FnRef, TaskNode } from "../core/graph.js";
import { ModuleRedirects } from "../core/module-redirects.js";
import { connect, listen, type CommOptions, type TcpComm, type TcpListener } from "../comm/tcp.js";
import { BatchWriter, type WireLimits } from "../serialize/wire.js";
import { transferables } from "../serialize/transfer.js";
import { InprocComm } from "../comm/inproc.js";
import { packCodec } from "../scheduler/pack.js";
import type { DataReply, DataRequest, PeerMessage, RunRequest, SchedulerToWorker, UploadRequest, WorkerToScheduler } from "../scheduler/protocol.js";
import "../ops/index.js";
import type { FromThreadMsg, PeerMsg, ToThreadMsg } from "./thread-protocol.js";
import { startThread } from "./spawn.js";
import { UploadStore, hookUploads } from "./uploads.js";

/**
 * Options of {@link NetworkWorker.start}.
 *
 * @example
 * ```ts
 * const opts: NetworkWorkerOptions = { scheduler: "tcp://127.0.0.1:8786", nthreads: 1, memoryLimitMb: 4096 };
 * ```
 */
export interface NetworkWorkerOptions {
  /** The scheduler's address, `tcp://host:port`. */
  readonly scheduler: string;
  /** A name shown in logs. Default: host and pid. */
  readonly name?: string;
  /** Tasks run at once (more than 1 helps only async, I/O-bound tasks). Default 1. */
  readonly nthreads?: number;
  /** Heap limit of the task thread, in MiB. Default: V8's own. */
  readonly memoryLimitMb?: number;
  /** Abstract resources offered to the scheduler, such as `{ GPU: 1 }`. */
  readonly resources?: Readonly<Record<string, number>>;
  /** Interface the peer listener binds. Default: `127.0.0.1` when the scheduler is on loopback, else `0.0.0.0`. */
  readonly host?: string;
  /** The host name peers use to reach this worker. Default: the listener's host, or this machine's name when it binds every interface. */
  readonly contactHost?: string;
  /** How long to keep trying to reach the scheduler. Default 30 s. */
  readonly connectTimeoutMs?: number;
  /**
   * Where the worker keeps files (modules uploaded through the client), in a
   * directory of its own that it removes when it stops. Default: the
   * system's temporary directory.
   */
  readonly localDirectory?: string;
  /** Told about the worker's life. */
  readonly log?: (line: string) => void;
  /**
   * A fetch from a peer fails when no byte at all has arrived on that
   * connection for this long while a request waits (progress resets the
   * clock, so a slow multi-GiB transfer is fine); the connection is closed
   * and opened afresh on next use. Default 30 s.
   */
  readonly fetchTimeoutMs?: number;
  /**
   * Data requests from peers served at once; one more is answered `busy`
   * (the peer asks again later or elsewhere). Each connection is served one
   * request at a time, the next once the socket has taken the reply. Default 10, as Dask's.
   */
  readonly maxOutgoingTransfers?: number;
  /**
   * Largest message (streamed buffers included) this worker accepts and
   * sends on any of its connections. Default 64 GiB (see `CommOptions.maxValueBytes`).
   */
  readonly maxValueBytes?: number;
  /** Check the worker state machine's invariants after every step (slow; for tests and debugging). Default false. */
  readonly validate?: boolean;
  /**
   * Something starts a fresh worker in this one's place when it stops with
   * `stoppedBy === "requested"` (a nanny does): `client.restart()` waits for
   * the fresh one. Default false.
   */
  readonly restartable?: boolean;
}

/**
 * What a worker's task thread knows at one moment (see {@link NetworkWorker.snapshot}).
 *
 * @example
 * ```ts
 * const { tasks, data } = await worker.snapshot();
 * console.log(tasks.get("x"), data.includes("x")); // "memory" true
 * ```
 */
export interface WorkerSnapshot {
  /** Every key the worker's state machine knows, with its state (`executing`, `memory`, `cancelled`, ...). */
  readonly tasks: ReadonlyMap<string, string>;
  /** The keys whose values the thread holds. */
  readonly data: readonly string[];
}

type ThreadComm = InprocComm<ToThreadMsg, FromThreadMsg>;
type PeerComm = TcpComm<PeerMessage, PeerMessage>;

/** A peer of the relay: the thread's port for it, and the TCP connection its requests go over. */
interface PeerEntry {
  readonly port: MessagePortLike;
  conn: Promise<PeerLink> | undefined;
}

/** An open connection to a peer and the requests waiting on it. */
interface PeerLink {
  readonly comm: PeerComm;
  readonly tracker: FetchTracker;
}

/**
 * Test hook: `DASK_TS_TEST_CUT_FETCH_BYTES=N` makes a worker process destroy
 * its first peer connection that has received at least N bytes (checked every
 * few ms while a fetch is outstanding), as a network cut would. Read once.
 */
const CUT_FETCH_BYTES = Number(process.env["DASK_TS_TEST_CUT_FETCH_BYTES"] ?? NaN);
let cutDone = false;

/**
 * Send a data reply, leaving out the values that cannot go: each one that
 * cannot be encoded or is over the connection's limits is listed in
 * `unsendable` with its typed error. Returns false when not even that could
 * go (the connection closed).
 */
function sendDataReply(comm: { send(m: DataReply): void; readonly sendLimits: WireLimits }, reply: DataReply): boolean {
  try {
    comm.send(reply);
    return true;
  } catch (err) {
    if (err instanceof CommClosedError) return false;
    const keys: string[] = [];
    const values: unknown[] = [];
    const bad: string[] = [...(reply.unsendable?.keys ?? [])];
    const errors: SerializedError[] = [...(reply.unsendable?.errors ?? [])];
    // Which values fail on their own: encoding a header only, the buffers are referenced, not copied.
    const probe = new BatchWriter(comm.sendLimits);
    reply.keys.forEach((k, i) => {
      try {
        probe.add({ op: "data", id: reply.id, keys: [k], values: [reply.values[i]] });
        keys.push(k);
        values.push(reply.values[i]);
      } catch (e) {
        bad.push(k);
        errors.push(serializeError(e));
      }
      probe.take();
    });
    if (bad.length === (reply.unsendable?.keys.length ?? 0)) {
      // Each fits alone but not all together: none goes, all with the error.
      for (const k of keys) {
        bad.push(k);
        errors.push(serializeError(err));
      }
      keys.length = 0;
      values.length = 0;
    }
    try {
      comm.send({ op: "data", id: reply.id, keys, values, unsendable: { keys: bad, errors } });
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Why a worker stopped: the scheduler went away or told it to leave, the
 * scheduler removed it while it ran (it stopped answering: `restart`, a
 * nanny starts a fresh one), a client asked for every worker to restart
 * (`requested`: `client.restart()`, a nanny starts a fresh one at once), its
 * task thread died (`thread`: a crash; `memory`: it ran out of its memory
 * limit), or it was closed.
 *
 * @example
 * ```ts
 * await worker.finished;
 * if (worker.stoppedBy === "thread") process.exitCode = 1;
 * ```
 */
export type WorkerStopCause = "scheduler" | "restart" | "requested" | "thread" | "memory" | "closed";

/**
 * A running network worker.
 *
 * @example
 * ```ts
 * const w = await NetworkWorker.start({ scheduler: address });
 * console.log(w.address);
 * await w.close();
 * ```
 */
export class NetworkWorker {
  /** Resolves with the reason once the worker has stopped. */
  readonly finished: Promise<string>;
  private finish!: (reason: string) => void;
  private readonly peers = new Map<string, PeerEntry>();
  /** Data requests from peers being served now (the thread asked, or the reply is draining). */
  private outgoingTransfers = 0;
  private readonly fetchTimeoutMs: number;
  private readonly maxOutgoingTransfers: number;
  private readonly commOptions: CommOptions;
  /** Thread data requests in flight, by the relay's id: where the answer goes. */
  private readonly waiting = new Map<number, (reply: DataReply) => void>();
  private readonly snapshots = new Map<number, { resolve: (snap: WorkerSnapshot) => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private stopCause: WorkerStopCause | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly uploads: UploadStore;
  /** Uploads for `client.run`, which runs on this thread (the task thread keeps its own). */
  private readonly redirects = new ModuleRedirects();
  /** Scheduler messages that arrived while an upload was being written, in order; undefined when none is. */
  private held: SchedulerToWorker[] | undefined;

  private constructor(
    readonly address: string,
    readonly name: string,
    private readonly thread: Worker,
    private readonly threadComm: ThreadComm,
    private readonly listener: TcpListener<PeerMessage, PeerMessage>,
    private scheduler: TcpComm<WorkerToScheduler, SchedulerToWorker> | undefined,
    private readonly log: (line: string) => void,
    localDirectory: string,
    options: NetworkWorkerOptions,
  ) {
    this.finished = new Promise((resolve) => (this.finish = resolve));
    this.uploads = new UploadStore(localDirectory);
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? 30_000;
    this.maxOutgoingTransfers = options.maxOutgoingTransfers ?? 10;
    this.commOptions = options.maxValueBytes === undefined ? {} : { maxValueBytes: options.maxValueBytes };
  }

  /**
   * Start the task thread and the peer listener, then register with the scheduler.
   *
   * @example
   * ```ts
   * const w = await NetworkWorker.start({ scheduler: "tcp://127.0.0.1:8786" });
   * ```
   */
  static async start(options: NetworkWorkerOptions): Promise<NetworkWorker> {
    const log = options.log ?? (() => undefined);
    for (const k of ["fetchTimeoutMs", "maxOutgoingTransfers"] as const) {
      const v = options[k];
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new TypeError(`${k} must be a positive finite number, got ${v}`);
    }
    const commOptions: CommOptions = options.maxValueBytes === undefined ? {} : { maxValueBytes: options.maxValueBytes };
    const schedulerHost = new URL(options.scheduler.replace(/^tcp:/, "http:")).hostname;
    const loopback = schedulerHost === "127.0.0.1" || schedulerHost === "localhost" || schedulerHost === "[::1]";
    const host = options.host ?? (loopback ? "127.0.0.1" : "0.0.0.0");
    const listener = await listen<PeerMessage, PeerMessage>({ host, port: 0, role: "worker", ...commOptions });
    const port = Number(listener.address.slice(listener.address.lastIndexOf(":") + 1));
    const contact = options.contactHost ?? (host === "0.0.0.0" ? hostname() : host);
    const address = `tcp://${contact}:${port}`;
    const name = options.name ?? `${hostname()}-${process.pid}`;
    const nthreads = options.nthreads ?? 1;
    const thread = startThread({ address, nthreads, validate: options.validate ?? false }, options.memoryLimitMb);
    let ready!: () => void;
    const threadReady = new Promise<void>((resolve) => (ready = resolve));
    let worker: NetworkWorker | undefined;
    const threadComm: ThreadComm = new InprocComm<ToThreadMsg, FromThreadMsg>(
      thread,
      (msgs) => {
        if (worker === undefined) {
          if (msgs.some((m) => m.op === "ready")) ready();
          return;
        }
        worker.fromThread(msgs);
      },
      packCodec,
    );
    const died = new Promise<never>((_, reject) => {
      thread.once("error", (err) => reject(err));
      thread.once("exit", (code) => reject(new ClosedError(`The worker's task thread (exit code ${code})`)));
    });
    try {
      await Promise.race([threadReady, died]);
    } catch (err) {
      await listener.close();
      throw err;
    }
    worker = new NetworkWorker(address, name, thread, threadComm, listener, undefined, log, options.localDirectory ?? tmpdir(), options);
    worker.servePeers();
    const scheduler = await connect<WorkerToScheduler, SchedulerToWorker>(options.scheduler, {
      role: "worker",
      name,
      timeoutMs: options.connectTimeoutMs ?? 30_000,
      ...commOptions,
    }).catch(async (err: unknown) => {
      await worker!.stop("could not reach the scheduler", "scheduler");
      throw err;
    });
    worker.attach(scheduler, {
      op: "register-worker",
      address,
      name,
      nthreads,
      ...(options.memoryLimitMb === undefined ? {} : { memoryLimitMb: options.memoryLimitMb }),
      ...(options.resources === undefined ? {} : { resources: options.resources }),
      ...(options.restartable === true ? { restartable: true } : {}),
    });
    // Why the thread died, when it says: running out of its heap limit is told apart, so the nanny can say so.
    let threadError: Error | undefined;
    thread.on("error", (err) => (threadError = err));
    thread.on("exit", (code) => {
      if ((threadError as { code?: unknown } | undefined)?.code === "ERR_WORKER_OUT_OF_MEMORY") {
        void worker!.stop(`its task thread ran out of memory (its limit is ${options.memoryLimitMb === undefined ? "V8's default" : `${options.memoryLimitMb} MiB`})`, "memory");
      } else void worker!.stop(threadError === undefined ? `its task thread exited with code ${code}` : `its task thread failed: ${threadError.message}`, "thread");
    });
    log(`worker ${name} at ${address}, registered with ${options.scheduler}`);
    return worker;
  }

  private attach(scheduler: TcpComm<WorkerToScheduler, SchedulerToWorker>, reg: WorkerToScheduler): void {
    this.scheduler = scheduler;
    scheduler.send(reg);
    scheduler.onMessages((msgs) => this.fromScheduler(msgs));
    void scheduler.closed.then((info) => void this.stop(`the scheduler connection closed (${info.reason})`, "scheduler"));
    this.heartbeat = setInterval(() => this.toScheduler({ op: "heartbeat" }), 1000);
  }

  /**
   * Send to the scheduler. A message that cannot go never throws out of
   * here: a data reply goes with the values that cannot in `unsendable`, a
   * delivered result becomes a `task-erred` with the typed error
   * (`SerializeError`, `MessageTooLargeError`), a `ran` reply an error reply.
   */
  private toScheduler(msg: WorkerToScheduler): void {
    const comm = this.scheduler;
    if (comm === undefined || comm.isClosed) return;
    if (msg.op === "data") {
      sendDataReply(comm, msg);
      return;
    }
    try {
      comm.send(msg);
    } catch (err) {
      if (err instanceof CommClosedError) return;
      let instead: WorkerToScheduler | undefined;
      if (msg.op === "task-finished") instead = { op: "task-erred", key: msg.key, runId: msg.runId, error: serializeError(err), stimulusId: msg.stimulusId };
      else if (msg.op === "ran") instead = { op: "ran", id: msg.id, error: serializeError(err) };
      this.log(`worker ${this.name} could not send ${msg.op} to the scheduler: ${(err as Error).message}`);
      if (instead === undefined) return;
      try {
        comm.send(instead);
      } catch (e) {
        this.log(`worker ${this.name} could not send ${instead.op} to the scheduler either: ${(e as Error).message}`);
      }
    }
  }

  private fromScheduler(msgs: readonly SchedulerToWorker[]): void {
    if (this.held !== undefined) {
      this.held.push(...msgs);
      return;
    }
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      switch (m.op) {
        case "compute-task":
        case "free-keys":
        case "put-data":
        case "steal-request":
          this.threadComm.send(m);
          break;
        case "get-data":
          this.askThread(m.keys, (reply) => this.toScheduler({ ...reply, id: m.id }));
          break;
        case "peers":
          for (const a of m.remove) this.removePeer(a);
          for (const a of m.add) this.addPeer(a);
          break;
        case "run":
          void this.run(m);
          break;
        case "upload":
          // What follows waits until the files are written (see the module comment).
          this.held = msgs.slice(i + 1);
          void this.storeUpload(m).finally(() => {
            const rest = this.held ?? [];
            this.held = undefined;
            this.fromScheduler(rest);
          });
          return;
        case "heartbeat-interval":
          if (this.stopCause === undefined && Number.isFinite(m.ms) && m.ms >= 10) {
            clearInterval(this.heartbeat);
            this.heartbeat = setInterval(() => this.toScheduler({ op: "heartbeat" }), m.ms);
          }
          break;
        case "terminate":
          void this.stop(m.reason, m.restart === "removed" ? "restart" : m.restart === "requested" ? "requested" : "scheduler");
          break;
      }
    }
  }

  /**
   * Write an upload, use it on this thread (for `client.run`) and hand it to
   * the task thread, whose answer goes to the scheduler as it is.
   */
  private async storeUpload(m: UploadRequest): Promise<void> {
    try {
      const stored = await this.uploads.store(m.upload);
      hookUploads(stored.root);
      this.redirects.set(stored.from, stored.to);
      this.threadComm.send({ op: "use-upload", id: m.id, upload: stored });
      this.log(`worker ${this.name} stored the upload of ${stored.module}`);
    } catch (err) {
      this.toScheduler({ op: "ran", id: m.id, error: serializeError(err) });
    }
  }

  /** `client.run`: call a function here, in the worker process, and send back what it returned. */
  private async run(m: RunRequest): Promise<void> {
    try {
      const fn: FnRef = m.fn.kind === "module" ? { ...m.fn, specifier: this.redirects.resolve(m.fn.specifier) } : m.fn;
      const node: TaskNode = { kind: "task", fn, args: m.args.map((v) => ({ k: "v", v })), deps: [] };
      await prepareTask(node);
      const value = await runTask(node, (key) => {
        throw new MissingKeyError(key);
      });
      this.toScheduler({ op: "ran", id: m.id, value });
    } catch (err) {
      this.toScheduler({ op: "ran", id: m.id, error: serializeError(err) });
    }
  }

  private fromThread(msgs: readonly FromThreadMsg[]): void {
    for (const m of msgs) {
      if (m.op === "data") {
        const done = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        done?.(m);
      } else if (m.op === "snapshot") {
        const done = this.snapshots.get(m.id);
        this.snapshots.delete(m.id);
        done?.resolve({ tasks: new Map(m.tasks), data: m.data });
      } else if (m.op !== "ready") this.toScheduler(m); // task reports, and answers to uploads
    }
  }

  /** Ask the task thread for values; `answer` gets its reply. */
  private askThread(keys: readonly string[], answer: (reply: DataReply) => void): void {
    const id = this.nextId++;
    this.waiting.set(id, answer);
    this.threadComm.send({ op: "get-data", id, keys });
  }

  /**
   * What the task thread's state machine knows now: each key's state, and
   * the keys whose values it holds. For debugging and tests (a worker left
   * alone should end with both empty). Rejects once the worker has stopped.
   *
   * @example
   * ```ts
   * const { tasks } = await worker.snapshot();
   * for (const [key, state] of tasks) console.log(key, state);
   * ```
   */
  snapshot(): Promise<WorkerSnapshot> {
    if (this.stopCause !== undefined) return Promise.reject(new ClosedError(`Worker ${this.name}`));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.snapshots.set(id, { resolve, reject });
      this.threadComm.send({ op: "snapshot", id });
    });
  }

  /**
   * Requests from other workers' threads, arriving on this worker's
   * listener. Each connection is served one request at a time: the next
   * is asked of the thread once the socket has taken the reply
   * (`drained()`), so replies never pile up in memory. Beyond
   * `maxOutgoingTransfers` requests served at once across connections, a
   * request is answered `busy` at once.
   */
  private servePeers(): void {
    this.listener.onConnection((comm) => {
      const queue: DataRequest[] = [];
      let serving = false;
      const next = (): void => {
        while (!serving && queue.length > 0 && !comm.isClosed) {
          const m = queue.shift()!;
          if (this.outgoingTransfers >= this.maxOutgoingTransfers) {
            sendDataReply(comm, { op: "data", id: m.id, keys: [], values: [], busy: true });
            continue;
          }
          serving = true;
          this.outgoingTransfers++;
          this.askThread(m.keys, (reply) => {
            const sent = !comm.isClosed && sendDataReply(comm, { ...reply, id: m.id });
            const done = (): void => {
              this.outgoingTransfers--;
              serving = false;
              next();
            };
            if (sent) comm.drained().then(done, done);
            else done();
          });
        }
      };
      comm.onMessages((msgs) => {
        for (const m of msgs) if (m.op === "get-data") queue.push(m);
        next();
      });
    });
  }

  private addPeer(address: string): void {
    if (this.peers.has(address) || address === this.address) return;
    const { port1, port2 } = new MessageChannel();
    const entry: PeerEntry = { port: port2, conn: undefined };
    this.peers.set(address, entry);
    // The thread's requests to this peer, carried over TCP; the answers carried back.
    const local = new InprocComm<PeerMsg, PeerMsg>(port2, (msgs) => {
      for (const m of msgs) {
        if (m.op !== "get-data") continue;
        const conn = (entry.conn ??= this.connectPeer(address, entry, local));
        conn.then(
          ({ comm: c, tracker }) => {
            if (c.isClosed) return local.send(failedReply(m.id, `the connection to ${address} closed`));
            try {
              c.send(m);
              tracker.start(m.id);
            } catch (err) {
              local.send(failedReply(m.id, `the request could not be sent to ${address}: ${(err as Error).message}`));
            }
          },
          (err: unknown) => local.send(failedReply(m.id, `could not connect to ${address}: ${(err as Error).message}`)),
        );
      }
    });
    this.threadComm.send({ op: "add-peer", address, port: port1 }, [port1]);
  }

  /**
   * Open the connection to a peer. Replies go to the thread, their buffers
   * moved, not copied (nothing here keeps them). Every request waiting on it
   * fails at once when it closes, or when no byte has arrived on it for
   * `fetchTimeoutMs` while one waits (it is then closed; the next request
   * opens a fresh one).
   */
  private connectPeer(address: string, entry: PeerEntry, local: InprocComm<PeerMsg, PeerMsg>): Promise<PeerLink> {
    return connect<PeerMessage, PeerMessage>(address, { role: "worker", name: this.name, timeoutMs: 5_000, ...this.commOptions }).then((c) => {
      const tracker = new FetchTracker(c, this.fetchTimeoutMs, (id, why) => local.send(failedReply(id, why)));
      c.onMessages((msgs) => {
        for (const m of msgs) {
          if (m.op !== "data" || !tracker.done(m.id)) continue;
          if (m.busy === true) local.send({ op: "data", id: m.id, keys: [], values: [], busy: true, failed: `${address} is busy serving other workers` });
          else local.send(m, transferables(m.values, EMPTY));
        }
      });
      void c.closed.then((info) => {
        tracker.failAll(`the connection to ${address} closed (${info.reason})`);
        if (entry.conn !== undefined && this.peers.get(address) === entry) entry.conn = undefined;
      });
      return { comm: c, tracker };
    });
  }

  private removePeer(address: string): void {
    const entry = this.peers.get(address);
    if (entry === undefined) return;
    this.peers.delete(address);
    this.threadComm.send({ op: "remove-peer", address });
    entry.port.close();
    void entry.conn?.then(({ comm }) => comm.close("the peer left the cluster"), () => undefined);
  }

  /** Why the worker stopped, once it has begun stopping. */
  get stoppedBy(): WorkerStopCause | undefined {
    return this.stopCause;
  }

  private async stop(reason: string, cause: WorkerStopCause): Promise<void> {
    if (this.stopCause !== undefined) return;
    this.stopCause = cause;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.log(`worker ${this.name} stopping: ${reason}`);
    for (const a of [...this.peers.keys()]) this.removePeer(a);
    this.threadComm.close();
    // The thread will not answer now: a snapshot asked for must not wait forever.
    for (const s of this.snapshots.values()) s.reject(new ClosedError(`Worker ${this.name}`));
    this.snapshots.clear();
    await Promise.allSettled([this.thread.terminate(), this.listener.close(), this.scheduler?.close(reason)]);
    await this.uploads.remove().catch((err: unknown) => this.log(`worker ${this.name} could not remove its directory: ${(err as Error).message}`));
    this.finish(reason);
  }

  /**
   * Leave the cluster and stop.
   *
   * @example
   * ```ts
   * await worker.close();
   * ```
   */
  async close(): Promise<void> {
    await this.stop("closed", "closed");
  }
}

interface MessagePortLike {
  close(): void;
}

const EMPTY: ReadonlySet<ArrayBufferLike> = new Set();

function failedReply(id: number, why: string): DataReply {
  return { op: "data", id, keys: [], values: [], failed: why };
}

/**
 * The requests waiting on one peer connection, and the fetch timeout: it
 * fires only when no byte has arrived for `timeoutMs` since the later of
 * the last byte and the oldest wait's start.
 */
class FetchTracker {
  private readonly waiting = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private since = 0;
  private cutPoll: NodeJS.Timeout | undefined;

  constructor(
    private readonly comm: PeerComm,
    private readonly timeoutMs: number,
    private readonly fail: (id: number, why: string) => void,
  ) {}

  start(id: number): void {
    if (this.waiting.size === 0) this.since = performance.now();
    this.waiting.add(id);
    this.arm();
    if (CUT_FETCH_BYTES >= 0 && !cutDone && this.cutPoll === undefined) {
      this.cutPoll = setInterval(() => {
        if (cutDone || this.comm.isClosed) return clearInterval(this.cutPoll);
        if (this.comm.bytesReceived < CUT_FETCH_BYTES) return;
        cutDone = true;
        clearInterval(this.cutPoll);
        this.comm.destroy("cut by DASK_TS_TEST_CUT_FETCH_BYTES (a test hook)");
      }, 2);
    }
  }

  /** A reply came: true if it answers a waiting request. */
  done(id: number): boolean {
    if (!this.waiting.delete(id)) return false;
    // The clock restarts for the requests still waiting.
    this.since = performance.now();
    if (this.waiting.size === 0) this.disarm();
    return true;
  }

  failAll(why: string): void {
    this.disarm();
    clearInterval(this.cutPoll);
    const ids = [...this.waiting];
    this.waiting.clear();
    for (const id of ids) this.fail(id, why);
  }

  private arm(): void {
    if (this.timer !== undefined) return;
    const check = (): void => {
      this.timer = undefined;
      if (this.waiting.size === 0) return;
      const idle = performance.now() - Math.max(this.since, this.comm.lastReceivedAt);
      if (idle < this.timeoutMs) {
        this.timer = setTimeout(check, this.timeoutMs - idle);
        this.timer.unref();
        return;
      }
      const why = `no data from ${this.comm.peerAddress} for ${Math.round(idle)} ms (fetch timeout ${this.timeoutMs} ms)`;
      this.failAll(why);
      void this.comm.close(why);
    };
    this.timer = setTimeout(check, this.timeoutMs);
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
