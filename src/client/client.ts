/**
 * `Client`: the futures API of a network cluster, and a {@link Scheduler}
 * for collections. It talks to a `dask-ts scheduler` over one TCP
 * connection; everything it does is a message.
 *
 * - Futures (`submit`, `map`, `scatter`) are keys of the client's own
 *   session, held on the cluster while a `Future` refers to them.
 * - Every `compute()` and `persist()` is a session of its own, so two
 *   computations never release each other's keys; a compute's session ends
 *   with it, a persist's when its last key is released.
 * - While a client is open it is the default scheduler: `x.compute()`
 *   runs on its cluster. Closing it restores the previous default.
 *
 * @example
 * ```ts
 * import { Client } from "dask-ts/distributed";
 * await using client = await Client.connect("tcp://127.0.0.1:8786");
 * const f = client.submit((x: number) => x + 1, 1);
 * console.log(await f.result()); // 2
 * ```
 * @module
 */
import { CancelledError, ClosedError, DaskError, InvalidArgumentError, LostDataError, MessageTooLargeError, MissingKeyError, SerializeError, UploadTooLargeError, deserializeError } from "../core/errors.js";
import { assertShippable, fnRefName, fnRefOf } from "../core/functions.js";
import { lit, ref, task, type Expr, type Graph, type Key, type TaskNode } from "../core/graph.js";
import { randomToken, tokenize } from "../core/tokenize.js";
import { sizeof } from "../serialize/sizeof.js";
import { connect, type TcpComm } from "../comm/tcp.js";
import type { ClientToScheduler, SchedulerToClient } from "../scheduler/protocol.js";
import type { HeldKey, PersistedValue, RunOptions, Scheduler } from "../scheduler/types.js";
import { getDefaultScheduler, setDefaultScheduler } from "../scheduler/default.js";
import { Future, type FutureOwner, type FutureStatus } from "./future.js";
import { taskError } from "./task-error.js";
import { LocalNetworkCluster, type LocalNetworkOptions } from "./local-network.js";
import { graphToTasks } from "../scheduler/intake.js";
import type { SharedValue } from "../scheduler/coordination.js";
import { packShared, unpackShared } from "./shared-value.js";
import { readUpload, type UploadOptions, type UploadedModule } from "./upload.js";
import "../ops/index.js";

/**
 * Options of {@link Client.connect}.
 *
 * @example
 * ```ts
 * await Client.connect("tcp://10.0.0.5:8786", { name: "etl", timeoutMs: 10_000 });
 * ```
 */
export interface ClientOptions {
  /** Shown in the scheduler's logs. */
  readonly name?: string;
  /** How long to keep trying to reach the scheduler. Default 30 s. */
  readonly timeoutMs?: number;
  /** Become the default scheduler of `compute()` while open. Default true. */
  readonly setAsDefault?: boolean;
  /**
   * When the connection drops, connect again (as a new client: futures and
   * computations pending at that moment fail with `ClosedError`). Default
   * true; a client that started its own cluster never reconnects.
   */
  readonly reconnect?: boolean;
  /** How long to keep trying to reconnect. Default 30 s. */
  readonly reconnectTimeoutMs?: number;
}

/**
 * Options of `submit` and `map`.
 *
 * @example
 * ```ts
 * client.submitWith({ key: `page-${url}`, priority: 10, retries: 2, resources: { NET: 1 } }, fetchPage, url);
 * ```
 */
export interface SubmitOptions {
  /** The key of the result. Default: the function's name and a hash of the arguments. */
  readonly key?: Key;
  /** Same function and arguments → same key, computed once (default true, as in Dask). */
  readonly pure?: boolean;
  /** Runs before lower priorities. Default 0. */
  readonly priority?: number;
  /** Run again this many times if it throws, before failing. Default 0. */
  readonly retries?: number;
  /** Run only on these workers (addresses, as `client.run` reports them). */
  readonly workers?: readonly string[];
  /** Run only where these resources are free (`{ GPU: 1 }`), holding them while it runs. */
  readonly resources?: Readonly<Record<string, number>>;
}

/**
 * Options of {@link Client.scatter}.
 *
 * @example
 * ```ts
 * await client.scatter([model], { broadcast: true });
 * ```
 */
export interface ScatterOptions {
  /** A copy on every worker (every one of `workers`, if given) instead of one. Default false. */
  readonly broadcast?: boolean;
  /** Place the values on these workers only (addresses, as `client.run` reports them). */
  readonly workers?: readonly string[];
}

const SUBMIT_OPTIONS = new Set(["key", "pure", "priority", "retries", "workers", "resources"]);

interface KeyRecord {
  status: FutureStatus;
  error: Error | undefined;
  refs: number;
  waiters: (() => void)[];
}

interface Session {
  readonly keys: Set<Key>;
  readonly values: Map<Key, unknown>;
  remaining: number;
  readonly onDone: (err: Error | undefined) => void;
}

let nextClientNumber = 0;

/**
 * A connection to a network cluster's scheduler.
 *
 * @example
 * ```ts
 * await using client = await Client.connect("tcp://127.0.0.1:8786");
 * const total = client.submit((xs: number[]) => xs.reduce((a, b) => a + b, 0), client.map((x: number) => x * x, [1, 2, 3]));
 * console.log(await total.result()); // 14
 * ```
 */
export class Client implements Scheduler, AsyncDisposable, FutureOwner {
  readonly name = "client";
  /** The scheduler's address. */
  readonly address: string;
  private readonly records = new Map<Key, KeyRecord>();
  private readonly sessions = new Map<string, Session>();
  /** Keys held by each persist session, and the sessions holding each key. */
  private readonly claims = new Map<string, Set<Key>>();
  private readonly gathers = new Map<number, { resolve: (v: unknown[]) => void; reject: (e: Error) => void }>();
  private readonly requests = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextRequest = 0;
  private nextSession = 0;
  private nextGather = 0;
  private workerCount = 0;
  private workerWaiters: (() => void)[] = [];
  private closedBy: Error | undefined;
  private reconnecting = false;
  private previousDefault: Scheduler | undefined;
  private isDefault = false;
  private readonly heartbeat: NodeJS.Timeout;
  /** Aborted by `close()`: stops a reconnection under way. */
  private readonly closing = new AbortController();
  /** The local cluster this client started, closed with it. */
  private owned: LocalNetworkCluster | undefined;

  private constructor(
    address: string,
    private comm: TcpComm<ClientToScheduler, SchedulerToClient>,
    private currentId: string,
    workers: number,
    private readonly options: ClientOptions,
  ) {
    this.address = address;
    this.workerCount = workers;
    this.attach(comm);
    this.heartbeat = setInterval(() => !this.comm.isClosed && this.comm.send({ op: "heartbeat" }), 5_000);
    this.heartbeat.unref();
  }

  /** The scheduler's name for this client (a new one after a reconnection). */
  get id(): string {
    return this.currentId;
  }

  private attach(comm: TcpComm<ClientToScheduler, SchedulerToClient>): void {
    this.comm = comm;
    comm.onMessages((msgs) => this.onMessages(msgs));
    void comm.closed.then((info) => {
      if (this.comm !== comm) return;
      const err = new ClosedError(`The connection to the scheduler at ${this.address} (${info.reason})`);
      if (this.closedBy !== undefined || this.owned !== undefined || this.options.reconnect === false) this.lost(err);
      else void this.reconnect(err);
    });
  }

  /**
   * The connection dropped: everything that was pending fails with `err`
   * (the scheduler may have restarted and forgotten it all), then the client
   * connects again, as a new client, until `reconnectTimeoutMs` runs out.
   * `waitForWorkers` waits through it.
   */
  private async reconnect(err: Error): Promise<void> {
    this.reconnecting = true;
    this.failPending(err);
    this.claims.clear();
    this.workerCount = 0;
    const deadline = Date.now() + (this.options.reconnectTimeoutMs ?? 30_000);
    try {
      let attempt: Awaited<ReturnType<typeof Client.handshake>> | undefined;
      // A scheduler on its way down may still accept a connection and then drop it: try until the deadline.
      while (attempt === undefined) {
        try {
          attempt = await Client.handshake(this.address, this.options, Math.max(1, deadline - Date.now()), this.closing.signal);
        } catch (e) {
          if (Date.now() >= deadline || this.closedBy !== undefined) throw e;
          if (!this.closing.signal.aborted) await new Promise((r) => setTimeout(r, 100));
        }
      }
      const { comm, welcome } = attempt;
      if (this.closedBy !== undefined) {
        await comm.close("the client closed while reconnecting");
        return;
      }
      this.currentId = welcome.id;
      this.reconnecting = false;
      this.attach(comm);
      this.onMessages([{ op: "workers", count: welcome.workers }]);
    } catch (cause) {
      this.lost(new ClosedError(`The connection to the scheduler at ${this.address} (lost, and reconnecting failed: ${(cause as Error).message})`, cause));
    }
  }

  /**
   * Connect to a scheduler at `address`, or, without one, start a cluster
   * on this machine and connect to it.
   *
   * @example
   * ```ts
   * const client = await Client.connect("tcp://127.0.0.1:8786");
   * const local = await Client.connect({ workers: 2 }); // scheduler here, 2 worker processes
   * ```
   */
  static async connect(address: string, options?: ClientOptions): Promise<Client>;
  /**
   * Start a cluster on this machine (a scheduler here, workers in child
   * processes or, with `processes: false`, in this process) and connect to
   * it; closing the client closes the cluster.
   */
  static async connect(local?: ClientOptions & LocalNetworkOptions): Promise<Client>;
  static async connect(target?: string | (ClientOptions & LocalNetworkOptions), options: ClientOptions = {}): Promise<Client> {
    if (typeof target === "string") return Client.open(target, options);
    if (target !== undefined && (typeof target !== "object" || target === null)) {
      throw new InvalidArgumentError("address", "Client.connect takes the scheduler's address (such as tcp://127.0.0.1:8786), or options for a local cluster.");
    }
    const { workers, processes, threadsPerWorker, memoryLimitMb, ...clientOptions } = target ?? {};
    const cluster = await LocalNetworkCluster.start({
      ...(workers === undefined ? {} : { workers }),
      ...(processes === undefined ? {} : { processes }),
      ...(threadsPerWorker === undefined ? {} : { threadsPerWorker }),
      ...(memoryLimitMb === undefined ? {} : { memoryLimitMb }),
    });
    try {
      const client = await Client.open(cluster.address, clientOptions);
      client.owned = cluster;
      await client.waitForWorkers(cluster.nworkers);
      return client;
    } catch (err) {
      await cluster.close();
      throw err;
    }
  }

  private static async open(address: string, options: ClientOptions): Promise<Client> {
    if (address === "") throw new InvalidArgumentError("address", "Client.connect needs the scheduler's address, such as tcp://127.0.0.1:8786.");
    const { comm, welcome, early } = await Client.handshake(address, options, options.timeoutMs ?? 30_000);
    const client = new Client(address, comm, welcome.id, welcome.workers, options);
    client.onMessages(early);
    if (options.setAsDefault !== false) {
      client.previousDefault = getDefaultScheduler();
      client.isDefault = true;
      setDefaultScheduler(client);
    }
    return client;
  }

  /** Connect and register; messages that arrive before the client takes over are returned with the welcome. */
  private static async handshake(
    address: string,
    options: ClientOptions,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<{ comm: TcpComm<ClientToScheduler, SchedulerToClient>; welcome: Extract<SchedulerToClient, { op: "welcome" }>; early: SchedulerToClient[] }> {
    const name = options.name ?? `client-${process.pid}-${nextClientNumber++}`;
    const comm = await connect<ClientToScheduler, SchedulerToClient>(address, { role: "client", name, timeoutMs, ...(signal === undefined ? {} : { signal }) });
    const early: SchedulerToClient[] = [];
    const welcome = await new Promise<Extract<SchedulerToClient, { op: "welcome" }>>((resolve, reject) => {
      comm.onMessages((msgs) => {
        early.push(...msgs);
        const w = msgs.find((m) => m.op === "welcome");
        if (w !== undefined) resolve(w as Extract<SchedulerToClient, { op: "welcome" }>);
      });
      void comm.closed.then((info) => reject(new ClosedError(`The connection to the scheduler at ${address} (${info.reason})`)));
      comm.send({ op: "register-client", name });
    });
    return { comm, welcome, early };
  }

  /**
   * Where the connection stands: `running` while connected, `connecting`
   * while it reconnects after losing the scheduler (pending work has failed;
   * new work is refused until it is `running` again), `closed` once closed
   * or when reconnecting gave up.
   *
   * @example
   * ```ts
   * if (client.status === "connecting") await client.waitForWorkers(1); // waits through the reconnection
   * ```
   */
  get status(): "running" | "connecting" | "closed" {
    if (this.closedBy !== undefined) return "closed";
    return this.reconnecting ? "connecting" : "running";
  }

  /** Workers connected to the scheduler, as last reported. */
  get workers(): number {
    return this.workerCount;
  }

  /**
   * Resolve once the scheduler has at least `n` workers.
   *
   * @example
   * ```ts
   * await client.waitForWorkers(2);
   * ```
   */
  async waitForWorkers(n: number): Promise<void> {
    while (this.workerCount < n) {
      if (this.closedBy !== undefined) throw this.closedBy;
      await new Promise<void>((resolve) => this.workerWaiters.push(resolve));
    }
  }

  // ---------------------------------------------------------------- messages

  private onMessages(msgs: readonly SchedulerToClient[]): void {
    for (const m of msgs) {
      switch (m.op) {
        case "welcome":
          break;
        case "workers": {
          this.workerCount = m.count;
          const ws = this.workerWaiters;
          this.workerWaiters = [];
          for (const w of ws) w();
          break;
        }
        case "gathered": {
          const g = this.gathers.get(m.id);
          this.gathers.delete(m.id);
          if (g === undefined) break;
          if (m.error !== undefined) g.reject(deserializeError(m.error));
          else g.resolve([...m.values]);
          break;
        }
        case "reply": {
          const r = this.requests.get(m.id);
          this.requests.delete(m.id);
          if (m.error !== undefined) r?.reject(deserializeError(m.error));
          else r?.resolve(m.value);
          break;
        }
        case "key-in-memory":
        case "task-erred":
          if (m.session !== undefined) this.sessionMessage(m.session, m);
          else this.futureMessage(m);
          break;
        case "cancelled":
          if (m.session !== undefined) {
            const s = this.sessions.get(m.session);
            const key = m.keys.find((k) => s?.keys.has(k));
            if (key !== undefined) s!.onDone(new CancelledError(key));
          } else {
            for (const k of m.keys) {
              const rec = this.records.get(k);
              if (rec === undefined || rec.status === "cancelled") continue;
              rec.status = "cancelled";
              rec.error = undefined;
              this.wake(rec);
            }
          }
          break;
      }
    }
  }

  private futureMessage(m: Extract<SchedulerToClient, { op: "key-in-memory" | "task-erred" }>): void {
    const rec = this.records.get(m.key);
    if (rec === undefined || rec.status === "cancelled") return;
    if (m.op === "key-in-memory") {
      rec.status = "finished";
      rec.error = undefined;
    } else {
      rec.error = taskError(m.blame, m.error);
      rec.status = rec.error instanceof LostDataError && m.blame === m.key ? "lost" : "error";
    }
    this.wake(rec);
  }

  private sessionMessage(id: string, m: Extract<SchedulerToClient, { op: "key-in-memory" | "task-erred" }>): void {
    const s = this.sessions.get(id);
    if (s === undefined || !s.keys.has(m.key)) return;
    if (m.op === "task-erred") {
      s.onDone(taskError(m.blame, m.error));
      return;
    }
    s.keys.delete(m.key);
    if (m.hasValue) s.values.set(m.key, m.value);
    if (--s.remaining === 0) s.onDone(undefined);
  }

  private wake(rec: KeyRecord): void {
    const ws = rec.waiters;
    rec.waiters = [];
    for (const w of ws) w();
  }

  private lost(err: Error): void {
    if (this.closedBy !== undefined) return;
    this.closedBy = err;
    clearInterval(this.heartbeat);
    this.restoreDefault();
    this.failPending(err);
    for (const w of this.workerWaiters) w();
    this.workerWaiters = [];
  }

  /** Fail every future, computation and request in flight with `err`. */
  private failPending(err: Error): void {
    for (const rec of this.records.values()) {
      if (rec.status === "pending" || rec.status === "finished") {
        rec.status = "lost";
        rec.error = err;
      }
      this.wake(rec);
    }
    for (const s of this.sessions.values()) s.onDone(err);
    for (const g of this.gathers.values()) g.reject(err);
    this.gathers.clear();
    for (const r of this.requests.values()) r.reject(err);
    this.requests.clear();
  }

  private checkOpen(): void {
    if (this.closedBy !== undefined) throw this.closedBy;
  }

  private send(msg: ClientToScheduler): void {
    this.checkOpen();
    if (this.comm.isClosed) throw new ClosedError(`The connection to the scheduler at ${this.address}`);
    this.comm.send(msg);
  }

  /** Send if still connected; for messages that matter only to a live scheduler (releases). */
  private post(msg: ClientToScheduler): void {
    if (this.closedBy === undefined && !this.comm.isClosed) this.comm.send(msg);
  }

  // ---------------------------------------------------------------- futures

  /** @internal */
  statusOf(key: Key): FutureStatus {
    return this.records.get(key)?.status ?? "lost";
  }

  /** @internal */
  errorOf(key: Key): Error | undefined {
    const rec = this.records.get(key);
    if (rec === undefined) return this.closedBy ?? new MissingKeyError(key);
    if (rec.status === "cancelled") return new CancelledError(key);
    return rec.error;
  }

  /** @internal */
  wait(key: Key): Promise<void> {
    const rec = this.records.get(key);
    if (rec === undefined || rec.status !== "pending") return Promise.resolve();
    return new Promise((resolve) => rec.waiters.push(resolve));
  }

  /** @internal */
  async gatherOne(key: Key): Promise<unknown> {
    const [v] = await this.gatherKeys([key]);
    return v;
  }

  /** @internal */
  retain(key: Key): void {
    const rec = this.records.get(key);
    if (rec !== undefined) rec.refs++;
  }

  /** @internal */
  releaseRef(key: Key): void {
    const rec = this.records.get(key);
    if (rec === undefined) return;
    if (--rec.refs > 0) return;
    this.records.delete(key);
    this.post({ op: "release-keys", keys: [key] });
  }

  /**
   * @internal Cancel keys here at once, then on the scheduler, which also
   * cancels the tasks depending on them that nobody else wants (`force`: for
   * every client) and tells each client concerned before it answers.
   */
  async cancel(keys: readonly Key[], force = false): Promise<void> {
    const mine: Key[] = [];
    for (const k of keys) {
      const rec = this.records.get(k);
      if (rec === undefined || (rec.status === "cancelled" && !force)) continue;
      rec.status = "cancelled";
      rec.error = undefined;
      this.wake(rec);
      mine.push(k);
    }
    if (mine.length === 0 || this.closedBy !== undefined || this.comm.isClosed) return;
    // Gone with the connection if it drops meanwhile: a new scheduler knows none of these keys.
    await this.request("cancel", { keys: mine, force }).catch(() => undefined);
  }

  /** @internal Compute erred keys again (and the erred inputs their errors came from); their futures are pending again once this resolves. */
  async retry(keys: readonly Key[]): Promise<void> {
    if (!keys.some((k) => this.records.get(k)?.status === "error")) return;
    const pending = await this.request<Key[]>("retry", keys);
    for (const k of pending) {
      const rec = this.records.get(k);
      if (rec === undefined || rec.status !== "error") continue;
      rec.status = "pending";
      rec.error = undefined;
    }
  }

  private record(key: Key): KeyRecord {
    let rec = this.records.get(key);
    if (rec === undefined || rec.status === "cancelled" || rec.status === "lost") {
      rec = { status: "pending", error: undefined, refs: rec?.refs ?? 0, waiters: rec?.waiters ?? [] };
      this.records.set(key, rec);
    }
    return rec;
  }

  /** Turn a submit argument into an expression; futures become references to their keys. */
  private argExpr(value: unknown, depth = 0): Expr {
    if (value instanceof Future) {
      if ((value as unknown as { owner: unknown }).owner !== this) throw new InvalidArgumentError("args", `Future ${value.key} belongs to another client.`);
      // The scheduler has let go of a cancelled key: a task needing it could never run.
      if (this.statusOf(value.key) === "cancelled") throw new CancelledError(value.key);
      return ref(value.key);
    }
    if (typeof value === "function") return { k: "f", fn: fnRefOf(value as (...a: never[]) => unknown) };
    if (depth < 64 && Array.isArray(value) && value.some((v) => containsFuture(v, depth + 1))) return { k: "a", items: value.map((v) => this.argExpr(v, depth + 1)) };
    if (depth < 64 && isPlainObject(value) && Object.values(value).some((v) => containsFuture(v, depth + 1))) {
      return { k: "o", entries: Object.entries(value).map(([k, v]) => [k, this.argExpr(v, depth + 1)] as const) };
    }
    return lit(value);
  }

  /**
   * Send new tasks. `where(task, arg)` names an argument the way the caller
   * gave it (`args[1]`, `items[7]`), for an argument that cannot be sent.
   */
  private submitTasks(calls: readonly { key: Key; node: TaskNode }[], options: SubmitOptions, where: (task: number, arg: number) => string): void {
    const graph: Graph = new Map(calls.map((c) => [c.key, c.node]));
    assertShippable(graph);
    const tasks = calls.map((c) => [c.key, c.node] as const);
    const keys = calls.map((c) => c.key);
    const { priority, retries, workers, resources } = options;
    try {
      this.send({
        op: "update-graph",
        tasks,
        keys,
        deliver: false,
        ...(priority === undefined ? {} : { userPriority: priority }),
        ...(retries === undefined ? {} : { retries }),
        ...(workers === undefined ? {} : { workers: [...workers] }),
        ...(resources === undefined ? {} : { resources }),
      });
    } catch (err) {
      // Name the argument as the caller knows it, not by its place in the message (scenario 32).
      const m = err instanceof SerializeError ? /^\.tasks\[(\d+)\]\[1\]\.args\[(\d+)\]\.v(.*)$/.exec(err.path) : null;
      throw m === null ? err : new SerializeError(`${where(Number(m[1]), Number(m[2]))}${m[3]}`, (err as SerializeError).reason);
    }
    // Only now: a graph refused above must not leave futures' records pending forever.
    for (const k of keys) this.record(k);
  }

  private buildCall(fn: (...args: never[]) => unknown, args: readonly unknown[], options: SubmitOptions, where: (arg: number) => string): { key: Key; node: TaskNode } {
    const fref = fnRefOf(fn);
    const exprs = args.map((a, i) => readingArgument(where(i), () => this.argExpr(a)));
    const key = options.key ?? `${fnRefName(fref)}-${options.pure === false ? randomToken() : readingArgument(where(-1), () => tokenize(fref, args))}`;
    return { key, node: task(fref, exprs) };
  }

  /**
   * Run `fn(...args)` on the cluster; returns at once with a {@link Future}.
   * Futures among the arguments are replaced by their values on the worker.
   * A last argument of the form `{ key?, pure?, priority? }` is not passed:
   * use {@link Client.submitWith} when the last real argument is such an object.
   *
   * @example
   * ```ts
   * const a = client.submit((x: number) => x + 1, 10);
   * const b = client.submit((x: number, y: number) => x * y, a, 2);
   * await b.result(); // 22
   * ```
   */
  submit<A extends readonly unknown[], R>(fn: (...args: A) => R, ...args: FutureArgs<A>): Future<Awaited<R>> {
    return this.submitWith({}, fn, ...args);
  }

  /**
   * `submit` with options first.
   *
   * @example
   * ```ts
   * client.submitWith({ key: "answer", priority: 5 }, (x: number) => x * 2, 21);
   * ```
   */
  submitWith<A extends readonly unknown[], R>(options: SubmitOptions, fn: (...args: A) => R, ...args: FutureArgs<A>): Future<Awaited<R>> {
    checkSubmitOptions(options);
    if (typeof fn !== "function") throw new InvalidArgumentError("fn", "submit needs a function first.");
    const call = this.buildCall(fn as (...a: never[]) => unknown, args, options, (i) => (i < 0 ? "args" : `args[${i}]`));
    this.submitTasks([call], options, (_, i) => `args[${i}]`);
    return new Future<Awaited<R>>(call.key, this);
  }

  /**
   * Run `fn` on every item (or on items of several iterables zipped); one future per call.
   *
   * @example
   * ```ts
   * const squares = client.map((x: number) => x * x, [1, 2, 3]);
   * await client.gather(squares); // [1, 4, 9]
   * ```
   */
  map<T, R>(fn: (x: T, ...rest: never[]) => R, items: Iterable<T | Future<T>>, options: SubmitOptions & { readonly keys?: readonly Key[] } = {}): Future<Awaited<R>>[] {
    const { keys, ...rest } = options;
    checkSubmitOptions(rest);
    if (typeof fn !== "function") throw new InvalidArgumentError("fn", "map needs a function first.");
    const list = [...items];
    if (keys !== undefined && keys.length !== list.length) throw new InvalidArgumentError("keys", `map got ${keys.length} keys for ${list.length} items.`);
    const calls = list.map((x, i) => this.buildCall(fn as (...a: never[]) => unknown, [x], { ...rest, ...(keys === undefined ? {} : { key: keys[i]! }) }, () => `items[${i}]`));
    if (calls.length > 0) this.submitTasks(calls, rest, (t) => `items[${t}]`);
    return calls.map((c) => new Future<Awaited<R>>(c.key, this));
  }

  /**
   * Put local values on the cluster: each goes to one worker (the one holding
   * the fewest bytes), or to every worker with `broadcast: true` — for a
   * value many tasks read, so none has to fetch it. Resolves with one future
   * per value once the values are there (waiting for a worker to join if
   * there is none). Scattered values are data, not computations: if every
   * worker holding one leaves, its future and what depends on it fail with
   * {@link LostDataError}; the scheduler keeps no copy.
   *
   * @example
   * ```ts
   * const [table] = await client.scatter([bigLookupTable], { broadcast: true });
   * const one = client.submit((id: number, t: Map<number, string>) => t.get(id), 1, table);
   * ```
   */
  async scatter<T>(values: readonly T[], options: ScatterOptions = {}): Promise<Future<T>[]> {
    if (!Array.isArray(values)) throw new InvalidArgumentError("values", "scatter takes an array of values.");
    for (const k of Object.keys(options)) {
      if (k !== "broadcast" && k !== "workers") throw new InvalidArgumentError("options", `Unknown scatter option "${k}"; the options are broadcast and workers.`);
    }
    const { broadcast, workers } = options;
    if (broadcast !== undefined && typeof broadcast !== "boolean") throw new InvalidArgumentError("broadcast", "broadcast must be true or false.");
    if (workers !== undefined && (!Array.isArray(workers) || workers.length === 0 || !workers.every((w) => typeof w === "string"))) {
      throw new InvalidArgumentError("workers", "workers must be a non-empty array of worker addresses.");
    }
    this.checkOpen();
    const keys = values.map((v, i) => `scatter-${readingArgument(`values[${i}]`, () => tokenize(v))}`);
    if (keys.length === 0) return [];
    // Records before the reply (the keys' reports come first); futures only once placed, so a
    // refused scatter leaves neither a pending record nor a future to release.
    const fresh = keys.filter((k) => !this.records.has(k));
    for (const k of keys) this.record(k);
    try {
      await this.request("scatter", { keys, values, nbytes: values.map((v) => sizeof(v)), broadcast: broadcast === true, ...(workers === undefined ? {} : { workers: [...workers] }) });
    } catch (err) {
      for (const k of fresh) if (this.records.get(k)?.refs === 0) this.records.delete(k);
      // Name the value as the caller knows it, not by its place in the message.
      const m = err instanceof SerializeError ? /^\.args\.values\[(\d+)\](.*)$/.exec(err.path) : null;
      throw m === null ? err : new SerializeError(`values[${m[1]}]${m[2]}`, (err as SerializeError).reason);
    }
    return keys.map((k) => new Future<T>(k, this));
  }

  /**
   * The values of futures (in the same shape: a future, an array or a plain object of futures).
   * Rejects with the first error.
   *
   * @example
   * ```ts
   * const [a, b] = await client.gather([fa, fb]);
   * ```
   */
  async gather<T>(futures: Future<T>): Promise<T>;
  async gather<T>(futures: readonly Future<T>[]): Promise<T[]>;
  /** Scheduler: the values of held keys, by name. */
  async gather(keys: readonly Key[]): Promise<unknown[]>;
  async gather(futures: Future | readonly (Future | Key)[]): Promise<unknown> {
    if (Array.isArray(futures) && futures.length > 0 && futures.every((f) => typeof f === "string")) return this.gatherKeys(futures as Key[]);
    const list = futures instanceof Future ? [futures] : [...(futures as readonly Future[])];
    for (const f of list) if (!(f instanceof Future)) throw new InvalidArgumentError("futures", "gather takes futures (or an array of them).");
    await Promise.all(list.map((f) => this.wait(f.key)));
    for (const f of list) {
      const err = this.errorOf(f.key);
      if (err !== undefined) throw err;
    }
    const values = await this.gatherKeys([...new Set(list.map((f) => f.key))]);
    const byKey = new Map<Key, unknown>();
    [...new Set(list.map((f) => f.key))].forEach((k, i) => byKey.set(k, values[i]));
    const out = list.map((f) => byKey.get(f.key));
    return futures instanceof Future ? out[0] : out;
  }

  private gatherKeys(keys: readonly Key[]): Promise<unknown[]> {
    this.checkOpen();
    return new Promise((resolve, reject) => {
      const id = this.nextGather++;
      this.gathers.set(id, { resolve, reject });
      try {
        this.send({ op: "gather", id, keys });
      } catch (err) {
        this.gathers.delete(id);
        reject(err as Error);
      }
    });
  }

  /**
   * Keep computing these futures' keys even after every future of them is
   * gone (or this client disconnects); the scheduler forgets each result once
   * it is done. For work run for its effects, such as writing files.
   *
   * @example
   * ```ts
   * client.fireAndForget(client.submit(writeReport, day));
   * ```
   */
  fireAndForget(futures: Future | readonly Future[]): void {
    const list = futures instanceof Future ? [futures] : [...futures];
    if (list.length > 0) this.send({ op: "fire-and-forget", keys: list.map((f) => f.key) });
  }

  /**
   * Call `fn(...args)` once in every worker process (not as a task: now, on
   * each worker's own event loop) and collect what each returned, by worker
   * address. For setting up or inspecting workers.
   *
   * @example
   * ```ts
   * const pids = await client.run(() => process.pid); // { "tcp://127.0.0.1:40123": 81234, ... }
   * ```
   */
  run<A extends readonly unknown[], R>(fn: (...args: A) => R, ...args: A): Promise<Record<string, Awaited<R>>> {
    const fref = fnRefOf(fn as (...a: never[]) => unknown);
    assertShippable(new Map([["run", task(fref, [])]]));
    return this.request("run", { fn: fref, args });
  }

  /**
   * Retire workers gracefully: the scheduler copies the results only they
   * hold to the other workers, moves their pending work elsewhere, and tells
   * them to leave (a nanny then stops too). Resolves with the addresses retired.
   *
   * @example
   * ```ts
   * const [address] = Object.keys(await client.run(() => 0));
   * await client.retireWorkers([address]);
   * ```
   */
  retireWorkers(addresses: readonly string[]): Promise<string[]> {
    return this.request("retire", addresses);
  }

  /**
   * Send a module of yours to every worker — those that join later, or are
   * restarted, too — so that tasks using its functions (by
   * `registerModule(import.meta.url, ...)`) run on workers that cannot see
   * the file where it is here. `module` is a `file:` URL (`import.meta.url`)
   * or a path; with `root`, the whole directory tree around it goes too
   * (dot entries and `node_modules` aside), so its relative imports of your
   * other modules work. Its imports of packages find those installed where
   * the workers run. Resolves once every current worker has stored it and
   * imported the module; uploading a changed version again replaces it.
   *
   * @throws UploadSourceError when the module or root does not exist or is not what it should be.
   * @throws UploadTooLargeError when it is over what one message may carry.
   * @throws UploadError naming each worker where it could not be stored or imported.
   *
   * @example
   * ```ts
   * // tasks.ts
   * import { registerModule } from "dask-ts";
   * export function score(line: string) { return line.length; }
   * registerModule(import.meta.url, { score });
   *
   * // main.ts
   * import { score } from "./tasks.js";
   * await client.uploadModule(new URL("./tasks.js", import.meta.url), { root: new URL(".", import.meta.url) });
   * await client.submit(score, "abc").result(); // 3
   * ```
   */
  async uploadModule(module: string | URL, options: UploadOptions = {}): Promise<UploadedModule> {
    this.checkOpen();
    const { timeoutMs } = options;
    checkPositiveTimeout(timeoutMs);
    const upload = await readUpload(module, options, this.comm.sendLimits.maxMessageBytes);
    let workers: string[];
    try {
      workers = await this.request<string[]>("upload", { ...upload, timeoutMs: timeoutMs ?? 60_000 });
    } catch (err) {
      // Over the limit once the file list is counted in: refused before anything was sent.
      if (err instanceof MessageTooLargeError) throw new UploadTooLargeError(String(options.root ?? module), err.bytes, err.maxBytes);
      throw err;
    }
    return { module: upload.module, from: upload.from, files: upload.paths.length, bytes: upload.data.byteLength, workers };
  }

  /**
   * Start afresh: the scheduler forgets every task — the futures and
   * computations of every client are cancelled — and every worker is
   * replaced by a fresh process (by its nanny; workers started with
   * `--no-nanny` leave for good, as in Dask). Resolves with the number of
   * workers once the restarted ones are back; rejects with `TimeoutError`
   * after `timeoutMs` (default 30 s). For a cluster whose workers hold
   * memory they should not, or run code that has changed.
   *
   * @example
   * ```ts
   * await client.restart();            // every worker is a fresh process
   * client.submit(inc, 1);             // runs on the fresh workers
   * ```
   */
  async restart(options: { readonly timeoutMs?: number } = {}): Promise<number> {
    for (const k of Object.keys(options)) if (k !== "timeoutMs") throw new InvalidArgumentError("options", `Unknown restart option "${k}"; the option is timeoutMs.`);
    const { timeoutMs } = options;
    checkPositiveTimeout(timeoutMs);
    return this.request<number>("restart", timeoutMs === undefined ? {} : { timeoutMs });
  }

  /** @internal Ask one of the scheduler's services (coordination primitives, datasets). */
  request<T>(service: string, args: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.nextRequest++;
      this.requests.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        this.send({ op: "request", id, service, args });
      } catch (err) {
        this.requests.delete(id);
        reject(err as Error);
      }
    });
  }

  /** @internal A value with this client's futures replaced by their keys, for the scheduler's stores. */
  share(value: unknown): SharedValue {
    return packShared(value, (f) => {
      if ((f as unknown as { owner: unknown }).owner !== this) throw new InvalidArgumentError("value", `Future ${f.key} belongs to another client.`);
      if (this.statusOf(f.key) === "cancelled" || this.statusOf(f.key) === "lost") throw new InvalidArgumentError("value", `Future ${f.key} is ${this.statusOf(f.key)} and cannot be shared.`);
    });
  }

  /**
   * @internal A value from the scheduler's stores, with futures of this
   * client in place of the keys. The scheduler already counts this client
   * among those wanting the keys; asking again brings their status.
   */
  adopt(sv: SharedValue): unknown {
    const keys = new Set<Key>();
    const value = unpackShared(sv, (key) => {
      this.record(key);
      keys.add(key);
      return new Future(key, this);
    });
    if (keys.size > 0) this.post({ op: "update-graph", tasks: [], keys: [...keys], deliver: false });
    return value;
  }

  /**
   * Publish `value` under `name` for every client of the cluster (see
   * {@link Client.getDataset}). Futures inside it stay on the cluster while
   * it is published, even after this client releases them or disconnects.
   * A name in use is a `DatasetExistsError` unless `override` is true.
   *
   * @example
   * ```ts
   * const model = client.submit(train, data);
   * await client.publishDataset("model", model);
   * // elsewhere: const m = await other.getDataset<Future<Model>>("model");
   * ```
   */
  async publishDataset(name: string, value: unknown, options: { readonly override?: boolean } = {}): Promise<void> {
    checkDatasetName(name);
    await this.request("dataset", { op: "publish", name, value: this.share(value), ...(options.override === undefined ? {} : { override: options.override }) });
  }

  /**
   * The value published under `name`, with futures in it as futures of
   * this client. A name not published is an `UnknownNameError`; with a
   * `timeoutMs` it is waited for that long instead (then `TimeoutError`).
   *
   * @example
   * ```ts
   * const model = await client.getDataset<Future<Model>>("model", { timeoutMs: 10_000 });
   * await model.result();
   * ```
   */
  async getDataset<T = unknown>(name: string, options: { readonly timeoutMs?: number } = {}): Promise<T> {
    checkDatasetName(name);
    checkTimeoutOption(options.timeoutMs);
    const sv = await this.request<SharedValue>("dataset", { op: "get", name, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
    return this.adopt(sv) as T;
  }

  /**
   * The names of the published datasets, in publishing order.
   *
   * @example
   * ```ts
   * await client.listDatasets(); // ["model", "lookup"]
   * ```
   */
  async listDatasets(): Promise<string[]> {
    return this.request<string[]>("dataset", { op: "list" });
  }

  /**
   * Unpublish `name`; its futures are released unless something else holds
   * them. A name not published is an `UnknownNameError`.
   *
   * @example
   * ```ts
   * await client.unpublishDataset("model");
   * ```
   */
  async unpublishDataset(name: string): Promise<void> {
    checkDatasetName(name);
    await this.request("dataset", { op: "unpublish", name });
  }

  // ---------------------------------------------------------------- Scheduler

  private runSession(graph: Graph, keys: readonly Key[], deliver: boolean, options: RunOptions): Promise<{ session: string; values: Map<Key, unknown> }> {
    const unique = [...new Set(keys)];
    for (const k of unique) if (!graph.has(k) && !this.holds(k)) throw new MissingKeyError(k);
    this.checkOpen();
    const tasks = graphToTasks(graph, (k) => this.holds(k));
    const session = `s${this.nextSession++}`;
    return new Promise((resolve, reject) => {
      const s: Session = {
        keys: new Set(unique),
        values: new Map(),
        remaining: unique.length,
        onDone: (err) => {
          if (!this.sessions.delete(session)) return;
          if (err !== undefined) {
            this.post({ op: "release-session", session });
            reject(err);
          } else resolve({ session, values: s.values });
        },
      };
      this.sessions.set(session, s);
      this.send({ op: "update-graph", session, tasks, keys: unique, deliver, ...(options.priority === undefined ? {} : { userPriority: options.priority }) });
      if (unique.length === 0) s.onDone(undefined);
    });
  }

  /** @internal Scheduler: run a graph and return the values of `keys`. */
  async compute(graph: Graph, keys: readonly Key[], options: RunOptions = {}): Promise<unknown[]> {
    const { session, values } = await this.runSession(graph, keys, true, options);
    try {
      const missing = keys.filter((k) => !values.has(k));
      if (missing.length > 0) {
        const got = await this.gatherKeys([...new Set(missing)]);
        [...new Set(missing)].forEach((k, i) => values.set(k, got[i]));
      }
      return keys.map((k) => values.get(k));
    } finally {
      this.post({ op: "release-session", session });
    }
  }

  /** @internal Scheduler: run a graph and keep the values of `keys` on the cluster. */
  async persist(graph: Graph, keys: readonly Key[], options: RunOptions = {}): Promise<PersistedValue[]> {
    const { session } = await this.runSession(graph, keys, false, options);
    this.claims.set(session, new Set(keys));
    return keys.map((key) => ({ kind: "held", held: { scheduler: this, key, claim: session } satisfies HeldKey }));
  }

  /** @internal Scheduler: whether a persist of this client holds `key`. */
  holds(key: Key): boolean {
    if (this.closedBy !== undefined) return false;
    for (const keys of this.claims.values()) if (keys.has(key)) return true;
    return false;
  }

  /** @internal Scheduler: let go of held keys. */
  release(keys: readonly Key[], claim?: string): void {
    for (const [session, held] of this.claims) {
      if (claim !== undefined && claim !== session) continue;
      const mine = keys.filter((k) => held.delete(k));
      if (mine.length === 0 || this.closedBy !== undefined) continue;
      if (held.size === 0) {
        this.claims.delete(session);
        this.post({ op: "release-session", session });
      } else this.post({ op: "release-keys", session, keys: mine });
    }
  }

  private restoreDefault(): void {
    if (!this.isDefault) return;
    this.isDefault = false;
    if (getDefaultScheduler() === this) setDefaultScheduler(this.previousDefault);
  }

  /**
   * Disconnect. Pending futures fail with `ClosedError`; the cluster keeps running.
   *
   * @example
   * ```ts
   * await client.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.closedBy !== undefined) return;
    this.lost(new ClosedError("The client"));
    this.closing.abort(new ClosedError("The client"));
    await this.comm.close("the client closed");
    await this.owned?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * The arguments of `submit`: each may be given as a {@link Future} of it.
 *
 * @example
 * ```ts
 * type A = FutureArgs<[number, number[]]>; // [number | Future<number>, number[] | Future<number[]> | (number | Future<number>)[]]
 * ```
 */
export type FutureArgs<A extends readonly unknown[]> = {
  [K in keyof A]: A[K] | Future<A[K]> | (A[K] extends readonly (infer U)[] ? readonly (U | Future<U>)[] : never);
};

/**
 * `read()`, with an error thrown by reading the user's argument (a getter
 * that throws) turned into a {@link SerializeError} naming it: the value
 * cannot be sent, and the caller should learn which one and why.
 */
function readingArgument<T>(where: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof DaskError) throw err;
    throw new SerializeError(where, `reading it threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

function containsFuture(v: unknown, depth: number): boolean {
  if (v instanceof Future) return true;
  if (depth >= 64) return false;
  if (Array.isArray(v)) return v.some((x) => containsFuture(x, depth + 1));
  if (isPlainObject(v)) return Object.values(v).some((x) => containsFuture(x, depth + 1));
  return false;
}

function checkDatasetName(name: unknown): void {
  if (typeof name !== "string" || name === "") throw new InvalidArgumentError("name", "A dataset's name must be a non-empty string.");
}

/**
 * `undefined`, or a finite number of milliseconds > 0: for waits that end in
 * an error (restart, upload), where a timer runs out. Infinity would not do:
 * a timer that long fires at once.
 */
function checkPositiveTimeout(timeoutMs: unknown): void {
  if (timeoutMs === undefined) return;
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidArgumentError("timeoutMs", `timeoutMs must be a finite, positive number of milliseconds, got ${String(timeoutMs)}.`);
  }
}

/** @internal `undefined`, or milliseconds ≥ 0 (`Infinity` allowed). */
export function checkTimeoutOption(timeoutMs: unknown): void {
  if (timeoutMs === undefined) return;
  if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new InvalidArgumentError("timeoutMs", `timeoutMs must be a number of milliseconds ≥ 0 (or Infinity), got ${typeof timeoutMs === "number" ? timeoutMs : typeof timeoutMs}.`);
  }
}

function checkSubmitOptions(options: SubmitOptions): void {
  for (const k of Object.keys(options)) {
    if (!SUBMIT_OPTIONS.has(k)) throw new InvalidArgumentError("options", `Unknown submit option "${k}". The options are: ${[...SUBMIT_OPTIONS].join(", ")}.`);
  }
  const { retries, workers, resources } = options;
  if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) throw new InvalidArgumentError("retries", `retries must be a non-negative integer, got ${String(retries)}.`);
  if (workers !== undefined && (!Array.isArray(workers) || workers.length === 0 || !workers.every((w) => typeof w === "string"))) {
    throw new InvalidArgumentError("workers", "workers must be a non-empty array of worker addresses, such as tcp://10.0.0.7:40123.");
  }
  if (resources !== undefined) {
    if (typeof resources !== "object" || resources === null) throw new InvalidArgumentError("resources", "resources must be an object such as { GPU: 1 }.");
    for (const [name, n] of Object.entries(resources)) {
      if (!(typeof n === "number" && Number.isFinite(n) && n > 0)) throw new InvalidArgumentError("resources", `resource ${name} must be a positive number, got ${String(n)}.`);
    }
  }
}
