/**
 * Coordination primitives shared by every client of a network cluster:
 * {@link Queue}, {@link Variable}, {@link Lock}, {@link Event} and
 * {@link Semaphore}. Each is a handle on state kept by the scheduler under a
 * name; two handles with the same name (in any client, on any machine) are
 * the same queue, lock, ... Every method is one request to the scheduler.
 *
 * - The client is `options.client`, or else the default `Client` (the one
 *   most recently connected and still open); with neither, creating a
 *   primitive throws `NoClientError`.
 * - Names default to a random token, so an unnamed primitive is private
 *   until its name is passed on.
 * - Values put in a queue or a variable travel as the wire carries them
 *   (typed arrays, `Map`, `Set`, `Date`, `bigint`, ...). Futures inside
 *   them stay on the cluster while stored, and come out as futures of the
 *   receiving client.
 * - Timeouts are in milliseconds. A lock, event or semaphore that times
 *   out answers `false`; a queue or variable rejects with `TimeoutError`.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { ClosedError, InvalidArgumentError, NoClientError, TimeoutError } from "../core/errors.js";
import { getDefaultScheduler } from "../scheduler/default.js";
import type { SharedValue } from "../scheduler/coordination.js";
import { Client, checkTimeoutOption } from "./client.js";

/**
 * Options every primitive takes.
 *
 * @example
 * ```ts
 * const q = new Queue("jobs", { client });
 * ```
 */
export interface PrimitiveOptions {
  /** The client to go through. Default: the default `Client` (the open one). */
  readonly client?: Client;
}

/**
 * A bound on how long to wait.
 *
 * @example
 * ```ts
 * await variable.get({ timeoutMs: 5_000 });
 * ```
 */
export interface WaitOptions {
  /** Milliseconds; default: as long as it takes. `0` tries once without waiting. */
  readonly timeoutMs?: number;
}

function clientFor(what: string, client: Client | undefined): Client {
  if (client !== undefined) {
    if (!(client instanceof Client)) throw new InvalidArgumentError("client", `${what} takes { client } as a Client.`);
    return client;
  }
  const d = getDefaultScheduler();
  if (d instanceof Client) return d;
  throw new NoClientError(what);
}

function nameFor(what: string, name: string | undefined): string {
  if (name === undefined) return randomUUID().replaceAll("-", "");
  if (typeof name !== "string" || name === "") throw new InvalidArgumentError("name", `A ${what}'s name must be a non-empty string.`);
  return name;
}

function timeoutArg(options: WaitOptions | undefined): { timeoutMs?: number } {
  const t = options?.timeoutMs;
  checkTimeoutOption(t);
  return t === undefined ? {} : { timeoutMs: t };
}

/**
 * A first-in first-out queue on the scheduler, for passing values between
 * clients (and tasks that connect a client). With a `maxsize`, `put` waits
 * while it is full. Items are taken in order, and waiting `get`s are served
 * in the order they arrived.
 *
 * @example
 * ```ts
 * const jobs = new Queue<number>("jobs");
 * await jobs.put(1);
 * await jobs.put(2);
 * await jobs.get(); // 1
 * await jobs.get({ batch: true }); // [2]: whatever is there now
 * ```
 */
export class Queue<T = unknown> {
  /** The queue's name on the scheduler. */
  readonly name: string;
  /** The client its requests go through. */
  readonly client: Client;
  /** The most items the queue holds, if bounded. */
  readonly maxsize: number | undefined;

  constructor(name?: string, options: PrimitiveOptions & { readonly maxsize?: number } = {}) {
    this.client = clientFor("Queue", options.client);
    this.name = nameFor("Queue", name);
    const { maxsize } = options;
    if (maxsize !== undefined && (typeof maxsize !== "number" || !Number.isInteger(maxsize) || maxsize < 1)) {
      throw new InvalidArgumentError("maxsize", `A Queue's maxsize must be a whole number ≥ 1 (leave it out for no bound), got ${String(maxsize)}.`);
    }
    this.maxsize = maxsize;
  }

  private args(op: string, more: object = {}): object {
    return { op, name: this.name, ...(this.maxsize === undefined ? {} : { maxsize: this.maxsize }), ...more };
  }

  /**
   * Add a value at the end. With a `maxsize`, waits for room; a
   * `timeoutMs` that passes first rejects with `TimeoutError` (and the
   * value is not added).
   *
   * @example
   * ```ts
   * await queue.put({ id: 7, payload: new Float64Array(1024) });
   * ```
   */
  async put(value: T, options?: WaitOptions): Promise<void> {
    const timeout = timeoutArg(options);
    await this.client.request("queue", this.args("put", { value: this.client.share(value), ...timeout }));
  }

  /**
   * Take the first value, waiting for one (up to `timeoutMs`, then
   * `TimeoutError`). `batch: n` takes `n` values together once there are
   * that many; `batch: true` takes everything there is now without waiting.
   *
   * @example
   * ```ts
   * const next = await queue.get({ timeoutMs: 1_000 });
   * const three = await queue.get({ batch: 3 });
   * ```
   */
  get(options?: WaitOptions & { readonly batch?: false }): Promise<T>;
  get(options: WaitOptions & { readonly batch: true | number }): Promise<T[]>;
  async get(options: WaitOptions & { readonly batch?: boolean | number } = {}): Promise<T | T[]> {
    const timeout = timeoutArg(options);
    const { batch } = options;
    if (batch !== undefined && typeof batch !== "boolean" && (typeof batch !== "number" || !Number.isInteger(batch) || batch < 1)) {
      throw new InvalidArgumentError("batch", `batch must be true, false or a whole number ≥ 1, got ${String(batch)}.`);
    }
    const wire = batch === true ? "all" : batch === false ? undefined : batch;
    const got = await this.client.request<SharedValue | SharedValue[]>("queue", this.args("get", { ...timeout, ...(wire === undefined ? {} : { batch: wire }) }));
    if (wire === undefined) return this.client.adopt(got as SharedValue) as T;
    return (got as SharedValue[]).map((sv) => this.client.adopt(sv) as T);
  }

  /**
   * How many values are in the queue now.
   *
   * @example
   * ```ts
   * if ((await queue.qsize()) === 0) console.log("drained");
   * ```
   */
  async qsize(): Promise<number> {
    return this.client.request<number>("queue", this.args("qsize"));
  }
}

/**
 * A named value on the scheduler that any client can set and read.
 * `get` waits until it is set.
 *
 * @example
 * ```ts
 * const stop = new Variable<boolean>("stop");
 * await stop.set(false);
 * if (await stop.get()) return;
 * ```
 */
export class Variable<T = unknown> {
  /** The variable's name on the scheduler. */
  readonly name: string;
  /** The client its requests go through. */
  readonly client: Client;

  constructor(name?: string, options: PrimitiveOptions = {}) {
    this.client = clientFor("Variable", options.client);
    this.name = nameFor("Variable", name);
  }

  /**
   * Set the value (futures in it stay on the cluster until it is replaced
   * or deleted), waking every waiting `get`.
   *
   * @example
   * ```ts
   * await variable.set(client.submit(load, "a.csv"));
   * ```
   */
  async set(value: T): Promise<void> {
    await this.client.request("variable", { op: "set", name: this.name, value: this.client.share(value) });
  }

  /**
   * The value; if it is not set, waits (up to `timeoutMs`, then `TimeoutError`).
   *
   * @example
   * ```ts
   * const config = await variable.get({ timeoutMs: 10_000 });
   * ```
   */
  async get(options?: WaitOptions): Promise<T> {
    const sv = await this.client.request<SharedValue>("variable", { op: "get", name: this.name, ...timeoutArg(options) });
    return this.client.adopt(sv) as T;
  }

  /**
   * Forget the value. A variable that is not set is an `UnknownNameError`.
   *
   * @example
   * ```ts
   * await variable.delete();
   * ```
   */
  async delete(): Promise<void> {
    await this.client.request("variable", { op: "delete", name: this.name });
  }
}

/**
 * A lock shared by every client of the cluster. It is held by one `Lock`
 * object at a time (two objects with the same name, even in one client,
 * exclude each other) and is not reentrant. Waiters get it in the order
 * they asked. If the holding client disconnects, the scheduler releases it.
 *
 * @example
 * ```ts
 * {
 *   await using lock = await Lock.hold("db");
 *   await migrate();
 * } // released here
 * const lock = new Lock("db");
 * if (await lock.acquire({ timeoutMs: 500 })) try { await work(); } finally { await lock.release(); }
 * ```
 */
export class Lock implements AsyncDisposable {
  /** The lock's name on the scheduler. */
  readonly name: string;
  /** The client its requests go through. */
  readonly client: Client;
  /** This object's identity as a holder. */
  private readonly instance = randomUUID();
  private held = false;

  constructor(name?: string, options: PrimitiveOptions = {}) {
    this.client = clientFor("Lock", options.client);
    this.name = nameFor("Lock", name);
  }

  /**
   * A held lock, for `await using`: acquired now (waiting up to
   * `timeoutMs`, then `TimeoutError`), released when the block ends.
   *
   * @example
   * ```ts
   * await using lock = await Lock.hold("db", { timeoutMs: 5_000 });
   * ```
   */
  static async hold(name?: string, options: PrimitiveOptions & WaitOptions = {}): Promise<Lock> {
    const lock = new Lock(name, options);
    if (!(await lock.acquire(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }))) {
      throw new TimeoutError(`acquire Lock ${JSON.stringify(lock.name)}`, options.timeoutMs ?? 0);
    }
    return lock;
  }

  /**
   * Take the lock: `true` once held; `false` if it is held elsewhere and
   * `blocking` is false, or `timeoutMs` passes first.
   *
   * @example
   * ```ts
   * if (await lock.acquire({ blocking: false })) console.log("got it at once");
   * ```
   */
  async acquire(options: WaitOptions & { readonly blocking?: boolean } = {}): Promise<boolean> {
    const timeout = timeoutArg(options);
    if (options.blocking === false && options.timeoutMs !== undefined) throw new InvalidArgumentError("timeoutMs", "A lock acquire with blocking: false cannot have a timeout.");
    const got = await this.client.request<boolean>("lock", {
      op: "acquire",
      name: this.name,
      instance: this.instance,
      ...timeout,
      ...(options.blocking === undefined ? {} : { blocking: options.blocking }),
    });
    if (got) this.held = true;
    return got;
  }

  /**
   * Let go of the lock; the next waiter gets it. Releasing a lock this
   * object does not hold is a `NotHeldError`.
   *
   * @example
   * ```ts
   * await lock.release();
   * ```
   */
  async release(): Promise<void> {
    await this.client.request("lock", { op: "release", name: this.name, instance: this.instance });
    this.held = false;
  }

  /**
   * Whether anyone (any client) holds the lock now.
   *
   * @example
   * ```ts
   * await lock.locked(); // true while someone holds it
   * ```
   */
  async locked(): Promise<boolean> {
    return this.client.request<boolean>("lock", { op: "locked", name: this.name });
  }

  /** Release if held; a closed client's locks were released by the scheduler already. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.held) return;
    try {
      await this.release();
    } catch (err) {
      if (!(err instanceof ClosedError)) throw err;
      this.held = false;
    }
  }
}

/**
 * A flag on the scheduler that clients set, clear and wait for.
 *
 * @example
 * ```ts
 * const ready = new Event("ready");
 * // one client:
 * await ready.set();
 * // another:
 * if (await ready.wait({ timeoutMs: 10_000 })) start();
 * ```
 */
export class Event {
  /** The event's name on the scheduler. */
  readonly name: string;
  /** The client its requests go through. */
  readonly client: Client;

  constructor(name?: string, options: PrimitiveOptions = {}) {
    this.client = clientFor("Event", options.client);
    this.name = nameFor("Event", name);
  }

  /**
   * Set the flag, waking every waiter.
   *
   * @example
   * ```ts
   * await event.set();
   * ```
   */
  async set(): Promise<void> {
    await this.client.request("event", { op: "set", name: this.name });
  }

  /**
   * Clear the flag: later waits wait again.
   *
   * @example
   * ```ts
   * await event.clear();
   * ```
   */
  async clear(): Promise<void> {
    await this.client.request("event", { op: "clear", name: this.name });
  }

  /**
   * Whether the flag is set now.
   *
   * @example
   * ```ts
   * if (await event.isSet()) console.log("already set");
   * ```
   */
  async isSet(): Promise<boolean> {
    return this.client.request<boolean>("event", { op: "isSet", name: this.name });
  }

  /**
   * Wait for the flag: `true` once set (at once if it is), `false` if
   * `timeoutMs` passes first.
   *
   * @example
   * ```ts
   * await event.wait(); // until set
   * ```
   */
  async wait(options?: WaitOptions): Promise<boolean> {
    const timeout = timeoutArg(options);
    return this.client.request<boolean>("event", { op: "wait", name: this.name, ...timeout });
  }
}

/**
 * Options of {@link Semaphore}.
 *
 * @example
 * ```ts
 * new Semaphore({ name: "database", maxLeases: 4 });
 * ```
 */
export interface SemaphoreOptions extends PrimitiveOptions {
  /** The semaphore's name on the scheduler. Default: a random token. */
  readonly name?: string;
  /** Leases out at once, at most. Default 1. Every handle of one name must agree. */
  readonly maxLeases?: number;
}

/**
 * At most `maxLeases` holders at once, across the cluster: for limiting
 * how many tasks or clients use a resource together. Leases of a client
 * that disconnects are given back.
 *
 * @example
 * ```ts
 * const db = new Semaphore({ name: "database", maxLeases: 2 });
 * await db.acquire();
 * try { await query(); } finally { await db.release(); }
 * ```
 */
export class Semaphore {
  /** The semaphore's name on the scheduler. */
  readonly name: string;
  /** Leases out at once, at most. */
  readonly maxLeases: number;
  /** The client its requests go through. */
  readonly client: Client;
  /** This object's identity as a lease holder. */
  private readonly instance = randomUUID();

  constructor(options: SemaphoreOptions = {}) {
    this.client = clientFor("Semaphore", options.client);
    this.name = nameFor("Semaphore", options.name);
    const max = options.maxLeases ?? 1;
    if (typeof max !== "number" || !Number.isInteger(max) || max < 1) throw new InvalidArgumentError("maxLeases", `maxLeases must be a whole number ≥ 1, got ${String(max)}.`);
    this.maxLeases = max;
  }

  /**
   * Take a lease: `true` once granted, `false` if `timeoutMs` passes first.
   *
   * @example
   * ```ts
   * if (await sem.acquire({ timeoutMs: 1_000 })) { ... }
   * ```
   */
  async acquire(options?: WaitOptions): Promise<boolean> {
    const timeout = timeoutArg(options);
    return this.client.request<boolean>("semaphore", { op: "acquire", name: this.name, maxLeases: this.maxLeases, instance: this.instance, ...timeout });
  }

  /**
   * Give back one lease this object holds (`NotHeldError` if it holds none).
   *
   * @example
   * ```ts
   * await sem.release();
   * ```
   */
  async release(): Promise<void> {
    await this.client.request("semaphore", { op: "release", name: this.name, maxLeases: this.maxLeases, instance: this.instance });
  }

  /**
   * How many leases are out now (held by anyone).
   *
   * @example
   * ```ts
   * await sem.getValue(); // 0 … maxLeases
   * ```
   */
  async getValue(): Promise<number> {
    return this.client.request<number>("semaphore", { op: "getValue", name: this.name, maxLeases: this.maxLeases });
  }
}
