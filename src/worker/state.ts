/**
 * The worker state machine. Pure and synchronous like the scheduler's:
 * {@link WorkerState.handle} takes a stimulus (the scheduler asked for a task,
 * a task finished, a fetch from a peer came back) and returns instructions
 * (execute this, fetch these keys from that peer, tell the scheduler that).
 * The shell around it owns the data, the threads and the sockets.
 *
 * Task states on a worker: `waiting` (a compute task whose inputs are not all
 * here), `fetch` (an input to get from a peer), `flight` (being fetched),
 * `ready` (runnable, in the priority heap), `executing`, `memory`, `error`,
 * and `cancelled` (the scheduler let go while it was executing or in
 * flight: the result is discarded when it arrives, since neither can be
 * interrupted).
 *
 * Fetch policy: inputs are bundled per peer, one transfer per peer at a time;
 * a peer that fails is dropped from every key's sources, and a key with no
 * sources left is reported to the scheduler as missing.
 *
 * @module
 */
import type { SerializedError } from "../core/errors.js";
import { InvalidTransitionError } from "../core/errors.js";
import type { Expr, FnRef, Key } from "../core/graph.js";
import { PriorityQueue } from "../scheduler/priority-queue.js";
import { comparePriority, type ComputeTaskMsg, type FromWorkerMsg, type Priority } from "../scheduler/messages.js";

/** Where a task is on this worker. */
export type WorkerTaskStateName = "waiting" | "fetch" | "flight" | "ready" | "executing" | "memory" | "error" | "cancelled" | "forgotten";

/** The worker's record of one key: a task to run, or an input to fetch. */
export interface WorkerTask {
  readonly key: Key;
  state: WorkerTaskStateName;
  /** Present for tasks the scheduler asked this worker to compute. */
  run: { readonly fn: FnRef; readonly args: readonly Expr[] } | undefined;
  priority: Priority;
  runId: number;
  deliver: boolean;
  readonly dependencies: Set<WorkerTask>;
  readonly dependents: Set<WorkerTask>;
  /** Inputs not yet here. */
  readonly waitingFor: Set<WorkerTask>;
  /** Peers said to hold it (for inputs). */
  readonly whoHas: Set<string>;
  nbytes: number;
  /** The scheduler wants this key kept (computed here, or fetched and not yet freed). */
  wanted: boolean;
}

/** A stimulus for the worker. */
export type WorkerEvent =
  | { readonly type: "compute-task"; readonly msg: ComputeTaskMsg; readonly stimulusId: string }
  | { readonly type: "free-keys"; readonly keys: readonly Key[]; readonly stimulusId: string }
  | { readonly type: "execute-success"; readonly key: Key; readonly runId: number; readonly nbytes: number; readonly duration: number; readonly value?: unknown; readonly stimulusId: string }
  | { readonly type: "execute-failure"; readonly key: Key; readonly runId: number; readonly error: SerializedError; readonly stimulusId: string }
  | { readonly type: "gather-dep-success"; readonly peer: string; readonly received: ReadonlyMap<Key, number>; readonly requested: readonly Key[]; readonly stimulusId: string }
  | { readonly type: "gather-dep-failure"; readonly peer: string; readonly keys: readonly Key[]; readonly stimulusId: string };

/** What the shell must do. */
export type WorkerInstruction =
  | { readonly type: "execute"; readonly key: Key; readonly runId: number }
  | { readonly type: "gather-dep"; readonly peer: string; readonly keys: readonly Key[]; readonly stimulusId: string }
  | { readonly type: "release-data"; readonly keys: readonly Key[] }
  | { readonly type: "send"; readonly msg: FromWorkerMsg };

export class WorkerState {
  readonly tasks = new Map<Key, WorkerTask>();
  readonly ready = new PriorityQueue<WorkerTask>((a, b) => comparePriority(a.priority, b.priority), (t) => t.state === "ready");
  readonly executing = new Set<WorkerTask>();
  /** Peers with a transfer under way, and the keys it carries. */
  readonly inFlight = new Map<string, Set<WorkerTask>>();
  private readonly fetchQueue = new Set<WorkerTask>();
  private out: WorkerInstruction[] = [];
  private released: Key[] = [];

  constructor(
    readonly address: string,
    readonly nthreads: number,
    private readonly validateAfter = false,
  ) {}

  /** Feed one stimulus; returns the instructions for the shell, in order. */
  handle(ev: WorkerEvent): WorkerInstruction[] {
    this.out = [];
    this.released = [];
    switch (ev.type) {
      case "compute-task":
        this.computeTask(ev.msg);
        break;
      case "free-keys":
        for (const k of ev.keys) this.freeKey(k);
        break;
      case "execute-success":
        this.executeDone(ev.key, ev.runId, (ts) => {
          ts.nbytes = ev.nbytes;
          if (ts.deliver) {
            this.out.push({ type: "send", msg: { op: "task-finished", key: ts.key, runId: ts.runId, nbytes: ev.nbytes, duration: ev.duration, value: ev.value, delivered: true, stimulusId: ev.stimulusId } });
            ts.wanted = false;
            ts.state = "memory";
            this.maybeForget(ts);
            return;
          }
          this.toMemory(ts);
          this.out.push({ type: "send", msg: { op: "task-finished", key: ts.key, runId: ts.runId, nbytes: ev.nbytes, duration: ev.duration, delivered: false, stimulusId: ev.stimulusId } });
        });
        break;
      case "execute-failure":
        this.executeDone(ev.key, ev.runId, (ts) => {
          ts.state = "error";
          this.out.push({ type: "send", msg: { op: "task-erred", key: ts.key, runId: ts.runId, error: ev.error, stimulusId: ev.stimulusId } });
        });
        break;
      case "gather-dep-success":
        this.gatherDone(ev.peer, ev.requested, ev.received, ev.stimulusId);
        break;
      case "gather-dep-failure":
        this.gatherDone(ev.peer, ev.keys, new Map(), ev.stimulusId);
        break;
    }
    this.schedule();
    if (this.released.length > 0) this.out.push({ type: "release-data", keys: this.released });
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
        dependencies: new Set(),
        dependents: new Set(),
        waitingFor: new Set(),
        whoHas: new Set(),
        nbytes: 0,
        wanted: false,
      };
      this.tasks.set(key, ts);
    }
    return ts;
  }

  private computeTask(msg: ComputeTaskMsg): void {
    const existing = this.tasks.get(msg.key);
    const ts = this.ensure(msg.key);
    ts.wanted = true;
    ts.run = { fn: msg.fn, args: msg.args };
    ts.priority = msg.priority;
    ts.runId = msg.runId;
    ts.deliver = msg.deliver;
    if (existing !== undefined) {
      switch (existing.state) {
        case "memory":
          // Already here (fetched earlier as an input): report it instead of recomputing.
          this.out.push({ type: "send", msg: { op: "task-finished", key: ts.key, runId: ts.runId, nbytes: ts.nbytes, duration: 0, delivered: false, stimulusId: msg.stimulusId } });
          return;
        case "cancelled":
          ts.state = "executing";
          return;
        case "executing":
        case "flight":
        case "ready":
        case "waiting":
          return;
        default:
          break;
      }
    }
    this.fetchQueue.delete(ts);
    for (const [depKey, holders] of Object.entries(msg.whoHas ?? {})) {
      const dep = this.ensure(depKey);
      ts.dependencies.add(dep);
      dep.dependents.add(ts);
      if (dep.state === "memory") continue;
      ts.waitingFor.add(dep);
      if (dep.state === "fetch" || dep.state === "forgotten") {
        dep.state = "fetch";
        dep.nbytes = msg.nbytes?.[depKey] ?? 0;
        for (const h of holders) if (h !== this.address) dep.whoHas.add(h);
        this.fetchQueue.add(dep);
      } else if (dep.state === "cancelled") {
        dep.state = "flight";
      }
    }
    if (ts.waitingFor.size === 0) {
      ts.state = "ready";
      this.ready.push(ts);
    } else {
      ts.state = "waiting";
    }
  }

  private executeDone(key: Key, runId: number, onCurrent: (ts: WorkerTask) => void): void {
    const ts = this.tasks.get(key);
    if (ts === undefined) return;
    if (ts.state === "cancelled") {
      this.executing.delete(ts);
      ts.state = "forgotten";
      this.forget(ts);
      return;
    }
    if (ts.state !== "executing" || ts.runId !== runId) return;
    this.executing.delete(ts);
    // Inputs are no longer needed by this task.
    for (const dep of ts.dependencies) {
      dep.dependents.delete(ts);
      this.maybeForget(dep);
    }
    ts.dependencies.clear();
    onCurrent(ts);
  }

  private toMemory(ts: WorkerTask): void {
    ts.state = "memory";
    for (const dep of ts.dependents) {
      if (dep.waitingFor.delete(ts) && dep.waitingFor.size === 0 && dep.state === "waiting") {
        dep.state = "ready";
        this.ready.push(dep);
      }
    }
  }

  private gatherDone(peer: string, requested: readonly Key[], received: ReadonlyMap<Key, number>, stimulusId: string): void {
    this.inFlight.delete(peer);
    for (const key of requested) {
      const ts = this.tasks.get(key);
      if (ts === undefined) {
        if (received.has(key)) this.released.push(key);
        continue;
      }
      const nbytes = received.get(key);
      if (ts.state === "cancelled") {
        if (nbytes !== undefined) this.released.push(key);
        ts.state = "forgotten";
        this.forget(ts);
        continue;
      }
      if (ts.state !== "flight") {
        if (nbytes !== undefined && ts.state !== "memory") this.released.push(key);
        continue;
      }
      if (nbytes !== undefined) {
        ts.nbytes = nbytes;
        this.toMemory(ts);
        if (ts.run !== undefined && ts.wanted) {
          this.out.push({ type: "send", msg: { op: "task-finished", key, runId: ts.runId, nbytes, duration: 0, delivered: false, stimulusId } });
        }
      } else {
        ts.whoHas.delete(peer);
        this.out.push({ type: "send", msg: { op: "missing-data", key, errantWorker: peer, stimulusId } });
        ts.state = "fetch";
        if (ts.whoHas.size > 0) this.fetchQueue.add(ts);
      }
    }
  }

  private freeKey(key: Key): void {
    const ts = this.tasks.get(key);
    if (ts === undefined) return;
    ts.wanted = false;
    switch (ts.state) {
      case "executing":
      case "flight":
        // Cannot be interrupted: discard the result when it comes.
        if (ts.dependents.size === 0) ts.state = "cancelled";
        return;
      case "ready":
      case "waiting":
        for (const dep of ts.dependencies) {
          dep.dependents.delete(ts);
          this.maybeForget(dep);
        }
        ts.dependencies.clear();
        ts.waitingFor.clear();
        ts.run = undefined;
        ts.state = "forgotten";
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
      ts.state = "cancelled";
      return;
    }
    if (ts.state === "cancelled") return;
    this.forget(ts);
  }

  private forget(ts: WorkerTask): void {
    if (this.tasks.get(ts.key) !== ts) return;
    if (ts.state === "memory") this.released.push(ts.key);
    this.tasks.delete(ts.key);
    this.fetchQueue.delete(ts);
    ts.state = "forgotten";
    for (const dep of ts.dependencies) {
      dep.dependents.delete(ts);
      this.maybeForget(dep);
    }
  }

  /** Start what can start: ready tasks up to the thread count, one fetch per idle peer. */
  private schedule(): void {
    while (this.executing.size < this.nthreads) {
      const ts = this.ready.pop();
      if (ts === undefined) break;
      ts.state = "executing";
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
      if (ts.state === "ready" && ts.waitingFor.size > 0) fail("ready while waiting for inputs");
      if (ts.state === "waiting" && ts.waitingFor.size === 0) fail("waiting for nothing");
      for (const d of ts.waitingFor) if (d.state === "memory") fail(`waiting for ${d.key}, which is here`);
      for (const d of ts.dependencies) if (!d.dependents.has(ts)) fail(`not a dependent of ${d.key}`);
    }
    if (this.executing.size > this.nthreads) throw new InvalidTransitionError("-", `worker ${this.address} runs more tasks than threads`);
  }
}
