/**
 * The scheduler state machine. Pure and synchronous: {@link SchedulerState.handle}
 * takes one stimulus (a graph arrived, a task finished, a worker joined or
 * died, a client let go of keys) and returns the messages to send. It owns no
 * socket, timer or thread, so the embedded cluster and the network cluster
 * run it unchanged, and tests drive it directly with `validate` on.
 *
 * Task states: `released` (known, nothing happening), `waiting` (needs
 * dependencies), `queued` (ready root task held back until a worker has a
 * free slot), `no-worker` (ready, no worker to run it), `processing` (sent to
 * a worker), `memory` (held by one or more workers), `erred`, `forgotten`.
 * Each change is a named transition `from->to`; a transition mutates state and
 * returns recommendations for other tasks, which run until none are left. A
 * pair with no direct edge goes through `released`.
 *
 * Placement policy:
 * - A task with dependencies goes to the worker that needs to fetch the
 *   fewest bytes, weighed against how busy it is.
 * - Root tasks of large groups are *queued*: a worker gets at most
 *   `ceil(saturation × threads)` of them at a time, so producers cannot flood
 *   memory. When a group's tasks are known to be tiny, the limit widens to
 *   cover `pipelineSeconds` of work per thread — enough to keep a worker busy
 *   across a message round trip, which is what makes microsecond tasks cheap.
 * - Work stealing corrects placement afterwards: on each `balance` stimulus,
 *   tasks that have not started move from overloaded workers to idle ones
 *   (stealing.ts decides which; the victim confirms it had not started).
 * - Outputs only a `compute()` caller wants are delivered with the
 *   `task-finished` message and forgotten at once: no second round trip.
 *
 * Failure: a task that was processing on a worker that died is retried
 * elsewhere; after `allowedFailures` such deaths it errs with
 * {@link KilledWorkerError}. Results that lived only on the dead worker are
 * recomputed if anyone still needs them — except scattered data (a task
 * with no `run`), which the scheduler holds no copy of: losing its last
 * holder errs it, and what needs it, with {@link LostDataError}.
 *
 * @module
 */
import { InvalidTransitionError, KilledWorkerError, LostDataError, MissingKeyError, NoValidWorkerError, serializeError, type SerializedError } from "../core/errors.js";
import { keepShape } from "../core/shapes.js";
import type { Key, TaskNode } from "../core/graph.js";
import { EMPTY_SET, drop, empty, forgetLastPut, grow, put } from "./lazy-set.js";
import { PriorityQueue } from "./priority-queue.js";
import { planSteals, type StealMove } from "./stealing.js";
import { comparePriority, reportStimulusId, type ComputeTaskMsg, type Priority, type TaskInputs, type ToClientMsg, type ToWorkerMsg, type WorkerReportMsg } from "./messages.js";

/**
 * Where a task is in its life on the scheduler.
 *
 * @example
 * ```ts
 * const done = (s: TaskStateName) => s === "memory" || s === "erred";
 * ```
 */
export type TaskStateName = "released" | "waiting" | "queued" | "no-worker" | "processing" | "memory" | "erred" | "forgotten";

/** The scheduler's record of one task. */
export interface SchedulerTask {
  readonly key: Key;
  state: TaskStateName;
  /** What to run; undefined for data put on the cluster (`scatter`), which cannot be recomputed. */
  readonly run: TaskNode | undefined;
  /** Group name (the key without its token), for statistics and root-task detection. */
  readonly group: TaskGroup;
  priority: Priority;
  dependencies: Set<SchedulerTask>;
  dependents: Set<SchedulerTask>;
  /** Dependencies not yet in memory. */
  waitingOn: Set<SchedulerTask>;
  /** Dependents that still need this result. */
  waiters: Set<SchedulerTask>;
  whoHas: Set<SchedulerWorker>;
  processingOn: SchedulerWorker | undefined;
  whoWants: Set<SchedulerClient>;
  /** Clients that asked for the value delivered (compute) rather than held (persist). */
  deliverTo: Set<SchedulerClient>;
  nbytes: number;
  /** Workers that died while running it. */
  suspicious: number;
  exception: SerializedError | undefined;
  exceptionBlame: SchedulerTask | undefined;
  runId: number;
  /** The run under way delivers its result with `task-finished` and no worker keeps it. */
  deliver: boolean;
  /** It occupies one of its worker's root-task slots. */
  rootSlot: boolean;
  /** @internal A recommended next state, pending in the current stimulus. */
  rec: TaskStateName | undefined;
  /** Runs left after an error before it errs for good. */
  retries: number;
  /** Workers it may run on (addresses); undefined: any. */
  restrictions: ReadonlySet<string> | undefined;
  /** Resources it holds on its worker while it runs. */
  resources: Readonly<Record<string, number>> | undefined;
}

/** Tasks sharing a name prefix and a function: duration statistics and group size. */
export interface TaskGroup {
  readonly name: string;
  /** The name, made distinct for different functions that share it (anonymous ones are all "lambda"). */
  readonly id: string;
  size: number;
  /** Mean seconds per task, blended; undefined until one has finished. */
  duration: number | undefined;
}

/** The scheduler's record of one worker. */
export interface SchedulerWorker {
  readonly address: string;
  readonly nthreads: number;
  readonly processing: Set<SchedulerTask>;
  readonly hasWhat: Set<SchedulerTask>;
  /** Root tasks currently assigned from the queue. */
  rootProcessing: number;
  /** Expected seconds of work assigned. */
  occupancy: number;
  nbytes: number;
  /** Resources offered, and how much of each the tasks processing here hold. */
  readonly resources: Readonly<Record<string, number>>;
  readonly usedResources: Record<string, number>;
  /** Retiring: it gets no new tasks or data; what it runs finishes, what it holds is copied away before it is removed. */
  closing: boolean;
}

/** The scheduler's record of one client. */
export interface SchedulerClient {
  readonly id: string;
  readonly wantsWhat: Set<SchedulerTask>;
}

/**
 * A stimulus: something that happened.
 *
 * @example
 * ```ts
 * const ev: SchedulerEvent = { type: "remove-worker", address: "w1", expected: false, stimulusId: "lost-w1" };
 * ```
 */
export type SchedulerEvent =
  | {
      readonly type: "add-worker";
      readonly address: string;
      readonly nthreads: number;
      /** Abstract resources the worker offers (`{ GPU: 1 }`); tasks that need them run only where they are free. */
      readonly resources?: Readonly<Record<string, number>>;
      readonly stimulusId: string;
    }
  | { readonly type: "remove-worker"; readonly address: string; readonly expected: boolean; readonly stimulusId: string }
  | { readonly type: "add-client"; readonly client: string; readonly stimulusId: string }
  | { readonly type: "remove-client"; readonly client: string; readonly stimulusId: string }
  | {
      readonly type: "update-graph";
      readonly client: string;
      /** New tasks, in execution order (`order`): their position is their priority. */
      readonly tasks: readonly (readonly [Key, TaskNode])[];
      /** Keys the client wants. */
      readonly keys: readonly Key[];
      readonly userPriority?: number;
      /** Deliver wanted results with their completion and forget them (compute), instead of holding them (persist). */
      readonly deliver: boolean;
      /** How many times each new task may be run again after it throws. Default 0. */
      readonly retries?: number;
      /** The new tasks may run only on these workers (addresses). */
      readonly workers?: readonly string[];
      /** The new tasks each need these resources of their worker while they run. */
      readonly resources?: Readonly<Record<string, number>>;
      readonly stimulusId: string;
    }
  | { readonly type: "client-releases-keys"; readonly client: string; readonly keys: readonly Key[]; readonly stimulusId: string }
  /** These tasks waited in `no-worker` for `timeoutMs` with no worker that could ever run them: they err with NoValidWorkerError. */
  | { readonly type: "no-valid-worker"; readonly keys: readonly Key[]; readonly timeoutMs: number; readonly stimulusId: string }
  /** Run erred tasks again (`Future.retry`): the erred tasks each key's failure comes from, and the erred tasks depending on them. */
  | { readonly type: "retry"; readonly keys: readonly Key[]; readonly stimulusId: string }
  /**
   * A client puts values on the cluster (`scatter`): each is held by the
   * worker with the fewest bytes (or by every worker, `broadcast`), wanted by
   * the client, and never recomputed. The shell makes sure a worker exists.
   */
  | {
      readonly type: "scatter";
      readonly client: string;
      readonly keys: readonly Key[];
      readonly values: readonly unknown[];
      readonly nbytes: readonly number[];
      /** A copy on every (allowed) worker instead of one. */
      readonly broadcast: boolean;
      /** Place the values on these workers only (addresses). */
      readonly workers?: readonly string[];
      readonly stimulusId: string;
    }
  /**
   * Copy a value the scheduler fetched (from a worker about to retire) to
   * another worker, which then holds it too. Ignored unless the key is in
   * memory and the worker does not hold it yet.
   */
  | { readonly type: "add-replica"; readonly key: Key; readonly worker: string; readonly value: unknown; readonly nbytes: number; readonly stimulusId: string }
  | { readonly type: "worker-message"; readonly worker: string; readonly msg: WorkerReportMsg; readonly stimulusId: string }
  /** A worker is being retired: from now on it gets no new tasks or data (see {@link SchedulerWorker.closing}). */
  | { readonly type: "worker-closing"; readonly address: string; readonly stimulusId: string }
  /** Time to rebalance (the shell's timer): ask overloaded workers to give tasks to idle ones (see stealing.ts). */
  | { readonly type: "balance"; readonly stimulusId: string };

/**
 * A message to send, the output of a transition.
 *
 * @example
 * ```ts
 * for (const ins of state.handle(ev)) if (ins.to === "worker") send(ins.worker, ins.msg);
 * ```
 */
export type SchedulerInstruction =
  | { readonly to: "worker"; readonly worker: string; readonly msg: ToWorkerMsg }
  | { readonly to: "client"; readonly client: string; readonly msg: ToClientMsg };

/**
 * Tunables of the scheduler machine.
 *
 * @example
 * ```ts
 * new SchedulerState({ workerSaturation: 1.5, allowedFailures: 1, transitionLogSize: 10_000 });
 * ```
 */
export interface SchedulerConfig {
  /** Root tasks per thread a worker may hold (Dask's worker-saturation). Default 1.1. */
  readonly workerSaturation?: number;
  /** Seconds of known-tiny root work a thread may hold, to cover message latency. Default 0.005. */
  readonly pipelineSeconds?: number;
  /** Upper bound on root tasks per thread, whatever their duration. Default 2000. */
  readonly maxRootTasksPerThread?: number;
  /** Worker deaths a task may be present for before it errs with KilledWorkerError. Default 3. */
  readonly allowedFailures?: number;
  /** Check every invariant after every stimulus (tests). Default false. */
  readonly validate?: boolean;
  /** Keep the last N transitions for {@link SchedulerState.story}. Default 0 (off). */
  readonly transitionLogSize?: number;
  /** Move waiting work from overloaded workers to idle ones (see stealing.ts). Default true. */
  readonly workStealing?: boolean;
  /** How often the shell asks for a balance round, in milliseconds. Default 100. */
  readonly workStealingIntervalMs?: number;
}

/** One entry of the transition log. */
export interface TransitionRecord {
  readonly key: Key;
  readonly start: TaskStateName;
  readonly finish: TaskStateName;
  readonly stimulusId: string;
}

/**
 * Pending recommendations: the latest target of each task is kept on the task
 * itself (`rec`), and tasks are visited in the order first recommended. No
 * Map: a recommendation is the hottest operation of the machine. (Popping the
 * head of a Map instead was quadratic: V8 skips deleted entries from the start
 * on every new iterator.)
 */
class Recs {
  private readonly queue: SchedulerTask[] = [];
  private head = 0;
  /** The target of the task last returned by {@link next}. */
  finish: TaskStateName = "released";
  set(ts: SchedulerTask, finish: TaskStateName): void {
    if (ts.rec === undefined) this.queue.push(ts);
    ts.rec = finish;
  }
  has(ts: SchedulerTask): boolean {
    return ts.rec !== undefined;
  }
  /** Forget everything (the buffer is reused across stimuli to spare the allocator). */
  reset(): void {
    for (let i = this.head; i < this.queue.length; i++) this.queue[i]!.rec = undefined;
    this.queue.length = 0;
    this.head = 0;
  }
  /** The next recommended task (its target in {@link finish}), or undefined when none are left. */
  next(): SchedulerTask | undefined {
    while (this.head < this.queue.length) {
      const ts = this.queue[this.head++]!;
      const finish = ts.rec;
      if (finish === undefined) continue;
      ts.rec = undefined;
      this.finish = finish;
      return ts;
    }
    return undefined;
  }
}

/** The group name of a key: the key without its block index and trailing hex token. */
export function keyGroup(key: Key): string {
  return key.slice(0, groupEnd(key));
}

/** Where a key's group name ends (see {@link keyGroup}). */
function groupEnd(key: Key): number {
  let end = key.length;
  if (key.charCodeAt(end - 1) === 93 /* ] */) {
    const open = key.lastIndexOf("[");
    if (open > 0) end = open;
  }
  const dash = key.lastIndexOf("-", end - 1);
  if (dash < 0 || end - dash - 1 < 16) return end;
  for (let i = dash + 1; i < end; i++) {
    const c = key.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return end;
  }
  return dash;
}

const UNKNOWN_DURATION = 0.5;


function newClient(id: string): SchedulerClient {
  return { id, wantsWhat: new Set() };
}

function clientInstruction(client: string, msg: ToClientMsg): SchedulerInstruction {
  return { to: "client", client, msg };
}

function workerInstruction(worker: string, msg: ToWorkerMsg): SchedulerInstruction {
  return { to: "worker", worker, msg };
}

function freeKeysMsg(keys: Key[], stimulusId: string): ToWorkerMsg {
  return { op: "free-keys", keys, stimulusId };
}

/**
 * Every field present (undefined when absent): a field added after the literal gives the message a
 * map of its own, which a full GC frees with the messages, deoptimizing the code built for it.
 */
function computeTaskMsg(key: Key, run: TaskNode, inputs: TaskInputs | undefined, priority: Priority, runId: number, deliver: boolean, stimulusId: string): ComputeTaskMsg {
  return { op: "compute-task", key, fn: run.fn, args: run.args, inputs, priority, runId, deliver, transfer: run.transfer === true, stimulusId };
}

// Records and messages a computation makes and drops: see core/shapes.ts.
keepShape(newClient(""));
keepShape(clientInstruction("", { op: "key-in-memory", key: "", hasValue: false }));
keepShape(workerInstruction("", freeKeysMsg([], "")));
keepShape(computeTaskMsg("", { kind: "task", fn: { kind: "op", name: "" }, args: [], deps: [] }, undefined, [0, 0, 0], 0, false, ""));

/** A new task record, every field present (see core/shapes.ts). */
function newTask(
  key: Key,
  run: TaskNode | undefined,
  group: TaskGroup,
  priority: Priority,
  retries: number,
  restrictions: ReadonlySet<string> | undefined,
  resources: Readonly<Record<string, number>> | undefined,
): SchedulerTask {
  return {
    key,
    state: "released",
    run,
    group,
    priority,
    dependencies: EMPTY_SET,
    dependents: EMPTY_SET,
    waitingOn: EMPTY_SET,
    waiters: EMPTY_SET,
    whoHas: EMPTY_SET,
    processingOn: undefined,
    whoWants: EMPTY_SET,
    deliverTo: EMPTY_SET,
    nbytes: 0,
    suspicious: 0,
    exception: undefined,
    exceptionBlame: undefined,
    runId: 0,
    deliver: false,
    rootSlot: false,
    rec: undefined,
    retries,
    restrictions,
    resources,
  };
}

/** Deliver-and-forget only when every client that wants it asked for delivery and no task will read it. */
function shouldDeliver(ts: SchedulerTask): boolean {
  if (ts.whoWants.size === 0 || ts.dependents.size > 0) return false;
  for (const cs of ts.whoWants) if (!ts.deliverTo.has(cs)) return false;
  return true;
}

/** A dependent that is waiting for this task or running with it as input. */
function hasActiveDependent(ts: SchedulerTask): boolean {
  for (const d of ts.dependents) if (d.state === "waiting" || d.state === "processing") return true;
  return false;
}

/**
 * The scheduler state machine (see the module comment).
 *
 * @example
 * ```ts
 * const s = new SchedulerState({ validate: true });
 * const out = s.handle({ type: "add-worker", address: "w1", nthreads: 1, stimulusId: "start" });
 * ```
 */
export class SchedulerState {
  readonly tasks = new Map<Key, SchedulerTask>();
  readonly workers = new Map<string, SchedulerWorker>();
  /**
   * The workers that take new work, as a list: placing a root task walks them, and a Map iterator
   * per task is garbage. A retiring worker (`closing`) is in {@link workers} but not here.
   */
  private readonly workerList: SchedulerWorker[] = [];
  readonly clients = new Map<string, SchedulerClient>();
  readonly groups = new Map<string, TaskGroup>();
  /** Mean task duration per group, kept after the group's tasks are gone (written when a group is dropped). */
  private readonly durations = new Map<string, number>();
  private readonly groupIds = new WeakMap<object, { name: string; id: string }>();
  private readonly sourceIds = new Map<string, number>();
  readonly unrunnable = new Set<SchedulerTask>();
  /** A task holding resources left its worker during this stimulus: tasks waiting for resources may fit now. */
  private resourcesFreed = false;
  /**
   * Processing tasks by run id. A result names its task by key and run id; run ids are unique
   * per assignment, and a number hashes and compares in a fraction of the time a key copied
   * from another thread does (character by character).
   */
  private readonly running = new Map<number, SchedulerTask>();
  readonly queued = new PriorityQueue<SchedulerTask>(
    (a, b) => comparePriority(a.priority, b.priority),
    (t) => t.state === "queued",
  );
  readonly log: TransitionRecord[] = [];
  private readonly saturation: number;
  private readonly pipelineSeconds: number;
  private readonly maxRootPerThread: number;
  readonly allowedFailures: number;
  private readonly validateAfter: boolean;
  private readonly logSize: number;
  private generation = 0;
  private nextRunId = 1;
  private totalThreads = 0;
  private out: SchedulerInstruction[] = [];
  private stimulusId = "";
  private readonly workerBatches = new Map<string, SchedulerInstruction[]>();
  private readonly recs = new Recs();
  private readonly workStealing: boolean;
  /** Steals asked for and not yet answered, by the run id the victim was given. */
  private readonly steals = new Map<number, StealMove>();

  constructor(config: SchedulerConfig = {}) {
    this.saturation = config.workerSaturation ?? 1.1;
    this.pipelineSeconds = config.pipelineSeconds ?? 0.005;
    this.maxRootPerThread = config.maxRootTasksPerThread ?? 2000;
    this.allowedFailures = config.allowedFailures ?? 3;
    this.validateAfter = config.validate ?? false;
    this.logSize = config.transitionLogSize ?? 0;
    this.workStealing = config.workStealing ?? true;
  }

  /** Feed one stimulus; returns the messages to send, in order. */
  handle(event: SchedulerEvent): SchedulerInstruction[] {
    return this.handleBatch([event]);
  }

  /**
   * Feed several stimuli, each run to completion in turn; returns all the
   * messages to send, with each worker's messages together. Cheaper than one
   * call per stimulus when a worker reports many results at once.
   */
  handleBatch(events: readonly SchedulerEvent[]): SchedulerInstruction[] {
    this.out = [];
    for (const event of events) this.handleOne(event);
    this.flushWorkerBatches();
    forgetLastPut();
    if (this.validateAfter) this.validateState();
    return this.out;
  }

  /** Messages from one worker, in order: {@link handleBatch} without an event object per message. */
  handleWorkerMessages(worker: string, msgs: readonly WorkerReportMsg[]): SchedulerInstruction[] {
    this.out = [];
    const ws = this.workers.get(worker);
    for (const msg of msgs) {
      this.stimulusId = reportStimulusId(msg);
      const recs = this.recs;
      recs.reset();
      this.workerMessage(ws, msg, recs);
      this.transitions(recs);
    }
    this.flushWorkerBatches();
    forgetLastPut();
    if (this.validateAfter) this.validateState();
    return this.out;
  }

  private handleOne(event: SchedulerEvent): void {
    this.stimulusId = event.stimulusId;
    const recs = this.recs;
    recs.reset();
    switch (event.type) {
      case "add-worker":
        this.addWorker(event.address, event.nthreads, event.resources ?? {}, recs);
        break;
      case "remove-worker":
        this.removeWorker(event.address, event.expected, recs);
        break;
      case "add-client":
        if (!this.clients.has(event.client)) this.clients.set(event.client, newClient(event.client));
        break;
      case "remove-client":
        this.removeClient(event.client, recs);
        break;
      case "update-graph":
        this.updateGraph(event, recs);
        break;
      case "client-releases-keys":
        this.clientReleasesKeys(event.client, event.keys, recs);
        break;
      case "scatter":
        this.scatter(event, recs);
        break;
      case "retry":
        this.retry(event.keys, recs);
        break;
      case "no-valid-worker":
        for (const key of event.keys) {
          const ts = this.tasks.get(key);
          if (ts === undefined || ts.state !== "no-worker") continue;
          const resources = Object.entries(ts.resources ?? {}).map(([name, n]) => `${name}=${n}`);
          ts.exception = serializeError(new NoValidWorkerError(ts.key, [...(ts.restrictions ?? [])], resources, this.workers.size, event.timeoutMs));
          ts.exceptionBlame = ts;
          recs.set(ts, "erred");
        }
        break;
      case "add-replica": {
        const ts = this.tasks.get(event.key);
        const ws = this.workers.get(event.worker);
        if (ts === undefined || ws === undefined || ts.state !== "memory" || ts.whoHas.has(ws)) break;
        this.send(ws.address, { op: "put-data", key: ts.key, value: event.value, nbytes: event.nbytes, stimulusId: this.stimulusId });
        this.addReplica(ts, ws);
        break;
      }
      case "worker-message":
        this.workerMessage(this.workers.get(event.worker), event.msg, recs);
        break;
      case "balance":
        this.balance();
        break;
      case "worker-closing": {
        const ws = this.workers.get(event.address);
        if (ws === undefined || ws.closing) break;
        ws.closing = true;
        this.workerList.splice(this.workerList.indexOf(ws), 1);
        break;
      }
    }
    this.transitions(recs);
  }

  /** The recorded transitions of a key (needs `transitionLogSize`). */
  story(key: Key): TransitionRecord[] {
    return this.log.filter((r) => r.key === key);
  }

  // ---- stimuli -----------------------------------------------------------

  private addWorker(address: string, nthreads: number, resources: Readonly<Record<string, number>>, recs: Recs): void {
    if (this.workers.has(address)) return;
    const ws: SchedulerWorker = {
      address,
      nthreads,
      processing: new Set(),
      hasWhat: new Set(),
      rootProcessing: 0,
      occupancy: 0,
      nbytes: 0,
      resources,
      usedResources: {},
      closing: false,
    };
    this.workers.set(address, ws);
    this.workerList.push(ws);
    this.totalThreads += nthreads;
    for (const ts of this.unrunnable) recs.set(ts, "processing");
    this.fillQueueSlots(ws);
  }

  private removeWorker(address: string, expected: boolean, recs: Recs): void {
    const ws = this.workers.get(address);
    if (ws === undefined) return;
    this.workers.delete(address);
    if (!ws.closing) this.workerList.splice(this.workerList.indexOf(ws), 1);
    this.totalThreads -= ws.nthreads;
    // Lost results first: a task re-placed below must see that its input is gone, not run with no holder for it.
    for (const ts of [...ws.hasWhat]) {
      ws.hasWhat.delete(ts);
      drop(ts, "whoHas", ws);
      if (ts.whoHas.size === 0 && ts.state === "memory") this.lastCopyGone(ts, address, recs);
    }
    for (const ts of [...ws.processing]) {
      this.unassign(ts, ws);
      if (!expected) ts.suspicious += 1;
      if (ts.suspicious >= this.allowedFailures) {
        ts.exception = serializeError(new KilledWorkerError(ts.key, address, this.allowedFailures));
        ts.exceptionBlame = ts;
        this.setState(ts, "released");
        recs.set(ts, "erred");
      } else {
        this.setState(ts, "released");
        recs.set(ts, "waiting");
      }
    }
    // Every other worker may now have slots; also tasks bound to the dead one re-place.
    for (const other of this.workers.values()) this.fillQueueSlots(other);
  }

  private removeClient(id: string, recs: Recs): void {
    const cs = this.clients.get(id);
    if (cs === undefined) return;
    this.clientReleasesKeys(id, [...cs.wantsWhat].map((t) => t.key), recs);
    this.clients.delete(id);
  }

  private updateGraph(ev: Extract<SchedulerEvent, { type: "update-graph" }>, recs: Recs): void {
    let cs = this.clients.get(ev.client);
    if (cs === undefined) {
      cs = newClient(ev.client);
      this.clients.set(ev.client, cs);
    }
    const generation = this.generation++;
    const user = -(ev.userPriority ?? 0);
    const retries = ev.retries ?? 0;
    const restrictions = ev.workers === undefined ? undefined : new Set(ev.workers);
    const resources = ev.resources === undefined || Object.keys(ev.resources).length === 0 ? undefined : ev.resources;
    const fresh: SchedulerTask[] = [];
    // Consecutive tasks mostly share a group: reuse the last one's without hashing a name.
    let lastGroup: TaskGroup | undefined;
    let lastFn: TaskNode["fn"] | undefined;
    let i = 0;
    for (const [key, run] of ev.tasks) {
      i++;
      if (this.tasks.has(key)) continue;
      let group: TaskGroup;
      const end = groupEnd(key);
      if (lastGroup !== undefined && run.fn === lastFn && end === lastGroup.name.length && key.startsWith(lastGroup.name)) {
        group = lastGroup;
      } else {
        group = lastGroup = this.groupOf(key.slice(0, end), run.fn);
        lastFn = run.fn;
      }
      group.size++;
      const ts = newTask(key, run, group, [user, generation, i], retries, restrictions, resources);
      this.tasks.set(key, ts);
      fresh.push(ts);
    }
    for (const ts of fresh) {
      for (const d of ts.run!.deps) {
        const dts = this.tasks.get(d);
        if (dts === undefined) {
          this.dropFresh(fresh);
          // Reachable by users: a future cancelled by another client before this graph arrived.
          throw new MissingKeyError(d, ts.key);
        }
        grow(ts, "dependencies").add(dts);
        put(dts, "dependents", ts);
      }
    }
    this.cullFresh(fresh, ev.keys);
    for (const key of ev.keys) {
      const ts = this.tasks.get(key);
      if (ts === undefined) throw new InvalidTransitionError(key, "a wanted key is not in the graph");
      grow(ts, "whoWants").add(cs);
      cs.wantsWhat.add(ts);
      if (ev.deliver) grow(ts, "deliverTo").add(cs);
      else drop(ts, "deliverTo", cs);
      if (ts.state === "memory" || ts.state === "erred") this.reportTo(ts, cs);
      else if (ts.state === "released" || ts.state === "forgotten") recs.set(ts, "waiting");
    }
  }

  /** A group by name and function, made on first use; it starts from what an earlier group of the same identity measured. */
  private groupOf(name: string, fn: TaskNode["fn"] | undefined): TaskGroup {
    const id = fn === undefined ? name : this.groupId(name, fn);
    let g = this.groups.get(id);
    if (g === undefined) {
      g = { name, id, size: 0, duration: this.durations.get(id) };
      this.groups.set(id, g);
    }
    return g;
  }

  private scatter(ev: Extract<SchedulerEvent, { type: "scatter" }>, recs: Recs): void {
    let cs = this.clients.get(ev.client);
    if (cs === undefined) {
      cs = newClient(ev.client);
      this.clients.set(ev.client, cs);
    }
    const allowed = ev.workers === undefined ? [...this.workerList] : this.workerList.filter((w) => ev.workers!.includes(w.address));
    if (allowed.length === 0) throw new InvalidTransitionError(ev.keys[0] ?? "-", "scatter with no worker to hold the values");
    // Spread single copies by bytes held, counting the ones placed just now.
    const load = new Map(allowed.map((w) => [w, w.nbytes]));
    const generation = this.generation++;
    for (let i = 0; i < ev.keys.length; i++) {
      const key = ev.keys[i]!;
      let ts = this.tasks.get(key);
      if (ts === undefined) {
        const group = this.groupOf(keyGroup(key), undefined);
        group.size++;
        ts = newTask(key, undefined, group, [0, generation, i], 0, undefined, undefined);
        this.tasks.set(key, ts);
      } else if (ts.run !== undefined || (ts.state !== "memory" && ts.state !== "erred" && ts.state !== "released")) {
        // The key names a computation (or a lost value being let go): it keeps its own course.
        grow(ts, "whoWants").add(cs);
        cs.wantsWhat.add(ts);
        if (ts.state === "memory" || ts.state === "erred") this.reportTo(ts, cs);
        // Let go earlier (a dependent holds its result): wanted now, it must run again, as update-graph does.
        else if (ts.state === "released") recs.set(ts, "waiting");
        continue;
      }
      grow(ts, "whoWants").add(cs);
      cs.wantsWhat.add(ts);
      drop(ts, "deliverTo", cs);
      if (ts.state !== "memory") {
        // New, or lost before and scattered again.
        ts.exception = undefined;
        ts.exceptionBlame = undefined;
        ts.nbytes = ev.nbytes[i]!;
      }
      let targets: SchedulerWorker[];
      if (ev.broadcast) targets = allowed;
      else if (ts.whoHas.size > 0) targets = [];
      else {
        let best = allowed[0]!;
        for (const w of allowed) if (load.get(w)! < load.get(best)!) best = w;
        load.set(best, load.get(best)! + ts.nbytes);
        targets = [best];
      }
      for (const ws of targets) {
        if (ts.whoHas.has(ws)) continue;
        this.send(ws.address, { op: "put-data", key, value: ev.values[i], nbytes: ts.nbytes, stimulusId: this.stimulusId });
        this.addReplica(ts, ws);
      }
      if (ts.state !== "memory") {
        this.setState(ts, "memory");
        this.onMemory(ts, recs);
      } else this.reportTo(ts, cs);
    }
  }

  /** The last copy of a result is gone: compute it again if needed — or, for data, fail what needs it. */
  private lastCopyGone(ts: SchedulerTask, lastWorker: string, recs: Recs): void {
    if (ts.run === undefined) ts.exception = serializeError(new LostDataError(ts.key, lastWorker));
    recs.set(ts, "released");
  }

  /**
   * Keep only the new tasks the wanted keys need: anything else would never be
   * computed nor forgotten. Tasks come dependencies first, so walking them
   * backwards reaches every dependent before its dependencies; a new task's
   * dependents are all new. Clients usually send culled graphs, so the walk
   * first looks for a new task that is neither wanted nor needed by another.
   */
  private cullFresh(fresh: SchedulerTask[], keys: readonly Key[]): void {
    const wanted = new Set<SchedulerTask>();
    for (const k of keys) {
      const ts = this.tasks.get(k);
      if (ts !== undefined) wanted.add(ts);
    }
    let culled = true;
    for (const ts of fresh) {
      if (ts.dependents.size === 0 && !wanted.has(ts)) {
        culled = false;
        break;
      }
    }
    if (culled) return;
    const needed = wanted;
    const unneeded: SchedulerTask[] = [];
    for (let j = fresh.length - 1; j >= 0; j--) {
      const ts = fresh[j]!;
      if (needed.has(ts)) for (const d of ts.dependencies) needed.add(d);
      else unneeded.push(ts);
    }
    if (unneeded.length > 0) this.dropFresh(unneeded);
  }

  /** Undo the intake of new tasks (unneeded, or a graph refused part-way). */
  private dropFresh(tasks: readonly SchedulerTask[]): void {
    for (const ts of tasks) {
      this.tasks.delete(ts.key);
      for (const d of ts.dependencies) drop(d, "dependents", ts);
      ts.group.size--;
      if (ts.group.size === 0) this.dropGroup(ts.group);
    }
  }

  private clientReleasesKeys(id: string, keys: readonly Key[], recs: Recs): void {
    const cs = this.clients.get(id);
    if (cs === undefined) return;
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (ts === undefined || !ts.whoWants.has(cs)) continue;
      drop(ts, "whoWants", cs);
      drop(ts, "deliverTo", cs);
      cs.wantsWhat.delete(ts);
      if (ts.whoWants.size === 0 && ts.waiters.size === 0) {
        recs.set(ts, ts.dependents.size === 0 ? "forgotten" : "released");
      }
    }
  }

  /**
   * Dask's `stimulus_retry`: from each erred key, follow erred dependencies to
   * the tasks that failed themselves; those, and every erred task depending
   * on them, are released (which clears their errors) and computed again if
   * still wanted.
   */
  private retry(keys: readonly Key[], recs: Recs): void {
    const roots: SchedulerTask[] = [];
    const seen = new Set<SchedulerTask>();
    const stack = [...keys];
    while (stack.length > 0) {
      const ts = this.tasks.get(stack.pop()!);
      if (ts === undefined || ts.state !== "erred" || seen.has(ts)) continue;
      seen.add(ts);
      // Lost data cannot run again: releasing it would only swap its LostDataError for one naming no worker.
      if (ts.run === undefined) continue;
      let erredInput = false;
      for (const d of ts.dependencies) {
        if (d.state !== "erred") continue;
        erredInput = true;
        stack.push(d.key);
      }
      if (!erredInput) roots.push(ts);
    }
    const again = new Set(roots);
    for (const ts of again) for (const d of ts.dependents) if (d.state === "erred") again.add(d);
    // Dependencies first (roots, then their dependents in discovery order), so each waits on the one before.
    for (const ts of again) recs.set(ts, "released");
  }

  /** A message from a worker (`ws` undefined: one no longer, or never, known). */
  private workerMessage(ws: SchedulerWorker | undefined, msg: WorkerReportMsg, recs: Recs): void {
    switch (msg.op) {
      case "task-finished":
        this.taskFinished(ws, msg.key, msg.runId, msg.nbytes, msg.duration, msg.delivered, msg.value, recs);
        return;
      case "tasks-finished":
        // Each result is a stimulus of its own, as if it had come alone.
        for (let i = 0; i < msg.keys.length; i++) {
          if (i > 0) {
            this.transitions(recs);
            recs.reset();
          }
          this.stimulusId = msg.stimulusIds[i]!;
          this.taskFinished(ws, msg.keys[i]!, msg.runIds[i]!, msg.nbytes[i]!, msg.durations[i]!, false, undefined, recs);
        }
        return;
      case "task-erred": {
        const ts = this.tasks.get(msg.key);
        if (ts === undefined || ws === undefined || ts.state !== "processing" || ts.processingOn !== ws || ts.runId !== msg.runId) return;
        this.finishProcessing(ts);
        if (ts.retries > 0) {
          // Run it again, from scratch: back through released, so it is placed anew.
          ts.retries--;
          this.setState(ts, "released");
          recs.set(ts, "waiting");
          return;
        }
        ts.exception = msg.error;
        ts.exceptionBlame = ts;
        recs.set(ts, "erred");
        return;
      }
      case "steal-response": {
        const move = this.steals.get(msg.runId);
        this.steals.delete(msg.runId);
        const ts = move?.task;
        // Refused (it had started), or the run is no longer current: its result comes, or came, as usual.
        if (!msg.stolen || ts === undefined || ws === undefined || ts.state !== "processing" || ts.processingOn !== ws || ts.runId !== msg.runId) return;
        this.unassign(ts, ws);
        const thief = move!.thief;
        if (this.workers.get(thief.address) === thief && !thief.closing && this.fits(ts, thief)) this.assign(ts, thief, false);
        else {
          // The thief left or filled up meanwhile: place it afresh.
          this.setState(ts, "released");
          recs.set(ts, "waiting");
        }
        return;
      }
      case "missing-data": {
        const ts = this.tasks.get(msg.key);
        const errant = this.workers.get(msg.errantWorker);
        if (ts !== undefined && errant !== undefined && ts.whoHas.has(errant)) {
          drop(ts, "whoHas", errant);
          errant.hasWhat.delete(ts);
          errant.nbytes -= ts.nbytes;
          if (ts.whoHas.size === 0 && ts.state === "memory") this.lastCopyGone(ts, errant.address, recs);
        }
        return;
      }
    }
  }

  /** A task finished on `ws`: its result is there, or (`delivered`) travelled with the message. */
  private taskFinished(ws: SchedulerWorker | undefined, key: Key, runId: number, nbytes: number, duration: number, delivered: boolean, value: unknown, recs: Recs): void {
    let ts = this.running.get(runId);
    if (ts === undefined || ts.key !== key) ts = this.tasks.get(key);
    if (ts === undefined || ws === undefined || ts.state !== "processing" || ts.processingOn !== ws || ts.runId !== runId) {
      // A stale result (stolen, cancelled, or its worker was presumed dead): make sure nobody keeps
      // it — unless that worker holds the key legitimately or is running it again right now.
      const current = ts !== undefined && ws !== undefined && (ts.whoHas.has(ws) || ts.processingOn === ws);
      if (ws !== undefined && !delivered && !current) this.freeKey(ws.address, key);
      return;
    }
    this.recordDuration(ts, duration);
    this.finishProcessing(ts);
    ts.nbytes = nbytes;
    if (delivered) {
      // Hand the value to the clients that asked for delivery; no worker kept it.
      ts.deliver = false;
      for (const cs of [...ts.whoWants]) {
        if (!ts.deliverTo.has(cs)) continue;
        this.sendClient(cs.id, { op: "key-in-memory", key: ts.key, hasValue: true, value });
        drop(ts, "whoWants", cs);
        drop(ts, "deliverTo", cs);
        cs.wantsWhat.delete(ts);
      }
      if (ts.whoWants.size > 0 || ts.waiters.size > 0 || hasActiveDependent(ts)) {
        // Someone joined meanwhile who needs it held (a persist, a dependent): hand the value back
        // to the worker that made it rather than computing it again.
        this.send(ws.address, { op: "put-data", key: ts.key, value, nbytes, stimulusId: this.stimulusId });
        this.addReplica(ts, ws);
        this.setState(ts, "memory");
        this.onMemory(ts, recs);
      } else {
        this.setState(ts, "released");
        this.releaseDependencies(ts, recs);
        recs.set(ts, "forgotten");
      }
      return;
    }
    this.addReplica(ts, ws);
    this.setState(ts, "memory");
    this.onMemory(ts, recs);
  }

  // ---- transitions -------------------------------------------------------

  private transitions(recs: Recs): void {
    let guard = 0;
    for (;;) {
      for (let ts = recs.next(); ts !== undefined; ts = recs.next()) {
        this.transition(ts, recs.finish, recs);
        if (++guard > 50_000_000) throw new InvalidTransitionError(ts.key, "transition loop did not settle");
      }
      if (!this.resourcesFreed) return;
      // Resources came free: tasks waiting for them may now find a worker.
      this.resourcesFreed = false;
      let woke = false;
      for (const ts of this.unrunnable) {
        if (ts.resources === undefined || !this.workerList.some((w) => this.fits(ts, w))) continue;
        recs.set(ts, "processing");
        woke = true;
      }
      if (!woke) return;
    }
  }

  private transition(ts: SchedulerTask, finish: TaskStateName, recs: Recs): void {
    const start = ts.state;
    if (start === finish || start === "forgotten") return;
    // Dispatched on the target, then the origin: no `${start}->${finish}` string per transition.
    switch (finish) {
      case "waiting":
        if (start === "released") return this.releasedToWaiting(ts, recs);
        break;
      case "processing":
        if (start === "waiting" || start === "no-worker" || start === "queued") return this.toProcessing(ts);
        // A task re-placed after its worker died, with inputs still in memory.
        if (start === "released") return this.releasedToWaiting(ts, recs);
        break;
      case "forgotten":
        if (start === "released") return this.releasedToForgotten(ts, recs);
        break;
      case "erred":
        if (start !== "memory") return this.toErred(ts, recs);
        break;
      case "released":
        return this.toReleased(ts, recs);
      default:
        break;
    }
    if (start !== "released") {
      this.toReleased(ts, recs);
      if (ts.state === "released") this.transition(ts, finish, recs);
      return;
    }
    if (finish === "memory" || finish === "queued" || finish === "no-worker") return this.releasedToWaiting(ts, recs);
    throw new InvalidTransitionError(ts.key, `${start} -> ${finish}`);
  }

  private setState(ts: SchedulerTask, finish: TaskStateName): void {
    if (this.logSize > 0) {
      this.log.push({ key: ts.key, start: ts.state, finish, stimulusId: this.stimulusId });
      if (this.log.length > this.logSize) this.log.splice(0, this.log.length - this.logSize);
    }
    ts.state = finish;
  }

  private releasedToWaiting(ts: SchedulerTask, recs: Recs): void {
    if (ts.run === undefined) {
      // Released data is data lost (see toReleased): there is nothing to run.
      ts.exception ??= serializeError(new LostDataError(ts.key, "unknown"));
      ts.exceptionBlame = ts;
      recs.set(ts, "erred");
      return;
    }
    if (ts.whoWants.size === 0 && ts.waiters.size === 0 && ts.dependents.size > 0 && !hasActiveDependent(ts)) {
      // Nobody needs it any more.
      return;
    }
    this.setState(ts, "waiting");
    for (const dts of ts.dependencies) {
      if (dts.exception !== undefined && dts.state === "erred") {
        ts.exception = dts.exception;
        ts.exceptionBlame = dts.exceptionBlame;
        recs.set(ts, "erred");
        return;
      }
    }
    for (const dts of ts.dependencies) {
      put(dts, "waiters", ts);
      if (dts.state !== "memory") {
        grow(ts, "waitingOn").add(dts);
        if (dts.state === "released" || dts.state === "forgotten") recs.set(dts, "waiting");
      }
    }
    if (ts.waitingOn.size === 0) recs.set(ts, "processing");
  }

  private isRootish(ts: SchedulerTask): boolean {
    return ts.dependencies.size === 0 && ts.group.size > 2 * Math.max(1, this.totalThreads);
  }

  private rootSlots(ws: SchedulerWorker, group: TaskGroup | undefined): number {
    const base = Math.max(Math.ceil(this.saturation * ws.nthreads), 1);
    const d = group?.duration;
    if (d === undefined) return base;
    const pipelined = Math.floor((this.pipelineSeconds / Math.max(d, 1e-7)) * ws.nthreads);
    return Math.max(base, Math.min(pipelined, this.maxRootPerThread * ws.nthreads));
  }

  private toProcessing(ts: SchedulerTask): void {
    if (ts.waitingOn.size > 0) return;
    if (this.workerList.length === 0) {
      this.setState(ts, "no-worker");
      this.unrunnable.add(ts);
      return;
    }
    let ws: SchedulerWorker | undefined;
    if (ts.restrictions !== undefined || ts.resources !== undefined) {
      // Restricted tasks go where they may, when resources are free there; otherwise they wait.
      const allowed = this.workerList.filter((w) => this.fits(ts, w));
      if (allowed.length === 0) {
        this.setState(ts, "no-worker");
        this.unrunnable.add(ts);
        return;
      }
      this.unrunnable.delete(ts);
      this.assign(ts, this.decideWorker(ts, allowed), false);
      return;
    }
    const rootish = this.isRootish(ts);
    if (rootish) {
      let best: SchedulerWorker | undefined;
      let bestLoad = Infinity;
      for (const w of this.workerList) {
        if (w.rootProcessing >= this.rootSlots(w, ts.group)) continue;
        const load = w.processing.size / w.nthreads;
        if (load < bestLoad) {
          best = w;
          bestLoad = load;
        }
      }
      if (best === undefined) {
        if (ts.state !== "queued") {
          this.unrunnable.delete(ts);
          this.setState(ts, "queued");
          this.queued.push(ts);
        }
        return;
      }
      ws = best;
    } else {
      ws = this.decideWorker(ts);
    }
    this.unrunnable.delete(ts);
    this.assign(ts, ws, rootish);
  }

  /** Put a ready task on a worker's books and send it there. */
  private assign(ts: SchedulerTask, ws: SchedulerWorker, rootSlot: boolean): void {
    this.setState(ts, "processing");
    ts.processingOn = ws;
    ts.runId = this.nextRunId++;
    this.running.set(ts.runId, ts);
    ts.deliver = shouldDeliver(ts);
    ws.processing.add(ts);
    if (rootSlot) {
      ws.rootProcessing++;
      ts.rootSlot = true;
    }
    ws.occupancy += ts.group.duration ?? UNKNOWN_DURATION;
    if (ts.resources !== undefined) for (const [name, need] of Object.entries(ts.resources)) ws.usedResources[name] = (ws.usedResources[name] ?? 0) + need;
    // One literal, every field present (undefined when absent): a field added afterwards gives the
    // message a map of its own, which dies with the messages at the next full GC, and the code
    // optimized for it deoptimizes — once per computation, for the one task with inputs.
    const inputs = ts.dependencies.size > 0 ? this.inputsOf(ts) : undefined;
    this.send(ws.address, computeTaskMsg(ts.key, ts.run!, inputs, ts.priority, ts.runId, ts.deliver, this.stimulusId));
  }

  /** Where a task's inputs are, as the compute-task message carries it. */
  private inputsOf(ts: SchedulerTask): TaskInputs {
    const n = ts.dependencies.size;
    const keys = new Array<Key>(n);
    const who = new Array<number | number[]>(n);
    const nbytes = new Array<number>(n);
    const workers: string[] = [];
    const index = new Map<SchedulerWorker, number>();
    // Inputs mostly sit on one worker after another: remember the last one's index.
    let lastWorker: SchedulerWorker | undefined;
    let lastIndex = 0;
    let j = 0;
    for (const d of ts.dependencies) {
      keys[j] = d.key;
      nbytes[j] = d.nbytes;
      let holders: number | number[] | undefined;
      for (const w of d.whoHas) {
        let i: number;
        if (w === lastWorker) i = lastIndex;
        else {
          i = index.get(w) ?? -1;
          if (i < 0) {
            i = workers.length;
            workers.push(w.address);
            index.set(w, i);
          }
          lastWorker = w;
          lastIndex = i;
        }
        holders = holders === undefined ? i : typeof holders === "number" ? [holders, i] : (holders.push(i), holders);
      }
      who[j++] = holders ?? [];
    }
    return { keys, workers, who, nbytes };
  }


  /** May `ts` run on `w` now: an allowed worker, with its resources free? */
  private fits(ts: SchedulerTask, w: SchedulerWorker): boolean {
    if (ts.restrictions !== undefined && !ts.restrictions.has(w.address)) return false;
    if (ts.resources !== undefined) {
      for (const [name, need] of Object.entries(ts.resources)) {
        if ((w.resources[name] ?? 0) - (w.usedResources[name] ?? 0) < need) return false;
      }
    }
    return true;
  }

  private decideWorker(ts: SchedulerTask, allowed?: readonly SchedulerWorker[]): SchedulerWorker {
    let candidates: Iterable<SchedulerWorker>;
    if (allowed !== undefined) {
      const holders = allowed.filter((w) => [...ts.dependencies].some((d) => d.whoHas.has(w)));
      candidates = holders.length > 0 ? holders : allowed;
    } else if (ts.dependencies.size > 0) {
      const holders = new Set<SchedulerWorker>();
      for (const d of ts.dependencies) for (const w of d.whoHas) if (!w.closing) holders.add(w);
      candidates = holders.size > 0 ? holders : this.workerList;
    } else {
      candidates = this.workerList;
    }
    let best: SchedulerWorker | undefined;
    let bestCost = Infinity;
    let bestBytes = Infinity;
    for (const w of candidates) {
      let missing = 0;
      for (const d of ts.dependencies) if (!d.whoHas.has(w)) missing += d.nbytes;
      // 1 GB/s: in-process copies and loopback are far faster than Dask's 100 MB/s default.
      const cost = w.occupancy / w.nthreads + missing / 1e9;
      if (cost < bestCost || (cost === bestCost && w.nbytes < bestBytes)) {
        best = w;
        bestCost = cost;
        bestBytes = w.nbytes;
      }
    }
    return best!;
  }

  private fillQueueSlots(ws: SchedulerWorker): void {
    if (ws.closing) return;
    for (;;) {
      const top = this.queued.peek();
      if (top === undefined || ws.rootProcessing >= this.rootSlots(ws, top.group)) return;
      this.queued.pop();
      this.assign(top, ws, true);
    }
  }

  private finishProcessing(ts: SchedulerTask): void {
    const ws = ts.processingOn;
    if (ws === undefined) return;
    this.unassign(ts, ws);
    this.fillQueueSlots(ws);
  }

  /** Take a processing task off its worker's books. */
  private unassign(ts: SchedulerTask, ws: SchedulerWorker): void {
    ws.processing.delete(ts);
    if (ts.resources !== undefined) {
      for (const [name, need] of Object.entries(ts.resources)) ws.usedResources[name] = (ws.usedResources[name] ?? 0) - need;
      this.resourcesFreed = true;
    }
    if (ts.rootSlot) {
      ws.rootProcessing--;
      ts.rootSlot = false;
    }
    ws.occupancy = ws.processing.size === 0 ? 0 : Math.max(0, ws.occupancy - (ts.group.duration ?? UNKNOWN_DURATION));
    ts.processingOn = undefined;
    this.running.delete(ts.runId);
    if (this.steals.size > 0) this.steals.delete(ts.runId);
  }

  /**
   * A group's identity: its name, plus — for functions shipped as source, which
   * share names such as "lambda" — which source. Cached per function object,
   * so a graph of one function pays for it once.
   */
  private groupId(name: string, fn: TaskNode["fn"]): string {
    if (fn.kind !== "source" && fn.kind !== "local") return name;
    const cached = this.groupIds.get(fn);
    if (cached !== undefined && cached.name === name) return cached.id;
    const text = fn.kind === "source" ? fn.source : String(fn.fn);
    let n = this.sourceIds.get(text);
    if (n === undefined) {
      if (this.sourceIds.size >= 10_000) this.sourceIds.clear();
      n = this.sourceIds.size;
      this.sourceIds.set(text, n);
    }
    const id = `${name}#${n}`;
    this.groupIds.set(fn, { name, id });
    return id;
  }

  private recordDuration(ts: SchedulerTask, seconds: number): void {
    const g = ts.group;
    g.duration = g.duration === undefined ? seconds : 0.5 * g.duration + 0.5 * seconds;
  }

  /** A group's last task is gone: remember what it measured (see {@link durations}) and drop it. */
  private dropGroup(g: TaskGroup): void {
    this.groups.delete(g.id);
    if (g.duration === undefined) return;
    // Bounded: keys with generated names must not grow it forever.
    if (!this.durations.has(g.id) && this.durations.size >= 10_000) this.durations.delete(this.durations.keys().next().value!);
    this.durations.set(g.id, g.duration);
  }

  /** A balance round: ask victims to give up the tasks the plan would move. */
  private balance(): void {
    if (!this.workStealing || this.workerList.length < 2) return;
    const moves = planSteals({
      workers: this.workerList,
      inFlight: this.steals.values(),
      fits: (ts, ws) => this.fits(ts, ws),
      duration: (ts) => ts.group.duration ?? UNKNOWN_DURATION,
    });
    for (const m of moves) {
      this.steals.set(m.task.runId, m);
      this.send(m.victim.address, { op: "steal-request", key: m.task.key, runId: m.task.runId, stimulusId: this.stimulusId });
    }
  }

  /** Keys in memory that only `address` holds: what its retirement would lose. */
  uniqueKeysOf(address: string): Key[] {
    const ws = this.workers.get(address);
    if (ws === undefined) return [];
    const out: Key[] = [];
    for (const ts of ws.hasWhat) if (ts.whoHas.size === 1) out.push(ts.key);
    return out;
  }

  private addReplica(ts: SchedulerTask, ws: SchedulerWorker): void {
    if (ts.whoHas.has(ws)) return;
    put(ts, "whoHas", ws);
    ws.hasWhat.add(ts);
    ws.nbytes += ts.nbytes;
  }

  private onMemory(ts: SchedulerTask, recs: Recs): void {
    for (const dep of ts.dependents) {
      if (drop(dep, "waitingOn", ts) && dep.waitingOn.size === 0 && dep.state === "waiting") recs.set(dep, "processing");
    }
    this.releaseDependencies(ts, recs);
    if (ts.whoWants.size > 0) this.report(ts);
    else if (ts.waiters.size === 0 && !hasActiveDependent(ts)) {
      recs.set(ts, ts.dependents.size === 0 ? "forgotten" : "released");
    }
  }

  /** A task no longer needs its dependencies: let go of those nothing else needs. */
  private releaseDependencies(ts: SchedulerTask, recs: Recs): void {
    for (const dts of ts.dependencies) {
      drop(dts, "waiters", ts);
      if (dts.waiters.size === 0 && dts.whoWants.size === 0 && dts.state !== "released") recs.set(dts, "released");
    }
  }

  private report(ts: SchedulerTask): void {
    for (const cs of ts.whoWants) this.reportTo(ts, cs);
  }

  private reportTo(ts: SchedulerTask, cs: SchedulerClient): void {
    if (ts.state === "memory") this.sendClient(cs.id, { op: "key-in-memory", key: ts.key, hasValue: false });
    else if (ts.state === "erred") {
      this.sendClient(cs.id, { op: "task-erred", key: ts.key, blame: ts.exceptionBlame?.key ?? ts.key, error: ts.exception! });
    }
  }

  private toErred(ts: SchedulerTask, recs: Recs): void {
    if (ts.processingOn !== undefined) {
      const ws = ts.processingOn;
      this.unassign(ts, ws);
      this.freeKey(ws.address, ts.key);
      this.fillQueueSlots(ws);
    }
    this.unrunnable.delete(ts);
    for (const dts of ts.dependencies) drop(dts, "waiters", ts);
    empty(ts, "waitingOn");
    this.setState(ts, "erred");
    for (const dep of ts.dependents) {
      if (dep.state === "erred" || dep.state === "released" || dep.state === "forgotten") continue;
      dep.exception = ts.exception;
      dep.exceptionBlame = ts.exceptionBlame;
      recs.set(dep, "erred");
    }
    for (const dts of ts.dependencies) {
      if (dts.waiters.size === 0 && dts.whoWants.size === 0 && dts.state === "memory") recs.set(dts, "released");
    }
    this.report(ts);
  }

  private toReleased(ts: SchedulerTask, recs: Recs): void {
    const start = ts.state;
    if (start === "processing" && ts.processingOn !== undefined) {
      const ws = ts.processingOn;
      this.unassign(ts, ws);
      this.freeKey(ws.address, ts.key);
      this.fillQueueSlots(ws);
    }
    if (start === "memory") {
      for (const ws of ts.whoHas) {
        ws.hasWhat.delete(ts);
        ws.nbytes -= ts.nbytes;
        this.freeKey(ws.address, ts.key);
      }
      empty(ts, "whoHas");
    }
    this.unrunnable.delete(ts);
    for (const dts of ts.dependencies) {
      drop(dts, "waiters", ts);
      if (dts.waiters.size === 0 && dts.whoWants.size === 0 && dts.state === "memory" && ts.whoWants.size === 0) recs.set(dts, "released");
    }
    empty(ts, "waitingOn");
    if (start === "erred") {
      ts.exception = undefined;
      ts.exceptionBlame = undefined;
    }
    this.setState(ts, "released");
    // Lost while still needed: compute it again.
    const needed = ts.whoWants.size > 0 || hasActiveDependent(ts);
    if (needed && ts.run === undefined) {
      // Data cannot be computed again: it fails, and so does everything waiting for it.
      ts.exception ??= serializeError(new LostDataError(ts.key, "unknown"));
      ts.exceptionBlame = ts;
      recs.set(ts, "erred");
    } else if (needed) {
      for (const dep of ts.dependents) {
        if (dep.state === "waiting") {
          grow(dep, "waitingOn").add(ts);
          put(ts, "waiters", dep);
        } else if (dep.state === "processing") {
          // Its worker may be fetching the lost copy: restart it once this is back.
          recs.set(dep, "waiting");
        }
      }
      if (!recs.has(ts)) recs.set(ts, "waiting");
    } else if (ts.dependents.size === 0 && !recs.has(ts)) {
      recs.set(ts, "forgotten");
    }
  }

  private releasedToForgotten(ts: SchedulerTask, recs: Recs): void {
    if (ts.whoWants.size > 0) return;
    for (const dep of ts.dependents) if (dep.state !== "forgotten") return;
    this.setState(ts, "forgotten");
    this.tasks.delete(ts.key);
    ts.group.size--;
    if (ts.group.size === 0) this.dropGroup(ts.group);
    for (const dts of ts.dependencies) {
      drop(dts, "dependents", ts);
      drop(dts, "waiters", ts);
      if (dts.dependents.size === 0 && dts.whoWants.size === 0) recs.set(dts, "forgotten");
    }
  }

  // ---- output ------------------------------------------------------------

  /** The messages for one worker in the stimulus batch under way. */
  private batchFor(worker: string): SchedulerInstruction[] {
    // Batched per worker so a stimulus batch yields one message list per worker.
    let batch = this.workerBatches.get(worker);
    if (batch === undefined) {
      batch = [];
      this.workerBatches.set(worker, batch);
    }
    return batch;
  }

  private send(worker: string, msg: ToWorkerMsg): void {
    this.batchFor(worker).push(workerInstruction(worker, msg));
  }

  /** Tell a worker to forget a key. Releasing a wide graph frees thousands: one message, not thousands. */
  private freeKey(worker: string, key: Key): void {
    const batch = this.batchFor(worker);
    const last = batch[batch.length - 1];
    if (last !== undefined && last.to === "worker" && last.msg.op === "free-keys") (last.msg.keys as Key[]).push(key);
    else batch.push(workerInstruction(worker, freeKeysMsg([key], this.stimulusId)));
  }

  private flushWorkerBatches(): void {
    for (const batch of this.workerBatches.values()) for (const i of batch) this.out.push(i);
    this.workerBatches.clear();
  }

  private sendClient(client: string, msg: ToClientMsg): void {
    this.out.push(clientInstruction(client, msg));
  }

  // ---- invariants --------------------------------------------------------

  /** Check every invariant; throws InvalidTransitionError naming the first broken one. */
  validateState(): void {
    const fail = (ts: SchedulerTask, why: string): never => {
      throw new InvalidTransitionError(ts.key, `invariant broken in state ${ts.state}: ${why}`);
    };
    let threads = 0;
    for (const ws of this.workers.values()) {
      threads += ws.nthreads;
      for (const ts of ws.processing) if (ts.processingOn !== ws || ts.state !== "processing") fail(ts, `listed as processing on ${ws.address}`);
      for (const ts of ws.hasWhat) if (!ts.whoHas.has(ws)) fail(ts, `listed in hasWhat of ${ws.address}`);
    }
    if (threads !== this.totalThreads) throw new InvalidTransitionError("-", "thread count out of sync");
    const open = [...this.workers.values()].filter((w) => !w.closing);
    if (open.length !== this.workerList.length || open.some((w) => !this.workerList.includes(w))) {
      throw new InvalidTransitionError("-", "the workers taking new work are not exactly those not closing");
    }
    let processing = 0;
    for (const ws of this.workers.values()) {
      processing += ws.processing.size;
      // Resources held here are exactly those of the tasks processing here, and never more than offered.
      const held: Record<string, number> = {};
      for (const ts of ws.processing) for (const [name, need] of Object.entries(ts.resources ?? {})) held[name] = (held[name] ?? 0) + need;
      for (const name of new Set([...Object.keys(held), ...Object.keys(ws.usedResources)])) {
        if ((held[name] ?? 0) !== (ws.usedResources[name] ?? 0)) throw new InvalidTransitionError("-", `worker ${ws.address} books ${ws.usedResources[name] ?? 0} of ${name}, its tasks hold ${held[name] ?? 0}`);
        if ((held[name] ?? 0) > (ws.resources[name] ?? 0)) throw new InvalidTransitionError("-", `worker ${ws.address} runs tasks holding more ${name} than it has`);
      }
    }
    if (this.running.size !== processing) throw new InvalidTransitionError("-", `${this.running.size} runs listed, ${processing} tasks processing`);
    for (const [runId, m] of this.steals) {
      if (this.running.get(runId) !== m.task || m.task.processingOn !== m.victim) fail(m.task, `a steal of run ${runId} is pending, but the run is not processing on ${m.victim.address}`);
    }
    for (const ts of this.tasks.values()) {
      switch (ts.state) {
        case "memory":
          if (ts.whoHas.size === 0) fail(ts, "in memory but no worker holds it");
          if (ts.processingOn !== undefined) fail(ts, "in memory but still processing");
          break;
        case "processing":
          if (ts.processingOn === undefined || !ts.processingOn.processing.has(ts)) fail(ts, "processing nowhere");
          if (this.running.get(ts.runId) !== ts) fail(ts, `run ${ts.runId} not listed as running`);
          if (!this.workers.has(ts.processingOn!.address)) fail(ts, "processing on a removed worker");
          for (const d of ts.dependencies) if (d.state !== "memory") fail(ts, `processing before dependency ${d.key} is in memory (${d.state})`);
          if (ts.restrictions !== undefined && !ts.restrictions.has(ts.processingOn!.address)) fail(ts, `processing on ${ts.processingOn!.address}, outside its allowed workers`);
          break;
        case "waiting":
          if (ts.waitingOn.size === 0 && ts.processingOn === undefined) {
            // allowed only transiently; after a stimulus every ready task is placed
            fail(ts, "waiting on nothing");
          }
          for (const d of ts.waitingOn) if (d.state === "memory") fail(ts, `waiting on ${d.key}, which is in memory`);
          break;
        case "queued":
          if (ts.dependencies.size > 0) fail(ts, "queued with dependencies");
          break;
        case "erred":
          if (ts.exception === undefined) fail(ts, "erred without an exception");
          break;
        case "released":
        case "no-worker":
          if (ts.whoHas.size > 0) fail(ts, "held by a worker");
          break;
        case "forgotten":
          fail(ts, "forgotten but still in the task table");
      }
      if (ts.state !== "memory" && ts.whoHas.size > 0) fail(ts, "held by workers while not in memory");
      // Scattered data has nothing to run: it is in memory, lost (erred), or on its way out.
      if (ts.run === undefined && ts.state !== "memory" && ts.state !== "erred" && ts.state !== "released") fail(ts, "data (no run) in a state that runs it");
      if (this.unrunnable.has(ts) !== (ts.state === "no-worker")) fail(ts, this.unrunnable.has(ts) ? "listed as unrunnable" : "in no-worker but not listed as unrunnable");
      for (const d of ts.dependencies) if (!d.dependents.has(ts)) fail(ts, `not a dependent of ${d.key}`);
      for (const c of ts.whoWants) if (!c.wantsWhat.has(ts)) fail(ts, `wanted by ${c.id} one way only`);
      for (const c of ts.deliverTo) if (!ts.whoWants.has(c)) fail(ts, `to be delivered to ${c.id}, who does not want it`);
    }
  }
}
