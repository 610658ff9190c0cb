/**
 * What every scheduler offers the collections: run a graph and return some
 * of its values, or run it and keep the values where they are. The
 * conformance suite (`test/conformance`) runs against every implementation.
 *
 * @module
 */
import type { Graph, Key } from "../core/graph.js";

/**
 * Options of one computation, shared by every scheduler.
 *
 * @example
 * ```ts
 * await scheduler.compute(graph, ["result"], { priority: 5 } satisfies RunOptions);
 * ```
 */
export interface RunOptions {
  /** Runs before lower priorities when several computations compete. Default 0. */
  readonly priority?: number;
}

/**
 * A result kept by a scheduler after `persist`.
 *
 * @example
 * ```ts
 * const held: HeldKey = { scheduler: cluster, key: "x" };
 * const [value] = await held.scheduler.gather([held.key]);
 * ```
 */
export interface HeldKey {
  /** The scheduler that holds it. */
  readonly scheduler: Scheduler;
  readonly key: Key;
  /** Which persist holds it, when the scheduler tells claims apart. */
  readonly claim?: string;
}

/**
 * What `persist` returns per key: the value itself (local schedulers) or a handle to where it is held.
 *
 * @example
 * ```ts
 * const [kept]: PersistedValue[] = await scheduler.persist(graph, ["x"]);
 * if (kept.kind === "held") console.log(kept.held.key);
 * ```
 */
export type PersistedValue = { readonly kind: "value"; readonly value: unknown } | { readonly kind: "held"; readonly held: HeldKey };

/**
 * A scheduler: something that runs task graphs.
 *
 * @example
 * ```ts
 * const [v] = await scheduler.compute(graph, ["result"]);
 * ```
 */
export interface Scheduler {
  /** A short name for messages ("sync", "embedded", ...). */
  readonly name: string;
  /**
   * Run `graph` and resolve to the values of `keys`, in order. The graph may
   * refer to keys this scheduler already holds (from `persist`).
   */
  compute(graph: Graph, keys: readonly Key[], options?: RunOptions): Promise<unknown[]>;
  /** Run `graph` and keep the values of `keys`. */
  persist(graph: Graph, keys: readonly Key[], options?: RunOptions): Promise<PersistedValue[]>;
  /** The values of held keys. */
  gather(keys: readonly Key[]): Promise<unknown[]>;
  /** True when this scheduler holds `key`. */
  holds(key: Key): boolean;
  /** Let go of held keys: one claim (a persist's), or every claim when none is named. */
  release(keys: readonly Key[], claim?: string): void;
}
