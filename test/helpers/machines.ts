/**
 * Test helpers for the pure state machines: graph builders, a scheduler-only
 * driver that remembers the compute-task messages it has sent, and a fake
 * cluster that wires one SchedulerState to N WorkerStates with no threads and
 * no I/O.
 *
 * The fake cluster keeps every message that is "on the wire" in channels:
 * - `s->W`: scheduler → worker W (compute-task, free-keys), FIFO like a real link;
 * - `W->s`: worker W → scheduler (task-finished, task-erred, missing-data), FIFO;
 * - `exec:W:key:n`: one pending execution on W (a thread running a task);
 * - `gather:W<-P:n`: one pending transfer from peer P to W.
 * `step()` delivers one item: in FIFO mode the oldest item of all, with a seed
 * the head of a randomly chosen channel (so links stay FIFO, while executions,
 * transfers and the links themselves interleave arbitrarily).
 *
 * Executing a task runs it for real with `runTask` against the worker's data
 * map, as the worker thread does; a transfer copies values from the peer's
 * data map when it is delivered (a dead peer, or one that no longer has the
 * key, makes it fail or come back short).
 *
 * @module
 */
import assert from "node:assert/strict";
import { serializeError, type SerializedError } from "../../src/core/errors.js";
import { runTask } from "../../src/core/execute.js";
import { lit, opRef, ref, task, type Expr, type FnRef, type Graph, type Key, type TaskNode } from "../../src/core/graph.js";
import { executionOrder } from "../../src/core/order.js";
import "../../src/ops/index.js";
import type { ComputeTaskMsg, Priority, ToClientMsg, TaskInputs } from "../../src/scheduler/messages.js";
import { SchedulerState, type SchedulerConfig, type SchedulerEvent, type SchedulerInstruction } from "../../src/scheduler/state.js";
import { sizeof } from "../../src/serialize/sizeof.js";
import { WorkerState, type WorkerEvent, type WorkerInstruction } from "../../src/worker/state.js";
import { rng } from "./random.js";

// ---- functions and graphs ---------------------------------------------------

export const inc: FnRef = { kind: "source", source: "(x) => x + 1", name: "inc" };
export const add: FnRef = { kind: "source", source: "(a, b) => a + b", name: "add" };
export const mul: FnRef = { kind: "source", source: "(a, b) => a * b", name: "mul" };
export const sum: FnRef = { kind: "source", source: "(...xs) => xs.reduce((a, b) => a + b, 0)", name: "sum" };
export const boom: FnRef = { kind: "source", source: "(x) => { throw new RangeError('boom ' + x); }", name: "boom" };
export const max: FnRef = { kind: "global", path: "Math.max" };
export const identity: FnRef = opRef("dask.identity");

/** A task calling `fn` on `args`; strings are references to keys, anything else a literal. */
export function call(fn: FnRef, ...args: unknown[]): TaskNode {
  return task(
    fn,
    args.map((a): Expr => (typeof a === "string" ? ref(a) : lit(a))),
  );
}

/** Turn a graph into update-graph tasks in execution order (literals and aliases become dask.identity calls, as LocalCluster does). */
export function prepare(graph: Graph): [Key, TaskNode][] {
  const out: [Key, TaskNode][] = [];
  for (const key of executionOrder(graph)) {
    const node = graph.get(key)!;
    if (node.kind === "task") out.push([key, node]);
    else if (node.kind === "literal") out.push([key, task(identity, [lit(node.value)])]);
    else out.push([key, task(identity, [ref(node.target)])]);
  }
  return out;
}

/** `inc(i)` leaves `inc[i]`, reduced pairwise by `add` into `add-L[j]`; returns the graph and its root key. */
export function treeReduction(leaves: number): { graph: Graph; root: Key } {
  const graph: Graph = new Map();
  let level: Key[] = [];
  for (let i = 0; i < leaves; i++) {
    const k = `inc[${i}]`;
    graph.set(k, call(inc, i));
    level.push(k);
  }
  let depth = 0;
  while (level.length > 1) {
    depth++;
    const next: Key[] = [];
    for (let j = 0; j < level.length; j += 2) {
      const k = `add-${depth}[${j / 2}]`;
      graph.set(k, level[j + 1] === undefined ? call(identity, level[j]!) : call(add, level[j]!, level[j + 1]!));
      next.push(k);
    }
    level = next;
  }
  return { graph, root: level[0]! };
}

/** `c[0] = inc(0)`, `c[i] = inc(c[i-1])`. */
export function chain(n: number, prefix = "c"): { graph: Graph; root: Key } {
  const graph: Graph = new Map();
  graph.set(`${prefix}[0]`, call(inc, 0));
  for (let i = 1; i < n; i++) graph.set(`${prefix}[${i}]`, call(inc, `${prefix}[${i - 1}]`));
  return { graph, root: `${prefix}[${n - 1}]` };
}


// ---- scheduler alone ----------------------------------------------------------

/** The worker messages among scheduler instructions. */
export function toWorkers(out: readonly SchedulerInstruction[]): { worker: string; msg: Extract<SchedulerInstruction, { to: "worker" }>["msg"] }[] {
  const r: { worker: string; msg: Extract<SchedulerInstruction, { to: "worker" }>["msg"] }[] = [];
  for (const i of out) if (i.to === "worker") r.push({ worker: i.worker, msg: i.msg });
  return r;
}

/** The compute-task messages among scheduler instructions. */
export function computeTasks(out: readonly SchedulerInstruction[]): (ComputeTaskMsg & { worker: string })[] {
  const r: (ComputeTaskMsg & { worker: string })[] = [];
  for (const i of out) if (i.to === "worker" && i.msg.op === "compute-task") r.push({ ...i.msg, worker: i.worker });
  return r;
}

/** free-keys per worker among scheduler instructions: worker → keys. */
export function freedKeys(out: readonly SchedulerInstruction[]): Map<string, Key[]> {
  const r = new Map<string, Key[]>();
  for (const i of out) {
    if (i.to !== "worker" || i.msg.op !== "free-keys") continue;
    let l = r.get(i.worker);
    if (l === undefined) r.set(i.worker, (l = []));
    l.push(...i.msg.keys);
  }
  return r;
}

/** Client messages among scheduler instructions. */
export function toClients(out: readonly SchedulerInstruction[]): { client: string; msg: ToClientMsg }[] {
  const r: { client: string; msg: ToClientMsg }[] = [];
  for (const i of out) if (i.to === "client") r.push({ client: i.client, msg: i.msg });
  return r;
}

/**
 * Drives a SchedulerState by hand, remembering the latest compute-task per key
 * so tests can answer it (`finish`, `fail`) without tracking run ids.
 */
export class SchedulerDriver {
  readonly s: SchedulerState;
  /** Latest compute-task sent per key. */
  readonly sent = new Map<Key, ComputeTaskMsg & { worker: string }>();
  /** Every instruction ever returned, in order. */
  readonly history: SchedulerInstruction[] = [];
  private seq = 0;

  constructor(config: SchedulerConfig = {}) {
    this.s = new SchedulerState({ validate: true, transitionLogSize: 100_000, ...config });
  }

  sid(prefix: string): string {
    return `${prefix}-${this.seq++}`;
  }

  handle(ev: SchedulerEvent): SchedulerInstruction[] {
    const out = this.s.handle(ev);
    for (const c of computeTasks(out)) this.sent.set(c.key, c);
    this.history.push(...out);
    return out;
  }

  addWorker(address: string, nthreads = 1): SchedulerInstruction[] {
    return this.handle({ type: "add-worker", address, nthreads, stimulusId: this.sid("add-worker") });
  }

  removeWorker(address: string, expected = false): SchedulerInstruction[] {
    return this.handle({ type: "remove-worker", address, expected, stimulusId: this.sid("remove-worker") });
  }

  submit(client: string, tasks: readonly (readonly [Key, TaskNode])[], keys: readonly Key[], deliver: boolean, userPriority?: number): SchedulerInstruction[] {
    return this.handle({ type: "update-graph", client, tasks, keys, deliver, ...(userPriority === undefined ? {} : { userPriority }), stimulusId: this.sid("update-graph") });
  }

  release(client: string, keys: readonly Key[]): SchedulerInstruction[] {
    return this.handle({ type: "client-releases-keys", client, keys, stimulusId: this.sid("release") });
  }

  /** The worker the key was last sent to. */
  workerOf(key: Key): string {
    const c = this.sent.get(key);
    assert.ok(c !== undefined, `no compute-task was sent for ${key}`);
    return c.worker;
  }

  /** Answer the last compute-task for `key` with task-finished (delivered when it asked for delivery). */
  finish(key: Key, opts: { value?: unknown; nbytes?: number; duration?: number; runId?: number; worker?: string; delivered?: boolean; stimulusId?: string } = {}): SchedulerInstruction[] {
    const c = this.sent.get(key);
    assert.ok(c !== undefined, `no compute-task was sent for ${key}`);
    const delivered = opts.delivered ?? c.deliver;
    return this.handle({
      type: "worker-message",
      worker: opts.worker ?? c.worker,
      msg: {
        op: "task-finished",
        key,
        runId: opts.runId ?? c.runId,
        nbytes: opts.nbytes ?? 8,
        duration: opts.duration ?? 0.1,
        ...(delivered ? { value: opts.value ?? key } : {}),
        delivered,
        stimulusId: opts.stimulusId ?? this.sid(`finished-${key}`),
      },
      stimulusId: opts.stimulusId ?? this.sid(`finished-${key}`),
    });
  }

  /** Answer the last compute-task for `key` with task-erred. */
  fail(key: Key, error: SerializedError = serializeError(new RangeError(`boom ${key}`)), opts: { stimulusId?: string } = {}): SchedulerInstruction[] {
    const c = this.sent.get(key);
    assert.ok(c !== undefined, `no compute-task was sent for ${key}`);
    const stimulusId = opts.stimulusId ?? this.sid(`erred-${key}`);
    return this.handle({ type: "worker-message", worker: c.worker, msg: { op: "task-erred", key, runId: c.runId, error, stimulusId }, stimulusId });
  }

  /** Keys the scheduler currently has processing on `address`. */
  processingOn(address: string): Key[] {
    return [...(this.s.workers.get(address)?.processing ?? [])].map((t) => t.key).sort();
  }

  stateOf(key: Key): string {
    return this.s.tasks.get(key)?.state ?? "forgotten";
  }
}

// ---- the fake cluster ---------------------------------------------------------

/** A worker of the fake cluster. */
export interface SimWorker {
  readonly address: string;
  readonly nthreads: number;
  readonly state: WorkerState;
  /** The values held, like the worker thread's `data`. */
  readonly data: Map<Key, unknown>;
  alive: boolean;
  /** Most tasks seen executing at once. */
  peakExecuting: number;
}

/** What a client of the fake cluster has received. */
export interface SimClient {
  readonly id: string;
  /** Values of keys reported in memory (delivered, or read from the holder at once). */
  readonly values: Map<Key, unknown>;
  /** Keys reported with `hasValue: false`. */
  readonly held: Set<Key>;
  readonly errors: Map<Key, { blame: Key; error: SerializedError }>;
  readonly messages: ToClientMsg[];
}

/** Something on the wire. */
export type Delivery =
  | { readonly kind: "to-worker"; readonly worker: string; readonly ev: WorkerEvent; readonly value?: unknown }
  | { readonly kind: "to-scheduler"; readonly worker: string; readonly ev: SchedulerEvent }
  | { readonly kind: "execute"; readonly worker: string; readonly key: Key; readonly runId: number }
  | { readonly kind: "gather"; readonly worker: string; readonly peer: string; readonly keys: readonly Key[]; readonly stimulusId: string };

interface Item {
  readonly seq: number;
  readonly channel: string;
  readonly d: Delivery;
}

export interface ClusterOptions {
  /** Threads of each worker, one entry per worker (addresses w0, w1, ...). */
  readonly workers: readonly number[];
  /** Without a seed, deliver strictly oldest-first; with one, in a seeded random order (FIFO per link). */
  readonly seed?: number;
  readonly scheduler?: SchedulerConfig;
  /** Seconds reported for each execution. Default 1e-5. */
  readonly duration?: (key: Key) => number;
  /** Called after every delivered item (kill workers from here). */
  readonly onStep?: (cluster: Cluster, step: number) => void;
  /** Also run {@link Cluster.validate} (data maps against worker states) after every item. Default false. */
  readonly validateEveryStep?: boolean;
  /** Give the scheduler a `balance` stimulus (work stealing) every this many steps. Default never. */
  readonly balanceEvery?: number;
}

export class Cluster {
  readonly scheduler: SchedulerState;
  readonly workers = new Map<string, SimWorker>();
  readonly clients = new Map<string, SimClient>();
  /** Every scheduler instruction, in order, with the stimulus that caused it. */
  readonly schedulerOut: SchedulerInstruction[] = [];
  steps = 0;
  private readonly pending = new Map<string, Item[]>();
  private size = 0;
  private seq = 0;
  private stim = 0;
  private nextWorker = 0;
  private readonly random: (() => number) | undefined;
  private readonly duration: (key: Key) => number;
  private readonly onStep: ((cluster: Cluster, step: number) => void) | undefined;
  private readonly validateEveryStep: boolean;
  private readonly balanceEvery: number | undefined;

  constructor(opts: ClusterOptions) {
    this.scheduler = new SchedulerState({ validate: true, ...opts.scheduler });
    this.random = opts.seed === undefined ? undefined : rng(opts.seed);
    this.duration = opts.duration ?? (() => 1e-5);
    this.onStep = opts.onStep;
    this.validateEveryStep = opts.validateEveryStep ?? false;
    this.balanceEvery = opts.balanceEvery;
    for (const n of opts.workers) this.addWorker(n);
  }

  private sid(prefix: string): string {
    return `${prefix}-${this.stim++}`;
  }

  // ---- topology ----

  addWorker(nthreads: number, address = `w${this.nextWorker++}`): string {
    const w: SimWorker = { address, nthreads, state: new WorkerState(address, nthreads, true), data: new Map(), alive: true, peakExecuting: 0 };
    this.workers.set(address, w);
    this.toScheduler({ type: "add-worker", address, nthreads, stimulusId: this.sid("add-worker") });
    return address;
  }

  /** The worker dies: everything on the wire to or from it and its running work vanish; the scheduler learns it left unexpectedly. */
  killWorker(address: string, expected = false): void {
    const w = this.workers.get(address);
    assert.ok(w !== undefined && w.alive, `no live worker ${address}`);
    w.alive = false;
    for (const [ch, items] of this.pending) {
      const kept = items.filter((it) => it.d.worker !== address);
      this.size -= items.length - kept.length;
      if (kept.length === 0) this.pending.delete(ch);
      else this.pending.set(ch, kept);
    }
    this.toScheduler({ type: "remove-worker", address, expected, stimulusId: this.sid(expected ? "retire" : "kill") });
  }

  liveWorkers(): SimWorker[] {
    return [...this.workers.values()].filter((w) => w.alive);
  }

  // ---- clients ----

  client(id: string): SimClient {
    let c = this.clients.get(id);
    if (c === undefined) {
      c = { id, values: new Map(), held: new Set(), errors: new Map(), messages: [] };
      this.clients.set(id, c);
    }
    return c;
  }

  /** Submit a graph (ordered like LocalCluster does) wanting `keys`. */
  submit(client: string, graph: Graph, keys: readonly Key[], opts: { deliver?: boolean; userPriority?: number } = {}): void {
    this.submitTasks(client, prepare(graph), keys, opts);
  }

  submitTasks(client: string, tasks: readonly (readonly [Key, TaskNode])[], keys: readonly Key[], opts: { deliver?: boolean; userPriority?: number } = {}): void {
    this.client(client);
    this.toScheduler({
      type: "update-graph",
      client,
      tasks,
      keys,
      deliver: opts.deliver ?? true,
      ...(opts.userPriority === undefined ? {} : { userPriority: opts.userPriority }),
      stimulusId: this.sid("update-graph"),
    });
  }

  /** The client leaves (what LocalCluster.compute does once it has its values): everything it wanted is released. */
  removeClient(client: string): void {
    this.toScheduler({ type: "remove-client", client, stimulusId: this.sid("remove-client") });
  }

  release(client: string, keys: readonly Key[]): void {
    this.toScheduler({ type: "client-releases-keys", client, keys, stimulusId: this.sid("release") });
  }

  /** Values of keys held in memory, read from a worker the scheduler says holds them. */
  gather(keys: readonly Key[]): unknown[] {
    return keys.map((k) => {
      const ts = this.scheduler.tasks.get(k);
      assert.ok(ts !== undefined && ts.state === "memory", `${k} is not in memory (${ts?.state ?? "forgotten"})`);
      for (const ws of ts.whoHas) {
        const w = this.workers.get(ws.address)!;
        assert.ok(w.alive, `${k} is said to be on dead worker ${ws.address}`);
        assert.ok(w.data.has(k), `${k} is said to be on ${ws.address}, which has no value for it`);
        return w.data.get(k);
      }
      return assert.fail(`${k} has no holder`);
    });
  }

  // ---- the wire ----

  private push(channel: string, d: Delivery): void {
    let q = this.pending.get(channel);
    if (q === undefined) this.pending.set(channel, (q = []));
    q.push({ seq: this.seq++, channel, d });
    this.size++;
  }

  /** Items on the wire. */
  get inFlight(): number {
    return this.size;
  }

  /** Hand a stimulus to the scheduler now and route what it says. */
  toScheduler(ev: SchedulerEvent): void {
    this.toSchedulerBatch([ev]);
  }

  /** Hand several stimuli to the scheduler at once (`handleBatch`) and route what they say. */
  toSchedulerBatch(evs: readonly SchedulerEvent[]): void {
    const out = evs.length === 1 ? this.scheduler.handle(evs[0]!) : this.scheduler.handleBatch(evs);
    this.schedulerOut.push(...out);
    for (const ins of out) {
      if (ins.to === "client") {
        this.onClientMsg(ins.client, ins.msg);
        continue;
      }
      const w = this.workers.get(ins.worker);
      assert.ok(w !== undefined, `scheduler wrote to unknown worker ${ins.worker}`);
      if (!w.alive) continue;
      const msg = ins.msg;
      if (msg.op === "put-data") {
        // Like the shell: the value is stored as the message arrives, then the machine hears of it.
        this.push(`s->${ins.worker}`, { kind: "to-worker", worker: ins.worker, ev: { type: "put-data", key: msg.key, nbytes: msg.nbytes, stimulusId: msg.stimulusId }, value: msg.value });
        continue;
      }
      const wev: WorkerEvent =
        msg.op === "compute-task"
          ? { type: "compute-task", msg, stimulusId: msg.stimulusId }
          : msg.op === "steal-request"
            ? { type: "steal-request", key: msg.key, runId: msg.runId, stimulusId: msg.stimulusId }
            : { type: "free-keys", keys: msg.keys, stimulusId: msg.stimulusId };
      this.push(`s->${ins.worker}`, { kind: "to-worker", worker: ins.worker, ev: wev });
    }
  }

  private onClientMsg(client: string, msg: ToClientMsg): void {
    const c = this.client(client);
    c.messages.push(msg);
    if (msg.op === "key-in-memory") {
      if (msg.hasValue) c.values.set(msg.key, msg.value);
      else {
        c.held.add(msg.key);
        c.values.set(msg.key, this.gather([msg.key])[0]);
      }
    } else {
      c.errors.set(msg.key, { blame: msg.blame, error: msg.error });
    }
  }

  /** Hand an event to a worker now and carry out its instructions. */
  toWorker(address: string, ev: WorkerEvent): WorkerInstruction[] {
    const w = this.workers.get(address)!;
    const out = w.state.handle(ev);
    for (const ins of out) {
      switch (ins.type) {
        case "execute":
          this.push(`exec:${address}:${ins.key}:${this.seq}`, { kind: "execute", worker: address, key: ins.key, runId: ins.runId });
          break;
        case "gather-dep":
          this.push(`gather:${address}<-${ins.peer}:${this.seq}`, { kind: "gather", worker: address, peer: ins.peer, keys: ins.keys, stimulusId: ins.stimulusId });
          break;
        case "release-data":
          for (const k of ins.keys) w.data.delete(k);
          break;
        case "send":
          this.push(`${address}->s`, { kind: "to-scheduler", worker: address, ev: { type: "worker-message", worker: address, msg: ins.msg, stimulusId: ins.msg.stimulusId } });
          break;
      }
    }
    w.peakExecuting = Math.max(w.peakExecuting, w.state.executing.size);
    return out;
  }

  private runExecution(w: SimWorker, key: Key, runId: number): void {
    const ts = w.state.tasks.get(key);
    const sid = this.sid(`exec-${key}`);
    if (ts === undefined || ts.run === undefined || ts.state !== "executing" || ts.execRunId !== runId) {
      // Mirrors the worker thread: a cancelled task's thread still comes back.
      if (ts?.state === "cancelled" && ts.execRunId === runId) this.toWorker(w.address, { type: "execute-success", key, runId, nbytes: 0, duration: 0, stimulusId: sid });
      return;
    }
    let value: unknown;
    try {
      value = runTask({ kind: "task", fn: ts.run.fn, args: ts.run.args, deps: [] }, (k) => {
        if (!w.data.has(k)) throw new Error(`internal: input ${k} is not on worker ${w.address}`);
        return w.data.get(k);
      });
    } catch (err) {
      this.toWorker(w.address, { type: "execute-failure", key, runId, error: serializeError(err), stimulusId: sid });
      return;
    }
    const duration = this.duration(key);
    if (ts.wanted && ts.deliver) {
      this.toWorker(w.address, { type: "execute-success", key, runId, nbytes: sizeof(value), duration, value, stimulusId: sid });
      return;
    }
    w.data.set(key, value);
    this.toWorker(w.address, { type: "execute-success", key, runId, nbytes: sizeof(value), duration, stimulusId: sid });
  }

  private runGather(w: SimWorker, peerAddress: string, keys: readonly Key[], stimulusId: string): void {
    const peer = this.workers.get(peerAddress);
    if (peer === undefined || !peer.alive) {
      this.toWorker(w.address, { type: "gather-dep-failure", peer: peerAddress, keys, stimulusId });
      return;
    }
    const received = new Map<Key, number>();
    for (const k of keys) {
      if (!peer.data.has(k)) continue;
      const v = peer.data.get(k);
      w.data.set(k, v);
      received.set(k, sizeof(v));
    }
    this.toWorker(w.address, { type: "gather-dep-success", peer: peerAddress, received, requested: keys, stimulusId });
  }

  /** What is at the head of each channel (deliverable now), oldest first. */
  heads(): Delivery[] {
    return [...this.pending.values()].map((q) => q[0]!).sort((a, b) => a.seq - b.seq).map((it) => it.d);
  }

  /** Deliver the oldest channel head matching `pred` (links stay FIFO); fails if there is none. */
  stepWhere(pred: (d: Delivery) => boolean): void {
    let item: Item | undefined;
    for (const q of this.pending.values()) if (pred(q[0]!.d) && (item === undefined || q[0]!.seq < item.seq)) item = q[0]!;
    assert.ok(item !== undefined, `nothing deliverable matches; heads: ${JSON.stringify(this.heads().map(describeDelivery))}`);
    this.deliver(item);
  }

  /** Deliver one item; false when nothing is on the wire. */
  step(): boolean {
    if (this.size === 0) return false;
    let item: Item | undefined;
    if (this.random === undefined) {
      for (const q of this.pending.values()) if (item === undefined || q[0]!.seq < item.seq) item = q[0]!;
    } else {
      const channels = [...this.pending.keys()];
      item = this.pending.get(channels[Math.floor(this.random() * channels.length)]!)![0]!;
    }
    this.deliver(item!);
    return true;
  }

  private deliver(item: Item): void {
    const q = this.pending.get(item.channel)!;
    q.shift();
    if (q.length === 0) this.pending.delete(item.channel);
    this.size--;
    const d = item.d;
    const w = this.workers.get(d.worker)!;
    switch (d.kind) {
      case "to-worker":
        if (w.alive) {
          if (d.ev.type === "put-data") w.data.set(d.ev.key, d.value);
          this.toWorker(d.worker, d.ev);
        }
        break;
      case "to-scheduler":
        if (!w.alive) break;
        if (this.random !== undefined && this.random() < 0.5 && this.pending.has(item.channel)) {
          // Like the shell: everything the worker sent so far, as one batch.
          const rest = this.pending.get(item.channel)!;
          this.pending.delete(item.channel);
          this.size -= rest.length;
          this.toSchedulerBatch([d.ev, ...rest.map((it) => (it.d as Extract<Delivery, { kind: "to-scheduler" }>).ev)]);
        } else this.toScheduler(d.ev);
        break;
      case "execute":
        if (w.alive) this.runExecution(w, d.key, d.runId);
        break;
      case "gather":
        if (w.alive) this.runGather(w, d.peer, d.keys, d.stimulusId);
        break;
    }
    this.steps++;
    if (this.balanceEvery !== undefined && this.steps % this.balanceEvery === 0) this.toScheduler({ type: "balance", stimulusId: this.sid("balance") });
    if (this.validateEveryStep) this.validate();
    this.onStep?.(this, this.steps);
  }

  /** Step until nothing is on the wire; fails if that takes more than `maxSteps` (a livelock). Returns the steps taken. */
  run(maxSteps = 1_000_000): number {
    const start = this.steps;
    while (this.step()) {
      if (this.steps - start > maxSteps) assert.fail(`no quiescence after ${maxSteps} steps (livelock?)\n${this.describe()}`);
    }
    return this.steps - start;
  }

  /** Check every machine's invariants. */
  validate(): void {
    this.scheduler.validateState();
    for (const w of this.liveWorkers()) {
      w.state.validateState();
      for (const ts of w.state.tasks.values()) {
        if (ts.state === "memory") assert.ok(w.data.has(ts.key), `${w.address}: ${ts.key} in memory without data`);
      }
      for (const k of w.data.keys()) {
        const st = w.state.tasks.get(k)?.state;
        assert.ok(st === "memory", `${w.address}: holds data for ${k}, whose state is ${st ?? "forgotten"}`);
      }
      assert.ok(w.peakExecuting <= w.nthreads, `${w.address} executed ${w.peakExecuting} tasks at once on ${w.nthreads} threads`);
    }
  }

  /** After a finished compute: the scheduler forgot everything and no live worker holds a task or a value. */
  assertClean(): void {
    this.validate();
    assert.deepEqual([...this.scheduler.tasks.keys()], [], "scheduler still has tasks");
    for (const w of this.liveWorkers()) {
      assert.deepEqual([...w.state.tasks.keys()], [], `worker ${w.address} still has tasks`);
      assert.deepEqual([...w.data.keys()], [], `worker ${w.address} still holds data`);
      assert.equal(w.state.executing.size, 0);
    }
  }

  /** A one-line-per-task summary for failure messages. */
  describe(): string {
    const lines: string[] = [];
    const stuck = [...this.scheduler.tasks.values()].filter((t) => t.state !== "memory" && t.state !== "released").slice(0, 10);
    for (const t of stuck) lines.push(`scheduler ${t.key}: ${t.state}${t.processingOn ? ` on ${t.processingOn.address}` : ""}`);
    for (const w of this.liveWorkers()) {
      const ts = [...w.state.tasks.values()].slice(0, 10).map((t) => `${t.key}:${t.state}`);
      lines.push(`${w.address}: ${ts.join(" ")}`);
    }
    return lines.join("\n");
  }
}

/** Priority helper for hand-written compute-task messages. */
export function prio(i: number, user = 0, generation = 0): Priority {
  return [-user, generation, i];
}

/** A short description of a delivery, for messages and predicates. */
export function describeDelivery(d: Delivery): string {
  switch (d.kind) {
    case "to-worker":
      return d.ev.type === "compute-task" ? `s->${d.worker} compute-task ${d.ev.msg.key}#${d.ev.msg.runId}` : `s->${d.worker} ${d.ev.type} ${d.ev.type === "free-keys" ? d.ev.keys.join(",") : ""}`;
    case "to-scheduler":
      if (d.ev.type !== "worker-message") return `${d.worker}->s ${d.ev.type}`;
      return `${d.worker}->s ${d.ev.msg.op} ${d.ev.msg.op === "tasks-finished" ? d.ev.msg.keys.join(",") : d.ev.msg.key}`;
    case "execute":
      return `exec ${d.worker} ${d.key}#${d.runId}`;
    case "gather":
      return `gather ${d.worker}<-${d.peer} ${d.keys.join(",")}`;
  }
}

/** A compute-task's inputs as a record, input key → holder addresses (undefined without inputs). */
export function whoHasOf(m: { readonly inputs?: TaskInputs }): Record<Key, string[]> | undefined {
  if (m.inputs === undefined) return undefined;
  const out: Record<Key, string[]> = {};
  m.inputs.keys.forEach((k, i) => {
    const who = m.inputs!.who[i]!;
    out[k] = (typeof who === "number" ? [who] : [...who]).map((w) => m.inputs!.workers[w]!);
  });
  return out;
}

/** A compute-task's input sizes as a record (undefined without inputs). */
export function nbytesOf(m: { readonly inputs?: TaskInputs }): Record<Key, number> | undefined {
  if (m.inputs === undefined) return undefined;
  return Object.fromEntries(m.inputs.keys.map((k, i) => [k, m.inputs!.nbytes[i]!]));
}

/** Build compute-task inputs from a record, input key → holder addresses. */
export function inputsOf(whoHas: Record<Key, readonly string[]>, nbytes = 8): TaskInputs {
  const workers: string[] = [];
  const keys = Object.keys(whoHas);
  const who = keys.map((k) =>
    whoHas[k]!.map((a) => {
      let i = workers.indexOf(a);
      if (i < 0) i = workers.push(a) - 1;
      return i;
    }),
  );
  return { keys, workers, who, nbytes: keys.map(() => nbytes) };
}
