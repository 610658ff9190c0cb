/**
 * `Future`: a handle on one key a client asked a network cluster to compute
 * and keep. Futures of the same key share one record in their client; the
 * key is held while any of its futures is alive and released when the last
 * is garbage collected or released by hand.
 *
 * @module
 */
import type { Key } from "../core/graph.js";
import { tokenizeSymbol } from "../core/tokenize.js";

/**
 * Where a future's key stands.
 *
 * @example
 * ```ts
 * const s: FutureStatus = future.status; // "pending" | "finished" | "error" | "cancelled" | "lost"
 * ```
 */
export type FutureStatus = "pending" | "finished" | "error" | "cancelled" | "lost";

/** @internal What a Future asks of its client. */
export interface FutureOwner {
  statusOf(key: Key): FutureStatus;
  wait(key: Key): Promise<void>;
  errorOf(key: Key): Error | undefined;
  gatherOne(key: Key): Promise<unknown>;
  cancel(keys: readonly Key[], force?: boolean): Promise<void>;
  retry(keys: readonly Key[]): Promise<void>;
  retain(key: Key): void;
  releaseRef(key: Key): void;
}

// The key is released once every Future of it is gone.
const registry = new FinalizationRegistry<{ owner: FutureOwner; key: Key }>(({ owner, key }) => owner.releaseRef(key));

/**
 * A remote result: computed on the cluster and kept there until no future refers to it.
 *
 * @example
 * ```ts
 * const f = client.submit((x: number) => x + 1, 1);
 * console.log(await f.result()); // 2
 * ```
 */
export class Future<T = unknown> {
  /** The key on the cluster. */
  readonly key: Key;
  private readonly owner: FutureOwner;
  private released = false;
  private readonly token = {};

  /** @internal */
  constructor(key: Key, owner: FutureOwner) {
    this.key = key;
    this.owner = owner;
    owner.retain(key);
    registry.register(this, { owner, key }, this.token);
  }

  /** Where the computation stands. */
  get status(): FutureStatus {
    return this.owner.statusOf(this.key);
  }

  /**
   * True once the key finished, failed or was cancelled.
   *
   * @example
   * ```ts
   * if (f.done()) console.log(f.status);
   * ```
   */
  done(): boolean {
    return this.status !== "pending";
  }

  /**
   * The value, fetched from the worker that holds it. Rejects with the
   * task's error (a `TaskError` carrying the remote stack), a
   * `CancelledError` or a `FutureLostError`.
   *
   * @example
   * ```ts
   * const value = await f.result();
   * ```
   */
  async result(): Promise<T> {
    await this.owner.wait(this.key);
    const err = this.owner.errorOf(this.key);
    if (err !== undefined) throw err;
    return (await this.owner.gatherOne(this.key)) as T;
  }

  /**
   * The error the computation failed with, or `undefined` when it succeeded (waits until done).
   *
   * @example
   * ```ts
   * const err = await f.exception();
   * ```
   */
  async exception(): Promise<Error | undefined> {
    await this.owner.wait(this.key);
    return this.owner.errorOf(this.key);
  }

  /**
   * Cancel the computation (and forget the result) for every future of this
   * key in this client, and the tasks depending on it that no other client
   * wants: their futures are cancelled too. Another client's future of the
   * same key goes on, unless `force` is true, which cancels the key and its
   * dependents for every client. Resolves once the scheduler has done so.
   *
   * @example
   * ```ts
   * const x = client.submit(load, path);
   * const y = client.submit(parse, x);
   * await x.cancel();          // y.status === "cancelled" too
   * const z = client.submit(load, otherPath);
   * await z.cancel({ force: true }); // for every client that wants z
   * ```
   */
  cancel(options: { readonly force?: boolean } = {}): Promise<void> {
    return this.owner.cancel([this.key], options.force === true);
  }

  /**
   * Run the computation again if it failed: the tasks its error came from
   * (this one, or the inputs that failed first) and the failed tasks between
   * them are computed anew — after fixing what made them fail (a missing
   * file, a service that was down). Resolves once the scheduler has started
   * them; a future that did not fail is left as it is.
   *
   * @example
   * ```ts
   * const y = client.submit(parse, client.submit(download, url));
   * if (await y.exception()) {
   *   await y.retry();          // the failed download runs again, then parse
   *   console.log(await y.result());
   * }
   * ```
   */
  retry(): Promise<void> {
    return this.owner.retry([this.key]);
  }

  /**
   * Drop this handle now instead of waiting for garbage collection.
   *
   * @example
   * ```ts
   * f.release();
   * ```
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    registry.unregister(this.token);
    this.owner.releaseRef(this.key);
  }

  /** @internal */
  [tokenizeSymbol](): string {
    return `Future:${this.key}`;
  }

  toString(): string {
    return `Future(${this.key}, ${this.status})`;
  }
}
