/**
 * `delayed`: make ordinary functions lazy. Calling a delayed function records
 * a task instead of running it; the result is a {@link Delayed} you can pass
 * to other delayed calls, nest in arrays and objects, index with `.get()`, and
 * finally `compute()` — all the recorded work runs in parallel, shared
 * intermediates once.
 *
 * Keys: calls are impure by default (each call gets a fresh key, as in Dask);
 * with `pure: true` the key is a hash of the function and its arguments, so
 * equal calls share one task. Item access is always pure.
 *
 * @example
 * ```ts
 * import { delayed, compute } from "dask-ts";
 * const inc = delayed((x: number) => x + 1);
 * const add = delayed((x: number, y: number) => x + y);
 * const z = add(inc(1), inc(2));
 * await z.compute();                        // 5
 * const [a, b] = await compute(z, inc(10)); // [5, 11]
 * ```
 * @module
 */
import { InvalidArgumentError } from "../core/errors.js";
import { keepShape } from "../core/shapes.js";
import { fnRefName, fnRefOf } from "../core/functions.js";
import { lit, opRef, ref, task, type Expr, type FnRef, type GraphNode, type Key } from "../core/graph.js";
import { randomKeys, tokenize, tokenizeSymbol } from "../core/tokenize.js";
import type { HeldKey } from "../scheduler/types.js";
import type { VisualizeOptions, VisualizeResult } from "../diagnostics/visualize.js";
import { kGraphNode, kDeps, kHeld, kRebind, kVisited, type ComputeOptions, type Resolved, computeOne, persistOne, visualizeAll } from "./compute.js";
import "../ops/core.js";

/**
 * A value that may be given lazily: itself, a Delayed of it, or a container holding Delayed parts.
 *
 * @example
 * ```ts
 * const arg: Lazy<number[]> = [1, inc(2), 3]; // a container with a Delayed inside
 * ```
 */
export type Lazy<T> =
  | T
  | Delayed<T>
  | (T extends readonly (infer U)[] ? readonly Lazy<U>[] : never)
  | (T extends (...args: never[]) => unknown ? never : T extends object ? { readonly [K in keyof T]: Lazy<T[K]> } : never);

/**
 * The arguments of a delayed function: each may be lazy.
 *
 * @example
 * ```ts
 * type Args = LazyArgs<[number, string]>; // [Lazy<number>, Lazy<string>]
 * ```
 */
export type LazyArgs<A extends readonly unknown[]> = { [K in keyof A]: Lazy<A[K]> };

/**
 * Options of {@link delayed} for functions.
 *
 * @example
 * ```ts
 * const opts: DelayedOptions = { pure: true, name: "load", nout: 2 };
 * delayed(loadPair, opts);
 * ```
 */
export interface DelayedOptions {
  /** Name used in keys and diagrams. Default: the function's name. */
  readonly name?: string;
  /** Same function and arguments give the same key, so equal calls are computed once. Default false. */
  readonly pure?: boolean;
  /** The call returns this many outputs, which can be destructured: `const [a, b] = f(x)`. */
  readonly nout?: number;
  /** An exact key for the (single) call, instead of a generated one. */
  readonly key?: Key;
  /**
   * Outer values the function reads, bound by name. Lets a function that
   * would otherwise be a closure be sent to workers:
   * `delayed((x) => x * k, { captures: { k } })`.
   */
  readonly captures?: Readonly<Record<string, unknown>>;
  /**
   * The function returns typed arrays or buffers it keeps no reference to:
   * move them to the caller (zero-copy transfer) instead of copying. Off by
   * default, because a function that kept one (a cache on itself or in its
   * module) would be left with a detached buffer. Buffers reachable from the
   * task's inputs, literal arguments and captured values are always copied.
   */
  readonly transfer?: boolean;
}

/**
 * A lazy result: the value of one key of a task graph.
 *
 * @example
 * ```ts
 * const d: Delayed<number> = delayed((x: number) => x + 1)(1);
 * console.log(d.key, await d.compute());
 * ```
 */
export class Delayed<T = unknown> {
  /** The key of the value in the graph. */
  readonly key: Key;
  /** @internal */
  readonly [kGraphNode]: GraphNode | undefined;
  /** @internal */
  readonly [kDeps]: readonly Delayed[];
  /** @internal */
  [kHeld]: HeldKey | undefined;
  /** @internal */
  [kVisited] = 0;
  private readonly nout: number | undefined;

  /** @internal */
  constructor(key: Key, node: GraphNode | undefined, deps: readonly Delayed[], nout?: number, held?: HeldKey) {
    this.key = key;
    this[kGraphNode] = node;
    this[kDeps] = deps;
    this[kHeld] = held;
    this.nout = nout;
  }

  /** The number of outputs, when the function was declared with `nout`. */
  get length(): number {
    if (this.nout === undefined) throw new InvalidArgumentError("nout", `Delayed ${this.key} has no known length; declare it with delayed(fn, { nout: n }).`);
    return this.nout;
  }

  /**
   * Run the graph and resolve to this value.
   *
   * @example
   * ```ts
   * await inc(1).compute();                       // 2, on every core
   * await inc(1).compute({ scheduler: "sync" });  // 2, on this thread
   * ```
   */
  compute(options: ComputeOptions = {}): Promise<T> {
    return computeOne(this, options) as Promise<T>;
  }

  /**
   * Run the graph and keep the result where it was computed; the returned
   * Delayed refers to it, so later computations start from it. Released when
   * the returned object is garbage collected.
   *
   * @example
   * ```ts
   * const big = await load(path).persist();
   * await summarize(big).compute();
   * ```
   */
  persist(options: ComputeOptions = {}): Promise<Delayed<T>> {
    return persistOne(this, options) as Promise<Delayed<T>>;
  }

  /**
   * Draw the graph behind this value: DOT text, and SVG or PNG when a
   * `filename` (by extension) or `format` asks for them.
   *
   * @example
   * ```ts
   * await total.visualize({ filename: "graph.svg" });
   * ```
   */
  visualize(options: VisualizeOptions & { readonly optimize?: boolean } = {}): Promise<VisualizeResult> {
    return visualizeAll([this], options);
  }

  /**
   * Lazy item or field access: `x.get("name")`, `x.get(0)`.
   *
   * @example
   * ```ts
   * const name = delayed(loadUser)(id).get("name");
   * ```
   */
  get<K extends keyof T & (string | number)>(key: K): Delayed<T[K]> {
    const k = `getitem-${tokenize(this.key, key)}`;
    return new Delayed<T[K]>(k, task(opRef("dask.getitem"), [ref(this.key), lit(key)]), [this]);
  }

  /** Destructure a Delayed declared with `nout`. */
  *[Symbol.iterator](): Iterator<Delayed<T extends readonly unknown[] ? T[number] : unknown>> {
    const n = this.length;
    for (let i = 0; i < n; i++) yield this.get(i as keyof T & number) as Delayed<T extends readonly unknown[] ? T[number] : unknown>;
  }

  /** @internal */
  [kRebind](held: HeldKey | undefined, node: GraphNode | undefined): Delayed<T> {
    return new Delayed<T>(this.key, node, [], this.nout, held);
  }

  /** @internal */
  [tokenizeSymbol](): string {
    return `Delayed:${this.key}`;
  }

  toString(): string {
    return `Delayed(${this.key})`;
  }
}

// A graph's Delayed values all go when the user lets go of them: see core/shapes.ts.
keepShape(new Delayed("", undefined, []));

/**
 * A function whose calls are recorded as tasks.
 *
 * @example
 * ```ts
 * const inc: DelayedFunction<[number], number> = delayed((x: number) => x + 1);
 * const pureInc = inc.withOptions({ pure: true });
 * ```
 */
export interface DelayedFunction<A extends readonly unknown[], R> {
  (...args: LazyArgs<A>): Delayed<R>;
  /** The same function with other options, e.g. `inc.withOptions({ pure: true })`. */
  withOptions(options: DelayedOptions): DelayedFunction<A, R>;
  /** How workers find the function. */
  readonly fnRef: FnRef;
}

/**
 * @internal Turn an argument into an expression, collecting the Delayed values inside
 * it. A `v` (literal) expression means nothing inside is lazy: containers
 * without Delayed parts stay as they are.
 */
export function toExpr(value: unknown, deps: Delayed[], depth = 0): Expr {
  // Functions passed as values travel by reference, like a task's own function.
  if (typeof value === "function") return { k: "f", fn: fnRefOf(value as (...a: never[]) => unknown) };
  if (typeof value !== "object" || value === null) return { k: "v", v: value };
  if (value instanceof Delayed) {
    deps.push(value);
    return ref(value.key);
  }
  if (depth > 64) return { k: "v", v: value };
  if (Array.isArray(value)) {
    // One pass, no wrapper per item: a sum over 10,000 Delayed values is the common wide call.
    const items = new Array<Expr>(value.length);
    let lazy = false;
    for (let i = 0; i < value.length; i++) {
      const e = toExpr(value[i], deps, depth + 1);
      items[i] = e;
      if (e.k !== "v") lazy = true;
    }
    return lazy ? { k: "a", items } : { k: "v", v: value };
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto === Object.prototype || proto === null) {
    const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toExpr(v, deps, depth + 1)] as const);
    return entries.some(([, e]) => e.k !== "v") ? { k: "o", entries } : { k: "v", v: value };
  }
  return { k: "v", v: value };
}

/** Shared by every Delayed without dependencies (read-only by type; frozen arrays iterate slowly). */
const NO_DELAYED: readonly Delayed[] = [];

function validateOptions(options: DelayedOptions): void {
  if (options.nout !== undefined && (!Number.isInteger(options.nout) || options.nout < 0)) {
    throw new InvalidArgumentError("nout", `nout must be a non-negative integer, got ${String(options.nout)}.`);
  }
  if (options.key !== undefined && (typeof options.key !== "string" || options.key.length === 0)) {
    throw new InvalidArgumentError("key", "key must be a non-empty string.");
  }
  if (options.captures !== undefined && (typeof options.captures !== "object" || options.captures === null)) {
    throw new InvalidArgumentError("captures", "captures must be an object mapping variable names to values.");
  }
}

function makeDelayedFunction<A extends readonly unknown[], R>(fn: (...args: A) => R, options: DelayedOptions): DelayedFunction<A, R> {
  validateOptions(options);
  const fref = fnRefOf(fn as (...args: never[]) => unknown, options.captures);
  const name = options.name ?? fnRefName(fref);
  const taskOptions = { transfer: options.transfer === true };
  const nextKey = randomKeys(name);
  const call = (...args: LazyArgs<A>): Delayed<R> => {
    const deps: Delayed[] = [];
    const exprs: Expr[] = new Array<Expr>(args.length);
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      exprs[i] = (typeof a !== "object" && typeof a !== "function") || a === null ? { k: "v", v: a } : toExpr(a, deps);
    }
    const key = options.key ?? (options.pure === true ? `${name}-${tokenize(fref, args)}` : nextKey());
    // Calls on plain values (the leaves of most graphs) share one empty dependency list.
    return new Delayed<R>(key, task(fref, exprs, taskOptions), deps.length === 0 ? NO_DELAYED : deps, options.nout);
  };
  return Object.assign(call, {
    withOptions: (more: DelayedOptions) => makeDelayedFunction(fn, { ...options, ...more }),
    fnRef: fref,
  });
}

/**
 * Make a function lazy, or wrap a value (possibly holding Delayed parts) as a
 * Delayed.
 *
 * A function that will run on worker threads must be self-contained, bind
 * outer values with `captures`, or be registered with `registerModule`;
 * otherwise `compute()` refuses it before anything runs, naming the variables
 * it closes over. The `sync` scheduler runs any function.
 *
 * @example
 * ```ts
 * const inc = delayed((x: number) => x + 1);
 * const scale = delayed((x: number) => x * k, { captures: { k: 3 } });
 * const both = delayed({ a: inc(1), b: scale(2) });  // Delayed<{ a: number; b: number }>
 * const [lo, hi] = delayed((xs: number[]) => [Math.min(...xs), Math.max(...xs)], { nout: 2 })([3, 1, 2]);
 * ```
 */
export function delayed<A extends readonly unknown[], R>(fn: (...args: A) => R, options?: DelayedOptions): DelayedFunction<A, Awaited<R>>;
export function delayed<T>(value: T, options?: Pick<DelayedOptions, "name" | "key">): Delayed<Resolved<T>>;
export function delayed(value: unknown, options: DelayedOptions = {}): unknown {
  if (typeof value === "function") return makeDelayedFunction(value as (...args: unknown[]) => unknown, options);
  if (value instanceof Delayed) return value;
  validateOptions(options);
  const deps: Delayed[] = [];
  const expr = toExpr(value, deps);
  const lazy = expr.k !== "v";
  const name = options.name ?? (Array.isArray(value) ? "list" : value === null ? "null" : typeof value === "object" ? "object" : typeof value);
  const key = options.key ?? `${name}-${tokenize(value)}`;
  const node: GraphNode = lazy ? task(opRef("dask.identity"), [expr]) : { kind: "literal", value };
  return new Delayed(key, node, deps);
}
