/**
 * Coordination primitives on the scheduler: queues, variables, locks,
 * events, semaphores and named datasets, shared by every client of a
 * network cluster.
 *
 * The rules live in small tables with no I/O — one per kind, each keeping
 * its state by name — so they can be tested without sockets: a request is
 * a method call that returns a promise, settled when the request is
 * answered. Waiters are served strictly in arrival order; a timeout removes
 * the waiter and settles it (`false` for locks, events and semaphores, a
 * {@link TimeoutError} for queues, variables and datasets). When a client
 * disconnects, `clientLeft` drops its waiters and gives back its locks and
 * leases.
 *
 * {@link CoordinationServices} is the thin adapter that exposes the tables
 * as scheduler services (`queue`, `variable`, `lock`, `event`, `semaphore`,
 * `dataset`). Values arrive as {@link SharedValue}s: the value with each
 * future replaced by its key, plus where those keys sit. While a value is
 * stored (in a queue, a variable, a dataset) its keys are wanted by a
 * scheduler client of the store's own (`dataset:<name>`, ...), so the
 * cluster keeps them even after the client that stored them lets go; when a
 * client receives the value, it is made to want the keys before the store
 * lets go of them.
 *
 * @module
 */
import { ClosedError, DatasetExistsError, InvalidArgumentError, MissingKeyError, NotHeldError, TimeoutError, UnknownNameError } from "../core/errors.js";
import type { Key } from "../core/graph.js";
import type { ServiceHandler } from "./server.js";
import type { SchedulerShell } from "./shell.js";

// ---------------------------------------------------------------- timers and waiters

/**
 * How the tables wait: `start(ms, fn)` calls `fn` after `ms` and returns a
 * function that cancels it. Tests pass a manual clock.
 *
 * @example
 * ```ts
 * const timers: Timers = { start: (ms, fn) => { const t = setTimeout(fn, ms); return () => clearTimeout(t); } };
 * ```
 */
export interface Timers {
  start(ms: number, fn: () => void): () => void;
}

/** Longer than this, `setTimeout` fires at once; such timeouts are taken as "never". */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Real timers that do not keep the process alive on their own. */
const realTimers: Timers = {
  start(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

interface Waiter<T, D> {
  readonly client: string;
  readonly data: D;
  resolve(value: T): void;
  reject(err: Error): void;
}

/** Waiters in arrival order, each with an optional timeout. */
class WaitList<T, D> {
  private readonly list: Waiter<T, D>[] = [];

  constructor(private readonly timers: Timers) {}

  get size(): number {
    return this.list.length;
  }

  first(): Waiter<T, D> | undefined {
    return this.list[0];
  }

  /**
   * Wait. `timedOut` settles a waiter whose time ran out (it is already out
   * of the list); a timeout of 0 settles it through `timedOut` at once.
   */
  add(client: string, data: D, timeoutMs: number | undefined, timedOut: (w: Waiter<T, D>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let cancel: (() => void) | undefined;
      const w: Waiter<T, D> = {
        client,
        data,
        resolve: (v) => {
          cancel?.();
          resolve(v);
        },
        reject: (e) => {
          cancel?.();
          reject(e);
        },
      };
      if (timeoutMs === 0) {
        timedOut(w);
        return;
      }
      this.list.push(w);
      if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
        cancel = this.timers.start(timeoutMs, () => {
          if (this.remove(w)) timedOut(w);
        });
      }
    });
  }

  /** Take the first waiter out of the list. */
  shift(): Waiter<T, D> | undefined {
    return this.list.shift();
  }

  remove(w: Waiter<T, D>): boolean {
    const i = this.list.indexOf(w);
    if (i < 0) return false;
    this.list.splice(i, 1);
    return true;
  }

  /** Take out every waiter of `client` (it left), in order. */
  removeClient(client: string): Waiter<T, D>[] {
    const gone = this.list.filter((w) => w.client === client);
    for (const w of gone) this.remove(w);
    return gone;
  }

  /** Take out every waiter. */
  drain(): Waiter<T, D>[] {
    return this.list.splice(0);
  }
}

// ---------------------------------------------------------------- validation

function checkName(name: unknown, what = "name"): string {
  if (typeof name !== "string" || name === "") throw new InvalidArgumentError(what, `A ${what} must be a non-empty string, got ${describe(name)}.`);
  return name;
}

/** `undefined` (wait as long as it takes), or a number of milliseconds ≥ 0 (`Infinity` allowed). */
function checkTimeout(timeoutMs: unknown): number | undefined {
  if (timeoutMs === undefined) return undefined;
  if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new InvalidArgumentError("timeoutMs", `timeoutMs must be a number of milliseconds ≥ 0 (or Infinity), got ${describe(timeoutMs)}.`);
  }
  return timeoutMs;
}

function checkCount(n: unknown, what: string): number {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError(what, `${what} must be a whole number ≥ 1, got ${describe(n)}.`);
  return n;
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || v === undefined || v === null) return String(v);
  return typeof v;
}

/**
 * What a table tells its owner about the values it stores, so the owner can
 * keep futures' keys alive. Every value given to `put`, `set` or `publish`
 * is eventually either refused (the call throws or rejects before storing
 * it: the caller still owns it) or `dropped` exactly once.
 *
 * @example
 * ```ts
 * const hooks: ValueHooks = { handOver: (v, client, name) => console.log(client, "got", v, "from", name), dropped: (v, name) => console.log(name, "let go of", v) };
 * ```
 */
export interface ValueHooks {
  /** A value stored under `name` is being handed to `client` (called before it could be dropped). */
  handOver?(value: unknown, client: string, name: string): void;
  /** A value left the store `name`: replaced, deleted, taken from a queue, or a waiting put gave up. */
  dropped?(value: unknown, name: string): void;
}

/**
 * Options shared by the tables.
 *
 * @example
 * ```ts
 * new QueueTable({ timers: fakeClock, hooks: { dropped: release } });
 * ```
 */
export interface TableOptions {
  readonly timers?: Timers;
  readonly hooks?: ValueHooks;
}

/** What every table has: its clock and its owner's hooks. */
abstract class Table {
  protected readonly timers: Timers;
  protected readonly hooks: ValueHooks;

  constructor(options: TableOptions = {}) {
    this.timers = options.timers ?? realTimers;
    this.hooks = options.hooks ?? {};
  }
}

// ---------------------------------------------------------------- queues

type QueueGet = { readonly n: number; readonly batch: boolean };

interface QueueEntry {
  readonly items: unknown[];
  /** Fixed by the first request that names one while the queue exists; undefined: unbounded. */
  maxsize: number | undefined;
  readonly getters: WaitList<unknown, QueueGet>;
  readonly putters: WaitList<void, unknown>;
}

/**
 * Named FIFO queues. `get` waits for an item (or for `batch` items, taken
 * together), `put` waits for room when the queue has a `maxsize`. An empty
 * queue nobody waits on is forgotten, and its `maxsize` with it.
 *
 * @example
 * ```ts
 * const queues = new QueueTable();
 * void queues.put("jobs", undefined, "client-1", 42);
 * await queues.get("jobs", undefined, "client-2"); // 42
 * ```
 */
export class QueueTable extends Table {
  private readonly queues = new Map<string, QueueEntry>();

  private entry(name: string, maxsize: number | undefined): QueueEntry {
    let q = this.queues.get(name);
    if (q === undefined) {
      q = { items: [], maxsize: undefined, getters: new WaitList(this.timers), putters: new WaitList(this.timers) };
      this.queues.set(name, q);
    }
    if (maxsize !== undefined) {
      if (q.maxsize === undefined) q.maxsize = maxsize;
      else if (q.maxsize !== maxsize) {
        this.forgetIfIdle(name, q);
        throw new InvalidArgumentError("maxsize", `Queue ${JSON.stringify(name)} exists with maxsize ${q.maxsize}, not ${maxsize}.`);
      }
    }
    return q;
  }

  private forgetIfIdle(name: string, q: QueueEntry): void {
    if (q.items.length === 0 && q.getters.size === 0 && q.putters.size === 0) this.queues.delete(name);
  }

  /**
   * Add `value` at the end; with a `maxsize` and no room, wait for room
   * (in order with other waiting puts) up to `timeoutMs`.
   */
  put(name: string, maxsize: number | undefined, client: string, value: unknown, timeoutMs?: number): Promise<void> {
    checkName(name);
    if (maxsize !== undefined) checkCount(maxsize, "maxsize");
    const timeout = checkTimeout(timeoutMs);
    const q = this.entry(name, maxsize);
    if (q.putters.size === 0 && (q.maxsize === undefined || q.items.length < q.maxsize)) {
      q.items.push(value);
      this.pump(name, q);
      return Promise.resolve();
    }
    return q.putters.add(client, value, timeout, (w) => {
      this.hooks.dropped?.(w.data, name);
      w.reject(new TimeoutError(`put into Queue ${JSON.stringify(name)} (it stayed full at maxsize ${q.maxsize})`, timeout ?? 0));
      this.pump(name, q);
    });
  }

  /**
   * Take the first item, waiting up to `timeoutMs` for one. `batch: n`
   * waits for `n` items and takes them together; `batch: "all"` takes
   * whatever is there now (maybe nothing) without waiting.
   */
  get(name: string, maxsize: number | undefined, client: string, options: { timeoutMs?: number | undefined; batch?: number | "all" | undefined } = {}): Promise<unknown> {
    checkName(name);
    if (maxsize !== undefined) checkCount(maxsize, "maxsize");
    const timeout = checkTimeout(options.timeoutMs);
    const { batch } = options;
    if (batch !== undefined && batch !== "all") checkCount(batch, "batch");
    const q = this.entry(name, maxsize);
    if (batch === "all") {
      const taken = q.items.splice(0);
      for (const v of taken) this.handOut(name, v, client);
      this.pump(name, q);
      return Promise.resolve(taken);
    }
    const n = batch ?? 1;
    if (q.maxsize !== undefined && n > q.maxsize) {
      this.forgetIfIdle(name, q);
      throw new InvalidArgumentError("batch", `A batch of ${n} can never be taken from Queue ${JSON.stringify(name)}, which holds at most ${q.maxsize}.`);
    }
    if (q.getters.size === 0 && q.items.length >= n) {
      const taken = q.items.splice(0, n);
      for (const v of taken) this.handOut(name, v, client);
      this.pump(name, q);
      return Promise.resolve(batch === undefined ? taken[0] : taken);
    }
    return q.getters.add(client, { n, batch: batch !== undefined }, timeout, (w) => {
      w.reject(new TimeoutError(`get ${n === 1 ? "an item" : `${n} items`} from Queue ${JSON.stringify(name)}`, timeout ?? 0));
      this.pump(name, q);
    });
  }

  /** Items in the queue now. */
  qsize(name: string): number {
    checkName(name);
    return this.queues.get(name)?.items.length ?? 0;
  }

  /** A client left: its waiting gets and puts are withdrawn. */
  clientLeft(client: string): void {
    for (const [name, q] of [...this.queues]) {
      for (const w of q.getters.removeClient(client)) w.reject(new ClosedError("The client"));
      for (const w of q.putters.removeClient(client)) {
        this.hooks.dropped?.(w.data, name);
        w.reject(new ClosedError("The client"));
      }
      this.pump(name, q);
    }
  }

  private handOut(name: string, value: unknown, client: string): void {
    this.hooks.handOver?.(value, client, name);
    this.hooks.dropped?.(value, name);
  }

  /** Serve waiting gets and admit waiting puts, in order, while they can go on. */
  private pump(name: string, q: QueueEntry): void {
    for (;;) {
      const g = q.getters.first();
      if (g !== undefined && q.items.length >= g.data.n) {
        q.getters.shift();
        const taken = q.items.splice(0, g.data.n);
        for (const v of taken) this.handOut(name, v, g.client);
        g.resolve(g.data.batch ? taken : taken[0]);
        continue;
      }
      const p = q.putters.first();
      if (p !== undefined && (q.maxsize === undefined || q.items.length < q.maxsize)) {
        q.putters.shift();
        q.items.push(p.data);
        p.resolve();
        continue;
      }
      break;
    }
    this.forgetIfIdle(name, q);
  }
}

// ---------------------------------------------------------------- variables

interface VariableEntry {
  has: boolean;
  value: unknown;
  readonly getters: WaitList<unknown, undefined>;
}

/**
 * Named variables: one value each, until replaced or deleted. `get` of a
 * variable that is not set waits for a `set`.
 *
 * @example
 * ```ts
 * const vars = new VariableTable();
 * vars.set("x", 1);
 * await vars.get("x", "client-1"); // 1
 * ```
 */
export class VariableTable extends Table {
  private readonly vars = new Map<string, VariableEntry>();

  /** Set the value (waking every waiting `get`); the old one is dropped. */
  set(name: string, value: unknown): void {
    checkName(name);
    let v = this.vars.get(name);
    if (v === undefined) {
      v = { has: false, value: undefined, getters: new WaitList(this.timers) };
      this.vars.set(name, v);
    }
    const { has, value: old } = v;
    v.has = true;
    v.value = value;
    for (const w of v.getters.drain()) {
      this.hooks.handOver?.(value, w.client, name);
      w.resolve(value);
    }
    if (has) this.hooks.dropped?.(old, name);
  }

  /** The value; if it is not set, wait up to `timeoutMs` for it. */
  get(name: string, client: string, timeoutMs?: number): Promise<unknown> {
    checkName(name);
    const timeout = checkTimeout(timeoutMs);
    let v = this.vars.get(name);
    if (v?.has === true) {
      this.hooks.handOver?.(v.value, client, name);
      return Promise.resolve(v.value);
    }
    if (v === undefined) {
      v = { has: false, value: undefined, getters: new WaitList(this.timers) };
      this.vars.set(name, v);
    }
    const entry = v;
    return entry.getters.add(client, undefined, timeout, (w) => {
      w.reject(new TimeoutError(`get Variable ${JSON.stringify(name)} (it was not set)`, timeout ?? 0));
      this.forgetIfIdle(name, entry);
    });
  }

  /** Forget the value; a variable that is not set is an {@link UnknownNameError}. */
  delete(name: string): void {
    checkName(name);
    const v = this.vars.get(name);
    if (v?.has !== true) throw new UnknownNameError("variable", name);
    const old = v.value;
    v.has = false;
    v.value = undefined;
    this.forgetIfIdle(name, v);
    this.hooks.dropped?.(old, name);
  }

  /** A client left: its waiting gets are withdrawn. */
  clientLeft(client: string): void {
    for (const [name, v] of [...this.vars]) {
      for (const w of v.getters.removeClient(client)) w.reject(new ClosedError("The client"));
      this.forgetIfIdle(name, v);
    }
  }

  private forgetIfIdle(name: string, v: VariableEntry): void {
    if (!v.has && v.getters.size === 0) this.vars.delete(name);
  }
}

// ---------------------------------------------------------------- locks

/**
 * Who holds a lock or a semaphore lease: a client and one lock instance of
 * it (two `Lock` objects of the same client are two owners).
 *
 * @example
 * ```ts
 * const owner: Owner = { client: "client-3", instance: "9f1c..." };
 * ```
 */
export interface Owner {
  readonly client: string;
  readonly instance: string;
}

const sameOwner = (a: Owner, b: Owner): boolean => a.client === b.client && a.instance === b.instance;

interface LockEntry {
  holder: Owner | undefined;
  readonly waiters: WaitList<boolean, Owner>;
}

/**
 * Named mutual-exclusion locks, not reentrant: an owner that acquires a lock
 * it holds waits like anyone else. Waiters get the lock in arrival order;
 * a client that leaves gives back what it holds.
 *
 * @example
 * ```ts
 * const locks = new LockTable();
 * await locks.acquire("db", { client: "c1", instance: "a" }); // true
 * await locks.acquire("db", { client: "c2", instance: "b" }, { blocking: false }); // false
 * ```
 */
export class LockTable extends Table {
  private readonly locks = new Map<string, LockEntry>();

  /**
   * Take the lock; `true` once held, `false` if it could not be had at once
   * (`blocking: false`) or within `timeoutMs`.
   */
  acquire(name: string, owner: Owner, options: { timeoutMs?: number | undefined; blocking?: boolean | undefined } = {}): Promise<boolean> {
    checkName(name);
    checkName(owner.instance, "instance");
    const timeout = checkTimeout(options.timeoutMs);
    if (options.blocking === false && timeout !== undefined) throw new InvalidArgumentError("timeoutMs", "A lock acquire with blocking: false cannot have a timeout.");
    let l = this.locks.get(name);
    if (l === undefined) {
      l = { holder: undefined, waiters: new WaitList(this.timers) };
      this.locks.set(name, l);
    }
    if (l.holder === undefined && l.waiters.size === 0) {
      l.holder = owner;
      return Promise.resolve(true);
    }
    const entry = l;
    return l.waiters.add(owner.client, owner, options.blocking === false ? 0 : timeout, (w) => {
      w.resolve(false);
      this.forgetIfIdle(name, entry);
    });
  }

  /** Let go; the next waiter gets it. An owner that does not hold it gets a {@link NotHeldError}. */
  release(name: string, owner: Owner): void {
    checkName(name);
    const l = this.locks.get(name);
    if (l?.holder === undefined || !sameOwner(l.holder, owner)) throw new NotHeldError("lock", name);
    this.passOn(name, l);
  }

  /** Whether anyone holds it. */
  locked(name: string): boolean {
    checkName(name);
    return this.locks.get(name)?.holder !== undefined;
  }

  /** Who holds it, if anyone. */
  holder(name: string): Owner | undefined {
    return this.locks.get(name)?.holder;
  }

  /** A client left: its waits are withdrawn and the locks it held go to their next waiters. */
  clientLeft(client: string): void {
    for (const [name, l] of [...this.locks]) {
      for (const w of l.waiters.removeClient(client)) w.resolve(false);
      if (l.holder?.client === client) this.passOn(name, l);
      else this.forgetIfIdle(name, l);
    }
  }

  private passOn(name: string, l: LockEntry): void {
    const next = l.waiters.shift();
    l.holder = next?.data;
    next?.resolve(true);
    this.forgetIfIdle(name, l);
  }

  private forgetIfIdle(name: string, l: LockEntry): void {
    if (l.holder === undefined && l.waiters.size === 0) this.locks.delete(name);
  }
}

// ---------------------------------------------------------------- events

interface EventEntry {
  isSet: boolean;
  readonly waiters: WaitList<boolean, undefined>;
}

/**
 * Named events: a flag that clients set and clear, and wait on.
 *
 * @example
 * ```ts
 * const events = new EventTable();
 * const woken = events.wait("ready", "c1");
 * events.set("ready");
 * await woken; // true
 * ```
 */
export class EventTable extends Table {
  private readonly events = new Map<string, EventEntry>();

  /** Set the flag and wake every waiter. */
  set(name: string): void {
    checkName(name);
    const e = this.entry(name);
    e.isSet = true;
    for (const w of e.waiters.drain()) w.resolve(true);
  }

  /** Clear the flag (waits block again). */
  clear(name: string): void {
    checkName(name);
    const e = this.events.get(name);
    if (e === undefined) return;
    e.isSet = false;
    this.forgetIfIdle(name, e);
  }

  isSet(name: string): boolean {
    checkName(name);
    return this.events.get(name)?.isSet === true;
  }

  /** `true` once the flag is set (at once if it is), `false` if `timeoutMs` passes first. */
  wait(name: string, client: string, timeoutMs?: number): Promise<boolean> {
    checkName(name);
    const timeout = checkTimeout(timeoutMs);
    const e = this.entry(name);
    if (e.isSet) return Promise.resolve(true);
    return e.waiters.add(client, undefined, timeout, (w) => {
      w.resolve(false);
      this.forgetIfIdle(name, e);
    });
  }

  /** A client left: its waits are withdrawn. */
  clientLeft(client: string): void {
    for (const [name, e] of [...this.events]) {
      for (const w of e.waiters.removeClient(client)) w.resolve(false);
      this.forgetIfIdle(name, e);
    }
  }

  private entry(name: string): EventEntry {
    let e = this.events.get(name);
    if (e === undefined) {
      e = { isSet: false, waiters: new WaitList(this.timers) };
      this.events.set(name, e);
    }
    return e;
  }

  private forgetIfIdle(name: string, e: EventEntry): void {
    if (!e.isSet && e.waiters.size === 0) this.events.delete(name);
  }
}

// ---------------------------------------------------------------- semaphores

interface SemaphoreEntry {
  readonly maxLeases: number;
  /** One entry per lease held, in the order they were granted. */
  readonly leases: Owner[];
  readonly waiters: WaitList<boolean, Owner>;
}

/**
 * Named semaphores: at most `maxLeases` leases out at once. An owner may
 * hold several; `release` gives back one. Leases of a client that leaves
 * are given back. A semaphore with no leases and no waiters is forgotten,
 * so its `maxLeases` is fixed again by the next request.
 *
 * @example
 * ```ts
 * const sems = new SemaphoreTable();
 * await sems.acquire("db", 2, { client: "c1", instance: "a" }); // true
 * sems.value("db", 2); // 1
 * ```
 */
export class SemaphoreTable extends Table {
  private readonly sems = new Map<string, SemaphoreEntry>();

  private entry(name: string, maxLeases: number): SemaphoreEntry {
    checkName(name);
    checkCount(maxLeases, "maxLeases");
    let s = this.sems.get(name);
    if (s === undefined) {
      s = { maxLeases, leases: [], waiters: new WaitList(this.timers) };
      this.sems.set(name, s);
    } else if (s.maxLeases !== maxLeases) {
      throw new InvalidArgumentError("maxLeases", `Semaphore ${JSON.stringify(name)} exists with maxLeases ${s.maxLeases}, not ${maxLeases}.`);
    }
    return s;
  }

  /** Take a lease: `true` once granted, `false` if `timeoutMs` passes first. */
  acquire(name: string, maxLeases: number, owner: Owner, timeoutMs?: number): Promise<boolean> {
    const s = this.entry(name, maxLeases);
    checkName(owner.instance, "instance");
    const timeout = checkTimeout(timeoutMs);
    if (s.waiters.size === 0 && s.leases.length < s.maxLeases) {
      s.leases.push(owner);
      return Promise.resolve(true);
    }
    return s.waiters.add(owner.client, owner, timeout, (w) => {
      w.resolve(false);
      this.forgetIfIdle(name, s);
    });
  }

  /** Give back one lease of `owner` (its oldest); none held is a {@link NotHeldError}. */
  release(name: string, maxLeases: number, owner: Owner): void {
    checkName(name);
    const s = this.sems.get(name);
    const i = s === undefined ? -1 : s.leases.findIndex((o) => sameOwner(o, owner));
    if (s === undefined || i < 0) throw new NotHeldError("semaphore", name);
    if (s.maxLeases !== maxLeases) checkCount(maxLeases, "maxLeases");
    s.leases.splice(i, 1);
    this.grant(name, s);
  }

  /** Leases out now. */
  value(name: string, maxLeases: number): number {
    checkName(name);
    checkCount(maxLeases, "maxLeases");
    return this.sems.get(name)?.leases.length ?? 0;
  }

  /** A client left: its waits are withdrawn and its leases given back. */
  clientLeft(client: string): void {
    for (const [name, s] of [...this.sems]) {
      for (const w of s.waiters.removeClient(client)) w.resolve(false);
      for (let i = s.leases.length - 1; i >= 0; i--) if (s.leases[i]!.client === client) s.leases.splice(i, 1);
      this.grant(name, s);
    }
  }

  private grant(name: string, s: SemaphoreEntry): void {
    while (s.leases.length < s.maxLeases) {
      const w = s.waiters.shift();
      if (w === undefined) break;
      s.leases.push(w.data);
      w.resolve(true);
    }
    this.forgetIfIdle(name, s);
  }

  private forgetIfIdle(name: string, s: SemaphoreEntry): void {
    if (s.leases.length === 0 && s.waiters.size === 0) this.sems.delete(name);
  }
}

// ---------------------------------------------------------------- datasets

/**
 * Named datasets: values published under a name until unpublished. `get`
 * of a name not published fails at once, or with a `timeoutMs` waits for
 * it to be published.
 *
 * @example
 * ```ts
 * const ds = new DatasetTable();
 * ds.publish("model", { weights: [1, 2] });
 * await ds.get("model", "c2"); // { weights: [1, 2] }
 * ds.list(); // ["model"]
 * ```
 */
export class DatasetTable extends Table {
  private readonly values = new Map<string, unknown>();
  private readonly waiters = new Map<string, WaitList<unknown, undefined>>();

  /** Publish; a name in use is a {@link DatasetExistsError} unless `override`. */
  publish(name: string, value: unknown, override = false): void {
    checkName(name);
    const had = this.values.has(name);
    if (had && !override) throw new DatasetExistsError(name);
    const old = this.values.get(name);
    this.values.set(name, value);
    const ws = this.waiters.get(name);
    this.waiters.delete(name);
    for (const w of ws?.drain() ?? []) {
      this.hooks.handOver?.(value, w.client, name);
      w.resolve(value);
    }
    if (had) this.hooks.dropped?.(old, name);
  }

  /** The value; an unknown name is an {@link UnknownNameError}, or with `timeoutMs` is waited for. */
  get(name: string, client: string, timeoutMs?: number): Promise<unknown> {
    checkName(name);
    const timeout = checkTimeout(timeoutMs);
    if (this.values.has(name)) {
      const v = this.values.get(name);
      this.hooks.handOver?.(v, client, name);
      return Promise.resolve(v);
    }
    if (timeout === undefined) throw new UnknownNameError("dataset", name);
    let ws = this.waiters.get(name);
    if (ws === undefined) this.waiters.set(name, (ws = new WaitList(this.timers)));
    const list = ws;
    return list.add(client, undefined, timeout, (w) => {
      w.reject(new TimeoutError(`get dataset ${JSON.stringify(name)} (it was not published)`, timeout));
      if (list.size === 0 && this.waiters.get(name) === list) this.waiters.delete(name);
    });
  }

  /** Published names, in publishing order. */
  list(): string[] {
    return [...this.values.keys()];
  }

  /** Unpublish; an unknown name is an {@link UnknownNameError}. */
  unpublish(name: string): void {
    checkName(name);
    if (!this.values.has(name)) throw new UnknownNameError("dataset", name);
    const old = this.values.get(name);
    this.values.delete(name);
    this.hooks.dropped?.(old, name);
  }

  /** A client left: its waiting gets are withdrawn. */
  clientLeft(client: string): void {
    for (const [name, ws] of [...this.waiters]) {
      for (const w of ws.removeClient(client)) w.reject(new ClosedError("The client"));
      if (ws.size === 0) this.waiters.delete(name);
    }
  }
}

// ---------------------------------------------------------------- values with futures

/**
 * One step into a value: an array index, an object property, or `[i]`, the
 * value of a `Map`'s i-th entry.
 *
 * @example
 * ```ts
 * const path: PathStep[] = ["inputs", 2, [0]]; // value.inputs[2]'s first Map entry's value
 * ```
 */
export type PathStep = number | string | readonly [number];

/**
 * A value as it crosses to the scheduler's stores: each future in it is
 * replaced by its key, and `futures` lists where those keys are.
 *
 * @example
 * ```ts
 * const sv: SharedValue = { value: { model: "train-4f2a" }, futures: [["model"]] };
 * ```
 */
export interface SharedValue {
  readonly value: unknown;
  readonly futures: readonly (readonly PathStep[])[];
}

/** Follow a path into a (decoded) value: what it leads to, and the container and step of its last hop. */
export function followPath(value: unknown, path: readonly PathStep[]): { parent: unknown; step: PathStep | undefined; found: boolean; value: unknown } {
  let parent: unknown = undefined;
  let step: PathStep | undefined = undefined;
  let cur = value;
  for (const s of path) {
    parent = cur;
    step = s;
    if (typeof s === "number") {
      if (!Array.isArray(cur) || !Number.isInteger(s) || s < 0 || s >= cur.length) return { parent, step, found: false, value: undefined };
      cur = cur[s];
    } else if (typeof s === "string") {
      if (typeof cur !== "object" || cur === null || cur instanceof Map || !Object.hasOwn(cur, s)) return { parent, step, found: false, value: undefined };
      cur = (cur as Record<string, unknown>)[s];
    } else if (Array.isArray(s) && s.length === 1 && typeof s[0] === "number") {
      if (!(cur instanceof Map) || !Number.isInteger(s[0]) || s[0] < 0 || s[0] >= cur.size) return { parent, step, found: false, value: undefined };
      cur = [...cur.values()][s[0]];
    } else return { parent, step, found: false, value: undefined };
  }
  return { parent, step, found: true, value: cur };
}

/**
 * The keys of the futures in a shared value, checking its shape (it came
 * from the network).
 *
 * @example
 * ```ts
 * sharedKeys({ value: ["a-1", 3], futures: [[0]] }); // ["a-1"]
 * ```
 */
export function sharedKeys(sv: unknown, argument = "value"): Key[] {
  if (typeof sv !== "object" || sv === null || !("futures" in sv) || !Array.isArray(sv.futures) || !("value" in sv)) {
    throw new InvalidArgumentError(argument, "A shared value must be { value, futures } as the client sends it.");
  }
  const keys: Key[] = [];
  for (const path of sv.futures as unknown[]) {
    if (!Array.isArray(path)) throw new InvalidArgumentError(argument, "A future's path must be an array of steps.");
    const at = followPath(sv.value, path as PathStep[]);
    if (!at.found || typeof at.value !== "string") throw new InvalidArgumentError(argument, `No future's key at path ${JSON.stringify(path)}.`);
    keys.push(at.value);
  }
  return keys;
}

// ---------------------------------------------------------------- the services

/** The names of the services {@link CoordinationServices} registers. */
export const COORDINATION_SERVICES = ["queue", "variable", "lock", "event", "semaphore", "dataset"] as const;

/** Request arguments as they arrive: checked field by field. */
class Args {
  private readonly rec: Record<string, unknown>;
  constructor(args: unknown, service: string) {
    if (typeof args !== "object" || args === null || Array.isArray(args)) throw new InvalidArgumentError("args", `A ${service} request must be an object.`);
    this.rec = args as Record<string, unknown>;
  }
  op(): string {
    const op = this.rec["op"];
    if (typeof op !== "string") throw new InvalidArgumentError("op", "A request needs an op.");
    return op;
  }
  str(field: string): string {
    return checkName(this.rec[field], field);
  }
  raw(field: string): unknown {
    return this.rec[field];
  }
  optNum(field: string): number | undefined {
    const v = this.rec[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number") throw new InvalidArgumentError(field, `${field} must be a number, got ${describe(v)}.`);
    return v;
  }
  num(field: string): number {
    const v = this.optNum(field);
    if (v === undefined) throw new InvalidArgumentError(field, `${field} is required.`);
    return v;
  }
  optBool(field: string): boolean | undefined {
    const v = this.rec[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") throw new InvalidArgumentError(field, `${field} must be true or false, got ${describe(v)}.`);
    return v;
  }
  owner(client: string): Owner {
    return { client, instance: this.str("instance") };
  }
}

function unknownOp(service: string, op: string): never {
  throw new InvalidArgumentError("op", `The ${service} service has no op ${JSON.stringify(op)}.`);
}

/**
 * Keys wanted on behalf of the stores: each holder (`queue:<name>`, ...) is
 * a scheduler client of its own wanting the keys of the values it keeps,
 * counted, since one key can sit in several values.
 */
class KeyPins {
  private readonly pins = new Map<string, Map<Key, number>>();

  constructor(private readonly shell: SchedulerShell) {}

  /** Every key must be known to the scheduler (a live future's key). */
  check(keys: readonly Key[]): void {
    for (const k of keys) if (!this.shell.state.tasks.has(k)) throw new MissingKeyError(k);
  }

  pin(holder: string, keys: readonly Key[]): void {
    if (keys.length === 0) return;
    this.check(keys);
    let mine = this.pins.get(holder);
    if (mine === undefined) {
      mine = new Map();
      this.pins.set(holder, mine);
      this.shell.addClient(holder, () => {});
    }
    const fresh: Key[] = [];
    for (const k of keys) {
      const n = mine.get(k) ?? 0;
      if (n === 0) fresh.push(k);
      mine.set(k, n + 1);
    }
    if (fresh.length > 0) this.want(holder, fresh);
  }

  unpin(holder: string, keys: readonly Key[]): void {
    const mine = this.pins.get(holder);
    if (mine === undefined || keys.length === 0) return;
    const gone: Key[] = [];
    for (const k of keys) {
      const n = mine.get(k) ?? 0;
      if (n <= 1) {
        if (mine.delete(k)) gone.push(k);
      } else mine.set(k, n - 1);
    }
    if (mine.size === 0) {
      this.pins.delete(holder);
      this.shell.removeClient(holder);
    } else if (gone.length > 0) {
      this.shell.stimulus({ type: "client-releases-keys", client: holder, keys: gone, stimulusId: this.shell.stimulusId("coordination-release") });
    }
  }

  /** Make a (real) client want keys: it is receiving futures of them. */
  want(client: string, keys: readonly Key[]): void {
    // A stored future force-cancelled meanwhile is gone: the client hears so when it adopts the key.
    keys = keys.filter((k) => this.shell.state.tasks.has(k));
    if (keys.length === 0) return;
    this.shell.stimulus({ type: "update-graph", client, tasks: [], keys, deliver: false, stimulusId: this.shell.stimulusId("coordination-want") });
  }
}

/**
 * The coordination services of a scheduler: the tables above behind
 * `SchedulerServer.addService`, with futures' keys kept alive while stored
 * (pinned by the scheduler client `<kind>:<name>` of the store).
 *
 * @example
 * ```ts
 * new CoordinationServices(server.shell).register(server);
 * ```
 */
export class CoordinationServices {
  readonly queues: QueueTable;
  readonly variables: VariableTable;
  readonly locks: LockTable;
  readonly events: EventTable;
  readonly semaphores: SemaphoreTable;
  readonly datasets: DatasetTable;
  private readonly pins: KeyPins;

  constructor(shell: SchedulerShell, timers: Timers = realTimers) {
    const pins = new KeyPins(shell);
    this.pins = pins;
    const keep = (kind: string): ValueHooks => ({
      handOver: (v, client) => pins.want(client, sharedKeys(v)),
      dropped: (v, name) => pins.unpin(`${kind}:${name}`, sharedKeys(v)),
    });
    this.queues = new QueueTable({ timers, hooks: keep("queue") });
    this.variables = new VariableTable({ timers, hooks: keep("variable") });
    this.datasets = new DatasetTable({ timers, hooks: keep("dataset") });
    this.locks = new LockTable({ timers });
    this.events = new EventTable({ timers });
    this.semaphores = new SemaphoreTable({ timers });
  }

  /**
   * Store a value with `op`: its keys are pinned for `<kind>:<name>` first,
   * and unpinned again if `op` refuses it (throws before storing it).
   */
  private storing<T>(kind: string, name: string, sv: unknown, op: (stored: unknown) => T): T {
    const keys = sharedKeys(sv);
    const holder = `${kind}:${name}`;
    this.pins.pin(holder, keys);
    try {
      return op(sv);
    } catch (err) {
      this.pins.unpin(holder, keys);
      throw err;
    }
  }

  /**
   * Register every service on a scheduler server.
   *
   * @example
   * ```ts
   * new CoordinationServices(server.shell).register(server);
   * ```
   */
  register(server: { addService(name: string, handler: ServiceHandler): void }): void {
    server.addService("queue", { handle: (a, c) => this.queue(new Args(a, "queue"), c), clientLeft: (c) => this.queues.clientLeft(c) });
    server.addService("variable", { handle: (a, c) => this.variable(new Args(a, "variable"), c), clientLeft: (c) => this.variables.clientLeft(c) });
    server.addService("lock", { handle: (a, c) => this.lock(new Args(a, "lock"), c), clientLeft: (c) => this.locks.clientLeft(c) });
    server.addService("event", { handle: (a, c) => this.event(new Args(a, "event"), c), clientLeft: (c) => this.events.clientLeft(c) });
    server.addService("semaphore", { handle: (a, c) => this.semaphore(new Args(a, "semaphore"), c), clientLeft: (c) => this.semaphores.clientLeft(c) });
    server.addService("dataset", { handle: (a, c) => this.dataset(new Args(a, "dataset"), c), clientLeft: (c) => this.datasets.clientLeft(c) });
  }

  /** A client left: every table lets go of what it held or waited for. */
  clientLeft(client: string): void {
    this.queues.clientLeft(client);
    this.variables.clientLeft(client);
    this.locks.clientLeft(client);
    this.events.clientLeft(client);
    this.semaphores.clientLeft(client);
    this.datasets.clientLeft(client);
  }

  private queue(a: Args, client: string): unknown {
    const op = a.op();
    const name = a.str("name");
    const maxsize = a.optNum("maxsize");
    switch (op) {
      case "put": {
        const sv = a.raw("value");
        const timeoutMs = a.optNum("timeoutMs");
        return this.storing("queue", name, sv, (stored) => this.queues.put(name, maxsize, client, stored, timeoutMs));
      }
      case "get": {
        const batch = a.raw("batch");
        if (batch !== undefined && batch !== null && batch !== "all" && typeof batch !== "number") {
          throw new InvalidArgumentError("batch", `batch must be a number or "all", got ${describe(batch)}.`);
        }
        return this.queues.get(name, maxsize, client, { timeoutMs: a.optNum("timeoutMs"), batch: batch ?? undefined });
      }
      case "qsize":
        return this.queues.qsize(name);
      default:
        return unknownOp("queue", op);
    }
  }

  private variable(a: Args, client: string): unknown {
    const op = a.op();
    const name = a.str("name");
    switch (op) {
      case "set":
        this.storing("variable", name, a.raw("value"), (stored) => this.variables.set(name, stored));
        return null;
      case "get":
        return this.variables.get(name, client, a.optNum("timeoutMs"));
      case "delete":
        this.variables.delete(name);
        return null;
      default:
        return unknownOp("variable", op);
    }
  }

  private lock(a: Args, client: string): unknown {
    const op = a.op();
    const name = a.str("name");
    switch (op) {
      case "acquire":
        return this.locks.acquire(name, a.owner(client), { timeoutMs: a.optNum("timeoutMs"), blocking: a.optBool("blocking") });
      case "release":
        this.locks.release(name, a.owner(client));
        return null;
      case "locked":
        return this.locks.locked(name);
      default:
        return unknownOp("lock", op);
    }
  }

  private event(a: Args, client: string): unknown {
    const op = a.op();
    const name = a.str("name");
    switch (op) {
      case "set":
        this.events.set(name);
        return null;
      case "clear":
        this.events.clear(name);
        return null;
      case "isSet":
        return this.events.isSet(name);
      case "wait":
        return this.events.wait(name, client, a.optNum("timeoutMs"));
      default:
        return unknownOp("event", op);
    }
  }

  private semaphore(a: Args, client: string): unknown {
    const op = a.op();
    const name = a.str("name");
    const maxLeases = a.num("maxLeases");
    switch (op) {
      case "acquire":
        return this.semaphores.acquire(name, maxLeases, a.owner(client), a.optNum("timeoutMs"));
      case "release":
        this.semaphores.release(name, maxLeases, a.owner(client));
        return null;
      case "getValue":
        return this.semaphores.value(name, maxLeases);
      default:
        return unknownOp("semaphore", op);
    }
  }

  private dataset(a: Args, client: string): unknown {
    const op = a.op();
    if (op === "list") return this.datasets.list();
    const name = a.str("name");
    switch (op) {
      case "publish": {
        const override = a.optBool("override") ?? false;
        this.storing("dataset", name, a.raw("value"), (stored) => this.datasets.publish(name, stored, override));
        return null;
      }
      case "get":
        return this.datasets.get(name, client, a.optNum("timeoutMs"));
      case "unpublish":
        this.datasets.unpublish(name);
        return null;
      default:
        return unknownOp("dataset", op);
    }
  }
}
