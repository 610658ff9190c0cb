/**
 * The worker state machine. Pure and synchronous like the scheduler's:
 * {@link WorkerState.handle} takes a stimulus (the scheduler asked for a task,
 * a task finished, a fetch from a peer came back) and returns instructions
 * (execute this, fetch these keys from that peer, tell the scheduler that).
 * The shell around it owns the data, the threads and the sockets.
 *
 * Task states on a worker: `waiting` (a compute task whose inputs are not all
 * here), `fetch` (an input to get from a peer), `flight` (being fetched),
 * `ready` (runnable, in the priority queue), `executing`, `memory`, and
 * `cancelled` (the scheduler let go while it was executing or in flight:
 * neither can be interrupted, so the task remembers which in `previous` and
 * the outcome is discarded when it arrives — unless the task is wanted again
 * first, in which case it resumes). A failed task is reported and forgotten:
 * the scheduler keeps the error.
 *
 * Stealing: asked to give up a run, the worker does so only while it is
 * `waiting` or `ready`, and answers either way.
 *
 * Fetch policy: inputs are bundled per peer, one transfer per peer at a time;
 * a peer that fails is dropped from every key's sources, and a key with no
 * sources left is reported to the scheduler as missing.
 *
 * @module
 */
import type { SerializedError } from "../core/errors.js";
import { InvalidTransitionError } from "../core/errors.js";
import { NO_DEPS, type Key, type TaskNode } from "../core/graph.js";
import { EMPTY_SET, SmallSet, drop, empty, forgetLastPut, grow, put } from "../scheduler/lazy-set.js";
import { PriorityQueue } from "../scheduler/priority-queue.js";
import { comparePriority, type ComputeTaskMsg, type FromWorkerMsg, type Priority, type TaskInputs } from "../scheduler/messages.js";

/**
 * Where a task is on this worker.
 *
 * @example
 * ```ts
 * const busy = (s: WorkerTaskStateName) => s === "executing" || s === "flight";
 * ```
 */
export type WorkerTaskStateName = "waiting" | "fetch" | "flight" | "ready" | "executing" | "memory" | "cancelled" | "forgotten";

/** The worker's record of one key: a task to run, or an input to fetch. */
export interface WorkerTask {
  readonly key: Key;
  state: WorkerTaskStateName;
  /** Present for tasks the scheduler asked this worker to compute: what to run (its inputs are in `inputs`, not `deps`). */
  run: TaskNode | undefined;
  priority: Priority;
  runId: number;
  deliver: boolean;
  dependencies: Set<WorkerTask>;
  dependents: Set<WorkerTask>;
  /** Inputs not yet here. */
  waitingFor: Set<WorkerTask>;
  /** Peers said to hold it (for inputs). */
  whoHas: Set<string>;
  nbytes: number;
  /** The scheduler wants this key kept (computed here, or fetched and not yet freed). */
  wanted: boolean;
  /** For `cancelled`: what could not be interrupted — a run or a transfer. */
  previous: "executing" | "flight" | undefined;
  /** The run id of the execution under way in the shell (runId may be newer after a resume). */
  execRunId: number;
  /** Inputs of a compute task, kept so a task first seen as a transfer can still be computed here. */
  inputs: TaskInputs | undefined;
}

/**
 * A stimulus for the worker.
 *
 * @example
 * ```ts
 * const ev: WorkerEvent = { type: "gather-dep-failure", peer: "w2", keys: ["x"], stimulusId: "g1" };
 * ```
 */
export type WorkerEvent =
  | { readonly type: "compute-task"; readonly msg: ComputeTaskMsg; readonly stimulusId: string }
  | { readonly type: "free-keys"; readonly keys: readonly Key[]; readonly stimulusId: string }
  /** The scheduler would move this run elsewhere (work stealing): give it up unless it has started. */
  | { readonly type: "steal-request"; readonly key: Key; readonly runId: number; readonly stimulusId: string }
  /** The shell stored a value the scheduler sent (`put-data`). */
  | { readonly type: "put-data"; readonly key: Key; readonly nbytes: number; readonly stimulusId: string }
  | { readonly type: "execute-success"; readonly key: Key; readonly runId: number; readonly nbytes: number; readonly duration: number; readonly value?: unknown; readonly stimulusId: string }
  | { readonly type: "execute-failure"; readonly key: Key; readonly runId: number; readonly error: SerializedError; readonly stimulusId: string }
  | {
      readonly type: "gather-dep-success";
      readonly peer: string;
      readonly received: ReadonlyMap<Key, number>;
      readonly requested: readonly Key[];
      /** Keys the peer holds but could not send (the value cannot be cloned), with the reason. */
      readonly unsendable?: ReadonlyMap<Key, SerializedError>;
      readonly stimulusId: string;
    }
  | { readonly type: "gather-dep-failure"; readonly peer: string; readonly keys: readonly Key[]; readonly stimulusId: string };

/**
 * What the shell must do.
 *
 * @example
 * ```ts
 * for (const ins of worker.handle(ev)) if (ins.type === "execute") run(ins.key, ins.runId);
 * ```
 */
export type WorkerInstruction =
  | { readonly type: "execute"; readonly key: Key; readonly runId: number }
  | { readonly type: "gather-dep"; readonly peer: string; readonly keys: readonly Key[]; readonly stimulusId: string }
  | { readonly type: "release-data"; readonly keys: readonly Key[] }
  | { readonly type: "send"; readonly msg: FromWorkerMsg };


/**
 * The worker state machine (see the module comment).
 *
 * @example
 * ```ts
 * const w = new WorkerState("inproc://w0", 1, true);
 * const todo = w.handle({ type: "free-keys", keys: ["x"], stimulusId: "s1" });
 * ```
 */
export class WorkerState {
  readonly tasks = new Map<Key, WorkerTask>();
  readonly ready = new PriorityQueue<WorkerTask>((a, b) => comparePriority(a.priority, b.priority), (t) => t.state === "ready");
  /** Tasks running now (or cancelled while running): never more than `nthreads`. */
  readonly executing = new SmallSet<WorkerTask>();
  /** Peers with a transfer under way, and the keys it carries. */
  readonly inFlight = new Map<string, Set<WorkerTask>>();
  private readonly fetchQueue = new Set<WorkerTask>();
  private out: WorkerInstruction[] = [];
  /** Keys whose data the shell may drop, gathered during one stimulus (allocated when there are any). */
  private released: Key[] | undefined;

  constructor(
    readonly address: string,
    readonly nthreads: number,
    private readonly validateAfter = false,
  ) {}

  /** Feed one stimulus; returns the instructions for the shell, in order. */
  handle(ev: WorkerEvent): WorkerInstruction[] {
    this.out = [];
    this.released = undefined;
    switch (ev.type) {
      case "compute-task":
        this.computeTask(ev.msg);
        break;
      case "free-keys":
        for (const k of ev.keys) this.freeKey(k);
        break;
      case "steal-request": {
        // Only a run that has not started moves: one under way cannot be interrupted, and
        // a finished one has reported already (its message precedes this answer).
        const ts = this.tasks.get(ev.key);
        const stolen = ts !== undefined && ts.wanted && ts.runId === ev.runId && (ts.state === "ready" || ts.state === "waiting");
        if (stolen) this.freeKey(ev.key);
        this.out.push({ type: "send", msg: { op: "steal-response", key: ev.key, runId: ev.runId, stolen, stimulusId: ev.stimulusId } });
        break;
      }
      case "put-data":
        this.putData(ev.key, ev.nbytes);
        break;
      case "execute-success": {
        const ts = this.executeDone(ev.key, ev.runId);
        if (ts !== undefined) this.executeSuccess(ts, ev);
        break;
      }
      case "execute-failure": {
        const ts = this.executeDone(ev.key, ev.runId);
        if (ts === undefined) break;
        if (ts.wanted) {
          // The error is the scheduler's to keep and report; nothing here needs the task any more.
          this.out.push({ type: "send", msg: { op: "task-erred", key: ts.key, runId: ts.runId, error: ev.error, stimulusId: ev.stimulusId } });
          ts.wanted = false;
          this.forget(ts);
        } else this.refetch(ts, ev.stimulusId);
        break;
      }
      case "gather-dep-success":
        if (ev.unsendable !== undefined) for (const [key, error] of ev.unsendable) this.failDependents(key, error, ev.stimulusId);
        this.gatherDone(ev.peer, ev.requested, ev.received, ev.stimulusId);
        break;
      case "gather-dep-failure":
        this.gatherDone(ev.peer, ev.keys, new Map(), ev.stimulusId);
        break;
    }
    this.schedule();
    if (this.released !== undefined) this.out.push({ type: "release-data", keys: this.released });
    forgetLastPut();
    if (this.validateAfter) this.validateState();
    return this.out;
  }

  private ensure(key: Key): WorkerTask {
    let ts = this.tasks.get(key);
    if (ts === undefined) {
      ts = {
        key,
        state: "fetch",
        run: undefined,
        priority: [0, 0, 0],
        runId: 0,
        deliver: false,
        dependencies: EMPTY_SET,
        dependents: EMPTY_SET,
        waitingFor: EMPTY_SET,
        whoHas: EMPTY_SET,
        nbytes: 0,
        wanted: false,
        previous: undefined,
        execRunId: 0,
        inputs: undefined,
      };
      this.tasks.set(key, ts);
    }
    return ts;
  }

  private computeTask(msg: ComputeTaskMsg): void {
    const ts = this.ensure(msg.key);
    const before = ts.state;
    ts.wanted = true;
    ts.run = msg.transfer === true ? { kind: "task", fn: msg.fn, args: msg.args, deps: NO_DEPS, transfer: true } : { kind: "task", fn: msg.fn, args: msg.args, deps: NO_DEPS };
    ts.priority = msg.priority;
    ts.runId = msg.runId;
    ts.deliver = msg.deliver;
    ts.inputs = msg.inputs;
    switch (before) {
      case "memory":
        // Already here (fetched earlier as an input): report it instead of recomputing.
        this.out.push({ type: "send", msg: { op: "task-finished", key: ts.key, runId: ts.runId, nbytes: ts.nbytes, duration: 0, delivered: false, stimulusId: msg.stimulusId } });
        return;
      case "cancelled":
        // Wanted again while a run or a transfer it could not stop is still under way: resume it.
        ts.state = ts.previous!;
        ts.previous = undefined;
        return;
      case "executing":
      case "flight":
      case "ready":
      case "waiting":
        // Under way already; its outcome is reported under the newest run id.
        return;
      default:
        this.setupCompute(ts);
    }
  }

  private putData(key: Key, nbytes: number): void {
    const ts = this.ensure(key);
    ts.wanted = true;
    ts.nbytes = nbytes;
    switch (ts.state) {
      case "memory":
        return;
      case "executing":
      case "flight":
      case "cancelled":
        // Whatever is under way is superseded: its outcome will be discarded as stale.
        if (ts.state === "flight" || ts.previous === "flight") for (const set of this.inFlight.values()) set.delete(ts);
        this.executing.delete(ts);
        break;
      default:
        break;
    }
    this.fetchQueue.delete(ts);
    ts.previous = undefined;
    ts.execRunId = -1;
    this.toMemory(ts);
  }

  /** Make `ts` a compute task: wait for (and fetch) its inputs, or queue it to run. */
  private setupCompute(ts: WorkerTask): void {
    this.fetchQueue.delete(ts);
    const inputs = ts.inputs;
    const n = inputs?.keys.length ?? 0;
    for (let i = 0; i < n; i++) {
      const depKey = inputs!.keys[i]!;
      const dep = this.ensure(depKey);
      grow(ts, "dependencies").add(dep);
      put(dep, "dependents", ts);
      const who = inputs!.who[i]!;
      if (typeof who === "number") {
        const h = inputs!.workers[who]!;
        if (h !== this.address) put(dep, "whoHas", h);
      } else {
        for (const w of who) {
          const h = inputs!.workers[w]!;
          if (h !== this.address) put(dep, "whoHas", h);
        }
      }
      if (dep.state === "memory") continue;
      grow(ts, "waitingFor").add(dep);
      switch (dep.state) {
        case "fetch":
        case "forgotten":
          dep.state = "fetch";
          dep.nbytes = inputs!.nbytes[i] ?? 0;
          this.fetchQueue.add(dep);
          break;
        case "cancelled":
          // Its run or transfer is still going: let it finish, as an input now.
          dep.state = dep.previous!;
          dep.previous = undefined;
          break;
        default:
          // flight, executing, ready, waiting: it will arrive.
          break;
      }
    }
    if (ts.waitingFor.size === 0) {
      ts.state = "ready";
      this.ready.push(ts);
    } else {
      ts.state = "waiting";
    }
  }

  /** An input whose local run failed or whose transfer came back empty: get it from a holder, or report it missing. */
  private refetch(ts: WorkerTask, stimulusId: string): void {
    if (ts.dependents.size === 0 && !ts.wanted) {
      this.forget(ts);
      return;
    }
    ts.state = "fetch";
    if (ts.whoHas.size > 0) this.fetchQueue.add(ts);
    else this.out.push({ type: "send", msg: { op: "missing-data", key: ts.key, errantWorker: this.address, stimulusId } });
  }

  /** A run ended: the task, when the outcome is current and must be handled, else undefined. */
  private executeDone(key: Key, runId: number): WorkerTask | undefined {
    const ts = this.tasks.get(key);
    if (ts === undefined || ts.execRunId !== runId) return undefined;
    if (ts.state === "cancelled" && ts.previous === "executing") {
      this.executing.delete(ts);
      this.forget(ts);
      return undefined;
    }
    if (ts.state !== "executing") return undefined;
    this.executing.delete(ts);
    // Inputs are no longer needed by this task.
    for (const dep of ts.dependencies) {
      drop(dep, "dependents", ts);
      this.maybeForget(dep);
    }
    empty(ts, "dependencies");
    return ts;
  }

  private executeSuccess(ts: WorkerTask, ev: Extract<WorkerEvent, { type: "execute-success" }>): void {
    ts.nbytes = ev.nbytes;
    if (ts.wanted && ts.deliver) {
      this.out.push({ type: "send", msg: { op: "task-finished", key: ts.key, runId: ts.runId, nbytes: ev.nbytes, duration: ev.duration, value: ev.value, delivered: true, stimulusId: ev.stimulusId } });
      ts.wanted = false;
      this.forget(ts);
      return;
    }
    this.toMemory(ts);
    if (ts.wanted) {
      this.out.push({ type: "send", msg: { op: "task-finished", key: ts.key, runId: ts.runId, nbytes: ev.nbytes, duration: ev.duration, delivered: false, stimulusId: ev.stimulusId } });
    } else this.maybeForget(ts);
  }

  private toMemory(ts: WorkerTask): void {
    ts.state = "memory";
    for (const dep of ts.dependents) {
      if (drop(dep, "waitingFor", ts) && dep.waitingFor.size === 0 && dep.state === "waiting") {
        dep.state = "ready";
        this.ready.push(dep);
      }
    }
  }

  /**
   * An input exists but can never reach this worker: fail the tasks here that
   * need it (retrying would only fetch it again) and forget the input.
   */
  private failDependents(key: Key, error: SerializedError, stimulusId: string): void {
    const dep = this.tasks.get(key);
    if (dep === undefined) return;
    for (const ts of [...dep.dependents]) {
      if (!ts.wanted || (ts.state !== "waiting" && ts.state !== "ready")) continue;
      this.out.push({ type: "send", msg: { op: "task-erred", key: ts.key, runId: ts.runId, error: { ...error, taskKey: key }, stimulusId } });
      ts.wanted = false;
      this.freeKey(ts.key);
    }
    if (dep.state === "flight") {
      for (const set of this.inFlight.values()) set.delete(dep);
      dep.state = "fetch";
    }
    this.maybeForget(dep);
  }

  private gatherDone(peer: string, requested: readonly Key[], received: ReadonlyMap<Key, number>, stimulusId: string): void {
    this.inFlight.delete(peer);
    for (const key of requested) {
      const ts = this.tasks.get(key);
      const nbytes = received.get(key);
      if (ts === undefined || (ts.state === "cancelled" && ts.previous === "flight")) {
        if (nbytes !== undefined) (this.released ??= []).push(key);
        if (ts !== undefined) this.forget(ts);
        continue;
      }
      if (ts.state !== "flight") {
        if (nbytes !== undefined && ts.state !== "memory") (this.released ??= []).push(key);
        continue;
      }
      if (nbytes !== undefined) {
        ts.nbytes = nbytes;
        this.toMemory(ts);
        if (ts.wanted && ts.run !== undefined) {
          // The scheduler asked us to compute what we were fetching: we have it.
          this.out.push({ type: "send", msg: { op: "task-finished", key, runId: ts.runId, nbytes, duration: 0, delivered: false, stimulusId } });
        }
        continue;
      }
      drop(ts, "whoHas", peer);
      if (ts.wanted && ts.run !== undefined) {
        // Asked to compute it meanwhile: do so.
        this.setupCompute(ts);
        continue;
      }
      this.out.push({ type: "send", msg: { op: "missing-data", key, errantWorker: peer, stimulusId } });
      ts.state = "fetch";
      if (ts.whoHas.size > 0) this.fetchQueue.add(ts);
    }
  }

  private freeKey(key: Key): void {
    const ts = this.tasks.get(key);
    if (ts === undefined) return;
    ts.wanted = false;
    switch (ts.state) {
      case "ready":
      case "waiting":
        for (const dep of ts.dependencies) {
          drop(dep, "dependents", ts);
          this.maybeForget(dep);
        }
        empty(ts, "dependencies");
        empty(ts, "waitingFor");
        ts.run = undefined;
        this.maybeForget(ts);
        return;
      default:
        this.maybeForget(ts);
    }
  }

  /** Drop a key nobody here or at the scheduler needs. */
  private maybeForget(ts: WorkerTask): void {
    if (ts.wanted || ts.dependents.size > 0) return;
    if (ts.state === "executing" || ts.state === "flight") {
      // Neither can be interrupted: remember which, and discard the outcome when it comes.
      ts.previous = ts.state;
      ts.state = "cancelled";
      return;
    }
    if (ts.state === "cancelled") return;
    this.forget(ts);
  }

  private forget(ts: WorkerTask): void {
    if (this.tasks.get(ts.key) !== ts) return;
    if (ts.state === "memory") (this.released ??= []).push(ts.key);
    this.tasks.delete(ts.key);
    this.fetchQueue.delete(ts);
    ts.state = "forgotten";
    for (const dep of ts.dependencies) {
      drop(dep, "dependents", ts);
      this.maybeForget(dep);
    }
  }

  /** Start what can start: ready tasks up to the thread count, one fetch per idle peer. */
  private schedule(): void {
    while (this.executing.size < this.nthreads) {
      const ts = this.ready.pop();
      if (ts === undefined) break;
      ts.state = "executing";
      ts.execRunId = ts.runId;
      this.executing.add(ts);
      this.out.push({ type: "execute", key: ts.key, runId: ts.runId });
    }
    if (this.fetchQueue.size === 0) return;
    const byPeer = new Map<string, WorkerTask[]>();
    for (const ts of this.fetchQueue) {
      if (ts.state !== "fetch") {
        this.fetchQueue.delete(ts);
        continue;
      }
      let peer: string | undefined;
      for (const p of ts.whoHas) {
        if (!this.inFlight.has(p)) {
          peer = p;
          break;
        }
      }
      if (peer === undefined) continue;
      let list = byPeer.get(peer);
      if (list === undefined) byPeer.set(peer, (list = []));
      list.push(ts);
    }
    for (const [peer, list] of byPeer) {
      for (const ts of list) {
        ts.state = "flight";
        this.fetchQueue.delete(ts);
      }
      this.inFlight.set(peer, new Set(list));
      this.out.push({ type: "gather-dep", peer, keys: list.map((t) => t.key), stimulusId: `gather-${peer}` });
    }
  }

  /** Check invariants; throws InvalidTransitionError. */
  validateState(): void {
    for (const ts of this.tasks.values()) {
      const fail = (why: string): never => {
        throw new InvalidTransitionError(ts.key, `worker ${this.address}, state ${ts.state}: ${why}`);
      };
      if (ts.state === "forgotten") fail("forgotten but still in the table");
      if (ts.state === "executing" && !this.executing.has(ts)) fail("executing but not counted");
      if (ts.state === "cancelled" && ts.previous === undefined) fail("cancelled without knowing what it cancelled");
      if (ts.state === "cancelled" && ts.previous === "executing" && !this.executing.has(ts)) fail("cancelled run is not counted as executing");
      if (ts.state === "ready" && ts.waitingFor.size > 0) fail("ready while waiting for inputs");
      if (ts.state === "waiting" && ts.waitingFor.size === 0) fail("waiting for nothing");
      for (const d of ts.waitingFor) if (d.state === "memory") fail(`waiting for ${d.key}, which is here`);
      for (const d of ts.dependencies) if (!d.dependents.has(ts)) fail(`not a dependent of ${d.key}`);
    }
    if (this.executing.size > this.nthreads) throw new InvalidTransitionError("-", `worker ${this.address} runs more tasks than threads`);
  }
}
