/**
 * The network scheduler: a TCP listener around the same {@link SchedulerShell}
 * (and so the same state machine) the embedded cluster runs. Worker
 * processes and clients connect and introduce themselves with their first
 * message; after that, worker messages feed the state machine and its
 * instructions go back over the same connections.
 *
 * Modules that clients upload are kept here and handed to every worker,
 * those that join later included, before it can be given a task.
 *
 * Liveness: a worker is removed (its results recomputed elsewhere, its
 * running tasks retried) as soon as its connection drops, or when it has
 * sent nothing — not even a heartbeat — for `workerTimeoutMs`. A client
 * that disconnects releases everything it wanted.
 *
 * @example
 * ```ts
 * const server = await SchedulerServer.start({ host: "0.0.0.0", port: 8786 });
 * console.log(`scheduler at ${server.address}`);
 * ```
 * @module
 */
import { ClosedError, InvalidArgumentError, MissingKeyError, TimeoutError, UploadError, deserializeError, serializeError } from "../core/errors.js";
import type { FnRef, Key } from "../core/graph.js";
import { listen, type TcpComm, type TcpListener } from "../comm/tcp.js";
import type { ToClientMsg } from "./messages.js";
import type { ClientToScheduler, DataReply, ModuleUpload, RunReply, SchedulerToClient, SchedulerToWorker, WorkerToScheduler } from "./protocol.js";
import { checkUpload } from "./uploads.js";
import { CoordinationServices } from "./coordination.js";
import { SchedulerShell } from "./shell.js";
import type { SchedulerConfig, SchedulerTask } from "./state.js";

/**
 * Options of {@link SchedulerServer.start}.
 *
 * @example
 * ```ts
 * const opts: SchedulerServerOptions = { host: "127.0.0.1", port: 0, workerTimeoutMs: 5000 };
 * ```
 */
export interface SchedulerServerOptions {
  /** Interface to listen on. Default `127.0.0.1`; `0.0.0.0` for every interface. */
  readonly host?: string;
  /** Port; 0 picks a free one. Default 8786. */
  readonly port?: number;
  /** A worker silent for this long is taken for dead (workers heartbeat four times as often, at most once a second). Default 10,000 ms. */
  readonly workerTimeoutMs?: number;
  /**
   * A task that waits this long with no worker that could ever run it (none
   * connected, or none allowed or offering its resources; busy ones count as
   * able) fails with NoValidWorkerError. Default: it waits as long as it takes.
   */
  readonly noWorkersTimeoutMs?: number;
  /** Scheduler tunables (saturation, allowed failures, validation). */
  readonly scheduler?: SchedulerConfig;
  /** Told about workers and clients coming and going. */
  readonly log?: (line: string) => void;
}

/**
 * Send unless the connection has closed. Its peer is gone, and its removal
 * is on the way (or, while the server closes, never comes: releasing a
 * departing client's keys still addresses the workers). Sending on a closed
 * comm throws, and would take the scheduler down.
 */
function post<T, In>(comm: TcpComm<T, In>, msg: T): void {
  if (!comm.isClosed) comm.send(msg);
}

/**
 * A scheduler service: answers clients' requests by name (see {@link SchedulerServer.addService}).
 *
 * @example
 * ```ts
 * const echo: ServiceHandler = { handle: (args) => args };
 * ```
 */
export interface ServiceHandler {
  /** Answer one request; may wait (a lock being held, an empty queue). */
  handle(args: unknown, client: string): unknown;
  /** A client disconnected: let go of what it held (locks, leases). */
  clientLeft?(client: string): void;
}

interface WorkerConn {
  readonly address: string;
  readonly name: string;
  readonly comm: TcpComm<SchedulerToWorker, WorkerToScheduler>;
  lastSeen: number;
  readonly requests: Map<number, (reply: DataReply) => void>;
  /** Requests answered with a `ran` reply (runs, uploads); told `undefined` if the worker leaves first. */
  readonly runs: Map<number, (reply: RunReply | undefined) => void>;
  /** A fresh worker takes its place when it is told to restart (it has a nanny). */
  readonly restartable: boolean;
}

/**
 * A running network scheduler.
 *
 * @example
 * ```ts
 * await using server = await SchedulerServer.start({ port: 0 });
 * const client = await Client.connect(server.address);
 * ```
 */
export class SchedulerServer implements AsyncDisposable {
  readonly shell: SchedulerShell;
  private readonly workers = new Map<string, WorkerConn>();
  private readonly clients = new Map<string, TcpComm<SchedulerToClient, ClientToScheduler>>();
  /** The sessions each client opened (scheduler client ids). */
  private readonly sessions = new Map<string, Set<string>>();
  private readonly services = new Map<string, ServiceHandler>();
  /** Modules uploaded by clients, by the URL tasks know them by, oldest first: every worker that joins gets them. */
  private readonly uploads = new Map<string, ModuleUpload>();
  private readonly fireAndForget: string;
  private nextRun = 0;
  private nextClient = 0;
  private nextRequest = 0;
  private closing = false;
  private readonly timer: NodeJS.Timeout;
  /**
   * Woken when a worker registers: a scatter waiting for somewhere to put its values (dropped if its
   * client leaves first), or a restart waiting for its workers to come back (no client).
   */
  private workerJoined: { readonly client: string | undefined; readonly wake: () => void; readonly drop: () => void }[] = [];
  /** How often workers heartbeat (told on registration). */
  private readonly heartbeatMs: number;

  private constructor(
    private readonly listener: TcpListener<SchedulerToWorker | SchedulerToClient, WorkerToScheduler | ClientToScheduler>,
    private readonly options: SchedulerServerOptions,
  ) {
    this.shell = new SchedulerShell({ allowedFailures: 3, ...options.scheduler });
    new CoordinationServices(this.shell).register(this);
    listener.onConnection((comm) => this.accept(comm));
    this.addService("run", { handle: (args) => this.runOnWorkers(args as { fn: FnRef; args: readonly unknown[] }) });
    this.addService("retire", { handle: (args) => this.retire(args as readonly string[]) });
    this.addService("scatter", { handle: (args, client) => this.scatter(client, args) });
    this.addService("upload", { handle: (args) => this.upload(args as ModuleUpload & { readonly timeoutMs?: unknown }) });
    this.addService("cancel", { handle: (args, client) => this.cancel(client, args as { keys: readonly Key[]; force?: boolean }) });
    this.addService("retry", { handle: (args, client) => this.retry(client, args as readonly Key[]) });
    this.addService("restart", { handle: (args) => this.restart((args as { timeoutMs?: unknown } | undefined)?.timeoutMs) });
    this.fireAndForget = this.shell.stimulusId("fire-and-forget-client");
    // Keys given up for fire-and-forget are wanted by this client until they finish.
    this.shell.addClient(this.fireAndForget, (msg) => {
      this.shell.stimulus({ type: "client-releases-keys", client: this.fireAndForget, keys: [msg.key], stimulusId: this.shell.stimulusId("fire-and-forget-done") });
    });
    const timeout = options.workerTimeoutMs ?? 10_000;
    // Workers heartbeat four times per timeout (at most once a second): with a fixed 1 s heartbeat, a
    // timeout under a second removed healthy idle workers.
    this.heartbeatMs = Math.min(1000, Math.max(10, Math.floor(timeout / 4)));
    const noWorkers = options.noWorkersTimeoutMs;
    this.timer = setInterval(
      () => {
        this.checkWorkers(timeout);
        if (noWorkers !== undefined) this.checkUnrunnable(noWorkers);
      },
      Math.min(1000, Math.max(50, Math.min(timeout, noWorkers ?? Infinity) / 4)),
    );
    this.timer.unref();
  }

  /**
   * Listen and serve.
   *
   * @example
   * ```ts
   * const server = await SchedulerServer.start({ port: 0 });
   * ```
   */
  static async start(options: SchedulerServerOptions = {}): Promise<SchedulerServer> {
    // Checked before listening: refused later, the port would stay open with nothing to close it.
    const noWorkers = options.noWorkersTimeoutMs;
    if (noWorkers !== undefined && !(Number.isFinite(noWorkers) && noWorkers >= 0)) {
      throw new InvalidArgumentError("noWorkersTimeoutMs", `noWorkersTimeoutMs must be a number of milliseconds ≥ 0, got ${String(noWorkers)}.`);
    }
    const listener = await listen<SchedulerToWorker | SchedulerToClient, WorkerToScheduler | ClientToScheduler>({
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 8786,
      role: "scheduler",
      name: "scheduler",
    });
    return new SchedulerServer(listener, options);
  }

  /** Where workers and clients connect: `tcp://host:port`. */
  get address(): string {
    return this.listener.address;
  }

  /** Addresses of the connected workers. */
  get workerAddresses(): string[] {
    return [...this.workers.keys()];
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private accept(comm: TcpComm<SchedulerToWorker | SchedulerToClient, WorkerToScheduler | ClientToScheduler>): void {
    let role: "unknown" | "worker" | "client" = "unknown";
    let worker: WorkerConn | undefined;
    let client: string | undefined;
    comm.onMessages((batch) => {
      let i = 0;
      if (role === "unknown" && batch.length > 0) {
        const first = batch[0]!;
        i = 1;
        if (first.op === "register-worker") {
          role = "worker";
          worker = this.addWorker(comm as TcpComm<SchedulerToWorker, WorkerToScheduler>, first);
        } else if (first.op === "register-client") {
          role = "client";
          client = this.addClient(comm as TcpComm<SchedulerToClient, ClientToScheduler>, first.name);
        } else {
          void comm.close(`the first message must register a worker or a client, got op ${JSON.stringify((first as { op?: unknown }).op)}`);
          return;
        }
      }
      if (worker !== undefined) this.fromWorker(worker, batch.slice(i) as WorkerToScheduler[]);
      else if (client !== undefined) this.fromClient(client, comm as TcpComm<SchedulerToClient, ClientToScheduler>, batch.slice(i) as ClientToScheduler[]);
    });
    void comm.closed.then(() => {
      if (worker !== undefined) this.dropWorker(worker, "its connection closed");
      if (client !== undefined) this.dropClient(client);
    });
  }

  // ---------------------------------------------------------------- workers

  private addWorker(comm: TcpComm<SchedulerToWorker, WorkerToScheduler>, reg: Extract<WorkerToScheduler, { op: "register-worker" }>): WorkerConn | undefined {
    if (this.workers.has(reg.address)) {
      void comm.close(`a worker at ${reg.address} is already registered`);
      return undefined;
    }
    const w: WorkerConn = { address: reg.address, name: reg.name, comm, lastSeen: Date.now(), requests: new Map(), runs: new Map(), restartable: reg.restartable === true };
    this.workers.set(w.address, w);
    post(comm, { op: "heartbeat-interval", ms: this.heartbeatMs });
    post(comm, { op: "peers", add: [...this.workers.keys()].filter((a) => a !== w.address), remove: [] });
    for (const other of this.workers.values()) if (other !== w) post(other.comm, { op: "peers", add: [w.address], remove: [] });
    // Before the worker can be given a task: a task that uses an upload must reach it after the upload.
    for (const u of this.uploads.values()) {
      this.ask(w, (id) => ({ op: "upload", id, upload: u }), (r) => {
        if (r?.error !== undefined) this.log(`worker ${w.name} at ${w.address} could not load the upload of ${u.module}: ${r.error.message}`);
      });
    }
    this.shell.addWorker(w.address, reg.nthreads, {
      send: (m) => post(comm, m),
      getData: (keys) =>
        new Promise((resolve, reject) => {
          const id = this.nextRequest++;
          w.requests.set(id, (reply) => {
            // A held value the worker could not send (over the limits, not encodable): its typed error.
            if (reply.unsendable !== undefined && reply.unsendable.keys.length > 0) return reject(deserializeError(reply.unsendable.errors[0]!));
            const got = new Map<Key, unknown>();
            reply.keys.forEach((k, j) => got.set(k, reply.values[j]));
            resolve(got);
          });
          if (comm.isClosed) resolve(new Map());
          else comm.send({ op: "get-data", id, keys });
        }),
    }, reg.resources);
    this.log(`worker ${w.name} registered at ${w.address} (${reg.nthreads} thread${reg.nthreads === 1 ? "" : "s"})`);
    this.broadcastWorkerCount();
    const joined = this.workerJoined;
    this.workerJoined = [];
    for (const w of joined) w.wake();
    return w;
  }

  private fromWorker(w: WorkerConn | undefined, msgs: readonly WorkerToScheduler[]): void {
    if (w === undefined || !this.workers.has(w.address)) return;
    w.lastSeen = Date.now();
    const task = [];
    for (const m of msgs) {
      if (m.op === "data") {
        const r = w.requests.get(m.id);
        w.requests.delete(m.id);
        r?.(m);
      } else if (m.op === "ran") {
        const r = w.runs.get(m.id);
        w.runs.delete(m.id);
        r?.(m);
      } else if (m.op === "task-finished" || m.op === "tasks-finished" || m.op === "task-erred" || m.op === "missing-data" || m.op === "steal-response") task.push(m);
    }
    if (task.length > 0) this.shell.fromWorker(w.address, task);
  }

  /** Forget a worker: answer what waited on it, close it, tell its peers and the state machine (`expected`: retired, not lost). */
  private dropWorker(w: WorkerConn, why: string, expected = false): void {
    if (this.workers.get(w.address) !== w) return;
    this.workers.delete(w.address);
    for (const r of w.requests.values()) r({ op: "data", id: -1, keys: [], values: [] });
    w.requests.clear();
    for (const r of w.runs.values()) r(undefined);
    w.runs.clear();
    if (!w.comm.isClosed) void w.comm.close(`removed: ${why}`);
    if (this.closing) return;
    this.log(`worker ${w.name} at ${w.address} removed: ${why}`);
    for (const other of this.workers.values()) post(other.comm, { op: "peers", add: [], remove: [w.address] });
    this.shell.removeWorker(w.address, expected);
    this.broadcastWorkerCount();
  }

  private checkWorkers(timeout: number): void {
    const now = Date.now();
    for (const w of [...this.workers.values()]) {
      if (now - w.lastSeen <= timeout) continue;
      const why = `silent for ${now - w.lastSeen} ms`;
      // Its process may be alive but stuck (a blocked event loop): should it come back, it must not
      // carry on as a stranger, nor take its nanny down as if the scheduler were gone — a fresh one starts.
      post(w.comm, { op: "terminate", reason: `removed by the scheduler: ${why}`, restart: "removed" });
      this.dropWorker(w, why);
    }
  }

  /** Since when each task in `no-worker` has had no worker that could ever run it. */
  private readonly hopelessSince = new Map<SchedulerTask, number>();

  /** Fail the tasks that have waited `timeout` ms for a worker that could run them, when none can. */
  private checkUnrunnable(timeout: number): void {
    const { unrunnable, workers } = this.shell.state;
    const now = Date.now();
    for (const ts of this.hopelessSince.keys()) if (!unrunnable.has(ts)) this.hopelessSince.delete(ts);
    const expired: Key[] = [];
    for (const ts of unrunnable) {
      // Some worker could run it once its resources are free: it waits for them, not for a worker.
      const able = [...workers.values()].some(
        (w) => (ts.restrictions === undefined || ts.restrictions.has(w.address)) && Object.entries(ts.resources ?? {}).every(([name, need]) => (w.resources[name] ?? 0) >= need),
      );
      if (able) {
        this.hopelessSince.delete(ts);
        continue;
      }
      const since = this.hopelessSince.get(ts);
      if (since === undefined) this.hopelessSince.set(ts, now);
      else if (now - since >= timeout) expired.push(ts.key);
    }
    if (expired.length > 0) this.shell.stimulus({ type: "no-valid-worker", keys: expired, timeoutMs: timeout, stimulusId: this.shell.stimulusId("no-valid-worker") });
  }

  // ---------------------------------------------------------------- clients

  private addClient(comm: TcpComm<SchedulerToClient, ClientToScheduler>, name: string): string {
    const id = `client-${this.nextClient++}${name === "" ? "" : `-${name}`}`;
    this.clients.set(id, comm);
    this.shell.addClient(id, (msg: ToClientMsg) => post(comm, msg));
    comm.send({ op: "welcome", id, workers: this.workers.size });
    this.log(`client ${id} connected`);
    return id;
  }

  /** The scheduler client of a session, opened on first use. */
  private session(id: string, comm: TcpComm<SchedulerToClient, ClientToScheduler>, session: string | undefined): string {
    if (session === undefined) return id;
    const sid = `${id}/${session}`;
    const mine = this.sessions.get(id) ?? new Set<string>();
    this.sessions.set(id, mine);
    if (!mine.has(sid)) {
      mine.add(sid);
      this.shell.addClient(sid, (msg: ToClientMsg) => post(comm, { ...msg, session }));
    }
    return sid;
  }

  private fromClient(id: string, comm: TcpComm<SchedulerToClient, ClientToScheduler>, msgs: readonly ClientToScheduler[]): void {
    for (const m of msgs) {
      switch (m.op) {
        case "update-graph": {
          let keys = m.keys;
          if (m.tasks.length === 0) {
            // Futures adopted from a store (a Variable, a dataset): a key forgotten meanwhile was
            // force-cancelled, so its future is cancelled — not a malformed graph.
            const gone = keys.filter((k) => !this.shell.state.tasks.has(k));
            if (gone.length > 0) {
              post(comm, { op: "cancelled", keys: gone, ...(m.session === undefined ? {} : { session: m.session }) });
              keys = keys.filter((k) => this.shell.state.tasks.has(k));
              if (keys.length === 0) break;
            }
          }
          try {
            this.shell.stimulus({
              type: "update-graph",
              client: this.session(id, comm, m.session),
              tasks: m.tasks,
              keys,
              deliver: m.deliver,
              ...(m.userPriority === undefined ? {} : { userPriority: m.userPriority }),
              ...(m.retries === undefined ? {} : { retries: m.retries }),
              ...(m.workers === undefined ? {} : { workers: m.workers }),
              ...(m.resources === undefined ? {} : { resources: m.resources }),
              stimulusId: this.shell.stimulusId("update-graph"),
            });
          } catch (err) {
            // A graph the machine refuses (a bug or a malformed message) fails its keys, not the scheduler.
            const error = serializeError(err);
            for (const k of m.keys) post(comm, { op: "task-erred", key: k, blame: k, error, ...(m.session === undefined ? {} : { session: m.session }) });
          }
          break;
        }
        case "release-keys":
          this.shell.stimulus({ type: "client-releases-keys", client: this.session(id, comm, m.session), keys: m.keys, stimulusId: this.shell.stimulusId("release") });
          break;
        case "release-session": {
          const sid = `${id}/${m.session}`;
          if (this.sessions.get(id)?.delete(sid) === true) this.shell.removeClient(sid);
          break;
        }
        case "gather":
          this.gather(comm, m.id, m.keys);
          break;
        case "request":
          this.request(id, comm, m.id, m.service, m.args);
          break;
        case "fire-and-forget": {
          // A key already forgotten (cancelled) has nothing left to finish; wanting it would throw here and drop the client.
          const keys = m.keys.filter((k) => this.shell.state.tasks.has(k));
          if (keys.length > 0) this.shell.stimulus({ type: "update-graph", client: this.fireAndForget, tasks: [], keys, deliver: false, stimulusId: this.shell.stimulusId("fire-and-forget") });
          break;
        }
        case "heartbeat":
        case "register-client":
          break;
      }
    }
  }

  private gather(comm: TcpComm<SchedulerToClient, ClientToScheduler>, id: number, keys: readonly Key[]): void {
    this.shell.gather(keys).then(
      (got) => {
        try {
          post(comm, { op: "gathered", id, keys, values: keys.map((k) => got.get(k)) });
        } catch (err) {
          // Over the client connection's limits, or not encodable: the client gets the typed error instead of waiting.
          post(comm, { op: "gathered", id, keys: [], values: [], error: serializeError(err) });
        }
      },
      (err: unknown) => post(comm, { op: "gathered", id, keys: [], values: [], error: serializeError(err instanceof Error ? err : new MissingKeyError(String(err))) }),
    );
  }

  /**
   * Serve requests to `service` from clients (coordination primitives,
   * datasets, ...). The handler's value (or error) is the reply; it is told
   * which client asks, and `clientLeft` lets it drop what a client held.
   *
   * @example
   * ```ts
   * server.addService("echo", { handle: (args) => args });
   * ```
   */
  addService(service: string, handler: ServiceHandler): void {
    this.services.set(service, handler);
  }

  private request(client: string, comm: TcpComm<SchedulerToClient, ClientToScheduler>, id: number, service: string, args: unknown): void {
    const handler = this.services.get(service);
    if (handler === undefined) {
      post(comm, { op: "reply", id, error: serializeError(new InvalidArgumentError("service", `The scheduler has no service "${service}".`)) });
      return;
    }
    // Handled at once, in message order: a request that stores a future's key must see it
    // before a release-keys that follows it in the same batch lets it go.
    let answer: unknown;
    try {
      answer = handler.handle(args, client);
    } catch (err) {
      post(comm, { op: "reply", id, error: serializeError(err) });
      return;
    }
    Promise.resolve(answer).then(
        (value) => post(comm, { op: "reply", id, value }),
        (err: unknown) => post(comm, { op: "reply", id, error: serializeError(err) }),
      );
  }

  /**
   * Retire workers gracefully: copy what only they hold to the others, then
   * remove them (their running tasks go elsewhere, as expected removals, not
   * deaths) and tell them to leave. Resolves with the addresses retired.
   */
  async retire(addresses: readonly string[]): Promise<string[]> {
    if (!Array.isArray(addresses) || !addresses.every((a) => typeof a === "string")) {
      throw new InvalidArgumentError("workers", "retireWorkers takes an array of worker addresses.");
    }
    const leaving = addresses.map((a) => this.workers.get(a)).filter((w): w is WorkerConn => w !== undefined);
    const staying = [...this.workers.values()].filter((w) => !leaving.includes(w));
    if (leaving.length > 0 && staying.length === 0) {
      throw new InvalidArgumentError("workers", "Cannot retire every worker: their data would have nowhere to go. Keep at least one.");
    }
    // From now on they get no new tasks or data: what lands on them while their results are copied would be lost with them.
    this.shell.stimuli(leaving.map((w) => ({ type: "worker-closing" as const, address: w.address, stimulusId: this.shell.stimulusId("retire") })));
    for (const w of leaving) {
      const keys = this.shell.state.uniqueKeysOf(w.address);
      if (keys.length > 0) {
        const got = await this.shell.gather(keys).catch(() => new Map<Key, unknown>());
        let i = 0;
        const moves = [];
        for (const [key, value] of got) {
          // Spread the copies over the staying workers, least loaded first.
          const to = staying[i++ % staying.length]!;
          const nbytes = this.shell.state.tasks.get(key)?.nbytes ?? 0;
          moves.push({ type: "add-replica" as const, key, worker: to.address, value, nbytes, stimulusId: this.shell.stimulusId("retire-copy") });
        }
        this.shell.stimuli(moves);
      }
      post(w.comm, { op: "terminate", reason: "retired" });
      this.dropWorker(w, "retired", true);
    }
    return leaving.map((w) => w.address);
  }

  /**
   * `client.scatter`: put a client's values on workers — waiting for a
   * worker to join if there is none — and make them its futures' keys.
   */
  private scatter(client: string, args: unknown): number | Promise<number> {
    const a = args as { keys?: unknown; values?: unknown; nbytes?: unknown; broadcast?: unknown; workers?: unknown };
    const keys = a.keys;
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string") || !Array.isArray(a.values) || a.values.length !== keys.length) {
      throw new InvalidArgumentError("values", "scatter needs as many keys as values.");
    }
    const nbytes = Array.isArray(a.nbytes) && a.nbytes.length === keys.length ? a.nbytes.map((n) => (typeof n === "number" && n >= 0 ? n : 0)) : keys.map(() => 0);
    let workers: string[] | undefined;
    if (a.workers !== undefined) {
      if (!Array.isArray(a.workers) || !a.workers.every((w) => typeof w === "string")) throw new InvalidArgumentError("workers", "scatter's workers must be worker addresses.");
      const unknown = a.workers.filter((w) => !this.workers.has(w) || this.shell.state.workers.get(w)?.closing === true);
      if (unknown.length > 0) {
        throw new InvalidArgumentError("workers", `No worker at ${unknown.join(", ")} (or it is retiring): pass addresses of connected workers (client.run(() => 0) lists them by address).`);
      }
      workers = a.workers;
    }
    const place = (): number => {
      this.shell.stimulus({
        type: "scatter",
        client,
        keys,
        values: a.values as unknown[],
        nbytes,
        broadcast: a.broadcast === true,
        ...(workers === undefined ? {} : { workers }),
        stimulusId: this.shell.stimulusId("scatter"),
      });
      return keys.length;
    };
    if (this.workers.size > 0) return place();
    return new Promise<number>((resolve, reject) => {
      this.workerJoined.push({ client, wake: () => resolve(place()), drop: () => reject(new ClosedError(`Client ${client}`)) });
    });
  }

  /**
   * Send a worker a request that it answers with a `ran` reply (`run`,
   * `upload`); `answer` gets the reply, or undefined if the worker leaves
   * first. A request the connection refuses (over the worker's size limit)
   * is answered with that error.
   */
  private ask(w: WorkerConn, request: (id: number) => SchedulerToWorker, answer: (reply: RunReply | undefined) => void): void {
    const id = this.nextRun++;
    w.runs.set(id, answer);
    try {
      post(w.comm, request(id));
    } catch (err) {
      w.runs.delete(id);
      answer({ op: "ran", id, error: serializeError(err) });
    }
  }

  /**
   * `Future.cancel`: release `keys` for this client, and with them the tasks
   * that depend on them and nobody else wants (as Dask's `cancel_key`), so a
   * cancelled input takes its dependents along. With `force`, for every
   * client that wants them. Each client concerned hears which of its keys
   * (or of its computations' keys) were cancelled.
   */
  private cancel(client: string, args: { keys: readonly Key[]; force?: boolean }): void {
    if (!Array.isArray(args?.keys) || !args.keys.every((k) => typeof k === "string")) throw new InvalidArgumentError("keys", "cancel takes an array of keys.");
    const force = args.force === true;
    const released = new Map<string, Key[]>();
    const seen = new Set<Key>();
    const stack = [...args.keys];
    while (stack.length > 0) {
      const key = stack.pop()!;
      if (seen.has(key)) continue;
      seen.add(key);
      const ts = this.shell.state.tasks.get(key);
      if (ts === undefined) continue;
      let others = false;
      for (const cs of ts.whoWants) {
        if (force || cs.id === client) {
          const keys = released.get(cs.id) ?? [];
          keys.push(key);
          released.set(cs.id, keys);
        } else others = true;
      }
      // Someone else still wants it: it (and so its inputs) goes on for them; stop here.
      if (!others) for (const d of ts.dependents) stack.push(d.key);
    }
    if (released.size === 0) return;
    this.shell.stimuli([...released].map(([id, keys]) => ({ type: "client-releases-keys" as const, client: id, keys, stimulusId: this.shell.stimulusId("cancel") })));
    for (const [id, keys] of released) {
      // A scheduler client is a connected client, one of its sessions (`id/session`), or internal (fire-and-forget, stores).
      const slash = this.clients.has(id) ? -1 : id.lastIndexOf("/");
      const owner = slash < 0 ? id : id.slice(0, slash);
      const comm = this.clients.get(owner);
      if (comm === undefined || (slash >= 0 && this.sessions.get(owner)?.has(id) !== true)) continue;
      post(comm, { op: "cancelled", keys, ...(slash < 0 ? {} : { session: id.slice(slash + 1) }) });
    }
  }

  /** The restart under way: a second request joins it. */
  private restarting: Promise<number> | undefined;

  /**
   * `client.restart()`: forget every task — every client's futures and
   * computations are cancelled — and replace every worker with a fresh
   * process: workers with a nanny are restarted by it, those without one
   * leave for good (as in Dask). Resolves with the number of workers once as
   * many restartable workers have registered again as there were; rejects
   * with TimeoutError after `timeoutMs` (default 30 s).
   *
   * @example
   * ```ts
   * const workers = await server.restart(); // 2
   * ```
   */
  async restart(timeoutMs: unknown = 30_000): Promise<number> {
    if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new InvalidArgumentError("timeoutMs", `restart's timeoutMs must be a finite, positive number of milliseconds, got ${String(timeoutMs)}.`);
    }
    this.restarting ??= this.restartWorkers(timeoutMs).finally(() => (this.restarting = undefined));
    return await this.restarting;
  }

  private async restartWorkers(timeoutMs: number): Promise<number> {
    this.cancel("", { keys: [...this.shell.state.tasks.keys()], force: true });
    const leaving = [...this.workers.values()];
    const expected = leaving.filter((w) => w.restartable).length;
    for (const w of leaving) {
      post(w.comm, { op: "terminate", reason: "restarting: a client asked for fresh workers", restart: "requested" });
      this.dropWorker(w, "restarting", true);
    }
    this.log(`restarting: ${leaving.length} worker${leaving.length === 1 ? "" : "s"} told to leave, waiting for ${expected} to come back`);
    const deadline = Date.now() + timeoutMs;
    while (this.workers.size < expected) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closing) {
        throw new TimeoutError(`restart the workers (${this.workers.size} of ${expected} came back; are their nannies running?)`, timeoutMs);
      }
      await new Promise<void>((resolve) => {
        const waiter = { client: undefined, wake: (): void => (clearTimeout(timer), resolve()), drop: resolve };
        const timer = setTimeout(() => {
          this.workerJoined = this.workerJoined.filter((w) => w !== waiter);
          resolve();
        }, left);
        this.workerJoined.push(waiter);
      });
    }
    return this.workers.size;
  }

  /**
   * `Future.retry`: compute erred keys again (see the `retry` stimulus).
   * Answers with this client's keys that were erred and no longer are, whose
   * futures are pending again; one that fails again at once (an input still
   * erred) has been reported as such already.
   */
  private retry(client: string, keys: readonly Key[]): Key[] {
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string")) throw new InvalidArgumentError("keys", "retry takes an array of keys.");
    const erred = [...(this.shell.state.clients.get(client)?.wantsWhat ?? [])].filter((ts) => ts.state === "erred");
    this.shell.stimulus({ type: "retry", keys, stimulusId: this.shell.stimulusId("retry") });
    return erred.filter((ts) => ts.state !== "erred").map((ts) => ts.key);
  }

  /** `client.run`: call a function in every worker process; the answers by worker address. */
  private async runOnWorkers(req: { fn: FnRef; args: readonly unknown[] }): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    await Promise.all(
      [...this.workers.values()].map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            this.ask(w, (id) => ({ op: "run", id, fn: req.fn, args: req.args }), (reply) => {
              if (reply === undefined) reject(new ClosedError(`Worker ${w.name} at ${w.address}`));
              else if (reply.error !== undefined) reject(deserializeError(reply.error));
              else {
                out[w.address] = reply.value;
                resolve();
              }
            });
          }),
      ),
    );
    return out;
  }

  /**
   * `client.uploadModule`: keep the upload for workers that join later, and
   * have every current worker store it and import its module. Resolves with
   * the addresses of the workers that have it (a worker that leaves
   * meanwhile is not waited for); rejects with an `UploadError` naming each
   * worker where it failed.
   */
  private async upload(args: ModuleUpload & { readonly timeoutMs?: unknown }): Promise<string[]> {
    const { timeoutMs: t, ...u } = args;
    checkUpload(u);
    const timeoutMs = typeof t === "number" && Number.isFinite(t) && t > 0 ? t : 60_000;
    // Newest last, replacing an earlier upload of the same module or directory. Kept even if
    // some worker fails it: the fault may be that worker's, and a fixed upload replaces it.
    this.uploads.delete(u.from);
    this.uploads.set(u.from, u);
    const replies = await Promise.all(
      [...this.workers.values()].map(
        (w) =>
          new Promise<[WorkerConn, RunReply | undefined]>((resolve) => {
            // A module whose top-level code never finishes must not hold the caller forever.
            const late = setTimeout(() => {
              const error = serializeError(new Error(`it did not finish storing and importing the module within ${timeoutMs} ms (does its top-level code wait forever?)`));
              resolve([w, { op: "ran", id: -1, error }]);
            }, timeoutMs);
            this.ask(w, (id) => ({ op: "upload", id, upload: u }), (r) => {
              clearTimeout(late);
              resolve([w, r]);
            });
          }),
      ),
    );
    const failures = replies.flatMap(([w, r]) => (r?.error === undefined ? [] : [{ worker: w.address, reason: `${r.error.name}: ${r.error.message}` }]));
    if (failures.length > 0) throw new UploadError(u.module, failures);
    return replies.flatMap(([w, r]) => (r === undefined ? [] : [w.address]));
  }

  private dropClient(id: string): void {
    if (!this.clients.delete(id) || this.closing) return;
    for (const service of this.services.values()) service.clientLeft?.(id);
    // Its scatters waiting for a worker go too: else their values stay here until one joins, if ever.
    const gone = this.workerJoined.filter((w) => w.client === id);
    this.workerJoined = this.workerJoined.filter((w) => w.client !== id);
    for (const w of gone) w.drop();
    for (const sid of this.sessions.get(id) ?? []) this.shell.removeClient(sid);
    this.sessions.delete(id);
    this.shell.removeClient(id);
    this.log(`client ${id} disconnected`);
  }

  private broadcastWorkerCount(): void {
    for (const c of this.clients.values()) post(c, { op: "workers", count: this.workers.size });
  }

  /**
   * Stop: tell the workers to leave, close every connection and the listener.
   *
   * @example
   * ```ts
   * await server.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.timer);
    this.shell.close();
    for (const w of this.workers.values()) post(w.comm, { op: "terminate", reason: "the scheduler is shutting down" });
    await Promise.all([...this.workers.values()].map((w) => w.comm.close("the scheduler is shutting down")));
    await Promise.all([...this.clients.values()].map((c) => c.close("the scheduler is shutting down")));
    await this.listener.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
