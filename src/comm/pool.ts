/**
 * A pool of connections keyed by address, so that servers talking to many
 * peers reuse a few sockets instead of opening one per request.
 *
 * Policy: `acquire(address)` hands out an idle connection to that address
 * if there is one (the most recently used, which is the most likely to be
 * alive), else opens a new one while fewer than `limit` are open (in use,
 * idle or being opened). At the limit it closes the least recently used
 * idle connection to another address to make room; when every connection
 * is in use, callers wait in order until one is released or closes. A
 * connection that closes — in use or idle — leaves the pool by itself.
 * `close()` closes everything and fails the waiting callers.
 *
 * The pool is generic over what it holds: plain {@link TcpComm}s
 * ({@link commPool}) or anything built on one, such as an {@link Rpc}.
 *
 * @example
 * ```ts
 * const pool = commPool({ limit: 64 });
 * const comm = await pool.acquire("tcp://127.0.0.1:8786");
 * try { comm.send({ op: "ping" }); } finally { pool.release(comm); }
 * ```
 * @module
 */
import { ClosedError, InvalidArgumentError } from "../core/errors.js";
import { connect, type ConnectOptions, type TcpComm } from "./tcp.js";

/**
 * What a pool can hold: something that closes and says so.
 *
 * @example
 * ```ts
 * const item: Poolable = await connect(address);
 * ```
 */
export interface Poolable {
  readonly isClosed: boolean;
  readonly closed: Promise<unknown>;
  close(reason?: string): Promise<void> | void;
}

/**
 * Options of a {@link ConnectionPool}.
 *
 * @example
 * ```ts
 * new ConnectionPool({ open: async (a) => new Rpc(await connect(a)), limit: 128 });
 * ```
 */
export interface PoolOptions<T extends Poolable> {
  /** Open a new connection to an address. */
  readonly open: (address: string) => Promise<T>;
  /** Most connections open at once, over all addresses. Default 512. */
  readonly limit?: number;
}

interface Entry<T> {
  readonly address: string;
  readonly conn: T;
}

interface Waiter<T> {
  readonly address: string;
  resolve(conn: T): void;
  reject(err: unknown): void;
}

/**
 * Connections keyed by address, reused when idle, bounded in number.
 *
 * @example
 * ```ts
 * const pool = new ConnectionPool({ open: (a) => connect(a), limit: 4 });
 * const reply = await pool.use("tcp://127.0.0.1:8786", async (comm) => talk(comm));
 * await pool.close();
 * ```
 */
export class ConnectionPool<T extends Poolable> {
  private readonly limit: number;
  private readonly openFn: (address: string) => Promise<T>;
  /** Idle connections per address, least recently used first. */
  private readonly idleByAddress = new Map<string, T[]>();
  /** Every idle connection, least recently used first (for eviction). */
  private idleOrder: Entry<T>[] = [];
  private readonly addressOf = new Map<T, string>();
  private readonly inUse = new Set<T>();
  private opening = 0;
  private waiters: Waiter<T>[] = [];
  private closing = false;

  constructor(options: PoolOptions<T>) {
    const limit = options.limit ?? 512;
    if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError("limit", `A connection pool's limit must be an integer of at least 1, got ${limit}.`);
    this.limit = limit;
    this.openFn = options.open;
  }

  /** Connections open or being opened. */
  get open(): number {
    return this.addressOf.size + this.opening;
  }

  /** Connections open and not in use. */
  get idle(): number {
    return this.idleOrder.length;
  }

  /** Connections handed out and not yet released. */
  get active(): number {
    return this.inUse.size;
  }

  /** Callers waiting for a connection. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * A connection to `address`, for the caller alone until {@link release}.
   * Rejects with whatever opening it threw, or {@link ClosedError} once the
   * pool is closed.
   */
  acquire(address: string): Promise<T> {
    if (this.closing) return Promise.reject(new ClosedError("The connection pool"));
    return new Promise<T>((resolve, reject) => {
      this.waiters.push({ address, resolve, reject });
      this.pump();
    });
  }

  /** Give a connection back for reuse (a closed one is simply dropped). */
  release(conn: T): void {
    if (!this.inUse.delete(conn)) return;
    const address = this.addressOf.get(conn);
    if (address === undefined || conn.isClosed) return;
    if (this.closing) {
      void conn.close("the connection pool closed");
      return;
    }
    let list = this.idleByAddress.get(address);
    if (list === undefined) this.idleByAddress.set(address, (list = []));
    list.push(conn);
    this.idleOrder.push({ address, conn });
    this.pump();
  }

  /** Acquire, run `fn`, release (also when `fn` throws). */
  async use<R>(address: string, fn: (conn: T) => Promise<R> | R): Promise<R> {
    const conn = await this.acquire(address);
    try {
      return await fn(conn);
    } finally {
      this.release(conn);
    }
  }

  /** Close every connection, in use or idle, and fail the waiting callers with {@link ClosedError}. */
  async close(): Promise<void> {
    this.closing = true;
    const err = new ClosedError("The connection pool");
    for (const w of this.waiters.splice(0)) w.reject(err);
    const all = [...this.addressOf.keys()];
    this.idleByAddress.clear();
    this.idleOrder = [];
    await Promise.all(all.map((c) => c.close("the connection pool closed")));
  }

  /** Serve waiting callers, in order, while there is an idle connection for them or room for a new one. */
  private pump(): void {
    while (this.waiters.length > 0 && !this.closing) {
      const w = this.waiters[0]!;
      const idle = this.takeIdle(w.address);
      if (idle !== undefined) {
        this.waiters.shift();
        this.inUse.add(idle);
        w.resolve(idle);
        continue;
      }
      if (this.open >= this.limit && !this.evictOne()) return;
      this.waiters.shift();
      this.startOpening(w);
    }
  }

  private takeIdle(address: string): T | undefined {
    const list = this.idleByAddress.get(address);
    while (list !== undefined && list.length > 0) {
      const conn = list.pop()!;
      this.idleOrder = this.idleOrder.filter((e) => e.conn !== conn);
      if (list.length === 0) this.idleByAddress.delete(address);
      if (!conn.isClosed) return conn;
    }
    return undefined;
  }

  /** Close the least recently used idle connection; false when none is idle. */
  private evictOne(): boolean {
    const e = this.idleOrder.shift();
    if (e === undefined) return false;
    const list = this.idleByAddress.get(e.address)!;
    list.splice(list.indexOf(e.conn), 1);
    if (list.length === 0) this.idleByAddress.delete(e.address);
    this.addressOf.delete(e.conn);
    void e.conn.close("evicted from the connection pool to make room");
    return true;
  }

  private startOpening(w: Waiter<T>): void {
    this.opening++;
    this.openFn(w.address).then(
      (conn) => {
        this.opening--;
        if (this.closing) {
          void conn.close("the connection pool closed");
          w.reject(new ClosedError("The connection pool"));
          return;
        }
        this.addressOf.set(conn, w.address);
        this.inUse.add(conn);
        void conn.closed.then(() => this.drop(conn));
        w.resolve(conn);
      },
      (err: unknown) => {
        this.opening--;
        w.reject(err);
        this.pump();
      },
    );
  }

  /** A connection closed: forget it and let a waiting caller have its place. */
  private drop(conn: T): void {
    const address = this.addressOf.get(conn);
    if (address === undefined) return;
    this.addressOf.delete(conn);
    this.inUse.delete(conn);
    const list = this.idleByAddress.get(address);
    const i = list?.indexOf(conn) ?? -1;
    if (i >= 0) {
      list!.splice(i, 1);
      if (list!.length === 0) this.idleByAddress.delete(address);
      this.idleOrder = this.idleOrder.filter((e) => e.conn !== conn);
    }
    this.pump();
  }
}

/**
 * A pool of plain {@link TcpComm}s opened with {@link connect}.
 *
 * @example
 * ```ts
 * const pool = commPool({ limit: 16, connect: { role: "worker", timeoutMs: 5_000 } });
 * ```
 */
export function commPool(options: { readonly limit?: number; readonly connect?: ConnectOptions } = {}): ConnectionPool<TcpComm> {
  return new ConnectionPool<TcpComm>({
    open: (address) => connect(address, options.connect),
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  });
}
