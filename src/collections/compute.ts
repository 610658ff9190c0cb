/**
 * The collection protocol's engine: gather the graph behind one or more lazy
 * values, optimize it, pick a scheduler, run it, and put the results back in
 * the shape the caller gave. `compute(a, b)` merges both graphs first, so
 * shared intermediates run once.
 *
 * Scheduler choice: `options.scheduler` if given; otherwise the default set
 * with {@link setDefaultScheduler} (a connected Client sets itself); otherwise
 * the embedded local cluster, started on first use.
 *
 * @example
 * ```ts
 * const [total, count] = await compute(sum(parts), count(parts), { scheduler: "sync" });
 * ```
 * @module
 */
import { InvalidArgumentError } from "../core/errors.js";
import type { Graph, GraphNode, Key } from "../core/graph.js";
import { optimize, type OptimizeOptions } from "../core/optimize/index.js";
import { defaultLocalCluster } from "../client/embedded.js";
import { syncScheduler } from "../scheduler/sync.js";
import type { HeldKey, Scheduler } from "../scheduler/types.js";
import { getDefaultScheduler } from "../scheduler/default.js";
export { setDefaultScheduler } from "../scheduler/default.js";
import type { VisualizeOptions, VisualizeResult } from "../diagnostics/visualize.js";
import type { Delayed } from "./delayed.js";

/** @internal The node of a Delayed, or undefined for a held key. */
export const kGraphNode: unique symbol = Symbol("dask-ts.graphNode");
/** @internal The Delayed values a Delayed's node refers to. */
export const kDeps: unique symbol = Symbol("dask-ts.deps");
/** @internal Where a persisted value is held. */
export const kHeld: unique symbol = Symbol("dask-ts.held");
/** @internal A copy of a Delayed (same key and shape) backed by a held key or a literal node. */
export const kRebind: unique symbol = Symbol("dask-ts.rebind");
/** @internal How a collection made of several lazy values takes part in compute/persist/visualize. */
export const kCollection: unique symbol = Symbol("dask-ts.collection");
/** @internal Type-level only: what a collection computes to. */
export declare const kResultType: unique symbol;

/**
 * @internal The collection protocol: a lazy collection (a bag, later arrays
 * and dataframes) is a list of Delayed values (its partitions) plus what to
 * do with their results. `compute` merges the graphs of everything it is
 * given, runs them together, and calls `finalize` with the partitions'
 * values in order; `persist` calls `rebuild` with the persisted partitions.
 */
export interface CollectionParts {
  readonly roots: readonly Delayed[];
  finalize(values: readonly unknown[]): unknown;
  rebuild(persisted: readonly Delayed[]): unknown;
}

/**
 * A lazy collection made of partitions (a bag; later arrays and dataframes):
 * `compute`, `persist` and `visualize` accept it next to Delayed values.
 *
 * @example
 * ```ts
 * const [items, total] = await compute(bag, bag.sum()); // one run, shared partitions
 * ```
 */
export interface Collection<R = unknown> {
  /** @internal */
  [kCollection](): CollectionParts;
  /** @internal Type-level only: what the collection computes to. */
  readonly [kResultType]?: R;
}

function isCollection(v: unknown): v is Collection {
  return typeof v === "object" && v !== null && kCollection in v;
}

/** @internal The last {@link collect} walk that reached a Delayed (a mark on the value, not a set of them). */
export const kVisited: unique symbol = Symbol("dask-ts.visited");

let walks = 0;

/**
 * Names accepted by the `scheduler` option.
 *
 * @example
 * ```ts
 * const name: SchedulerName = "sync";
 * await x.compute({ scheduler: name });
 * ```
 */
export type SchedulerName = "sync" | "synchronous" | "single-threaded" | "embedded" | "threads" | "local";

/**
 * Options of `compute`, `persist` and friends.
 *
 * @example
 * ```ts
 * await x.compute({ scheduler: "sync", optimize: { fuse: false }, priority: 10 });
 * ```
 */
export interface ComputeOptions {
  /** Where to run: a name (`"sync"`, `"embedded"`) or a scheduler object (a `LocalCluster`, a `Client`). */
  readonly scheduler?: SchedulerName | Scheduler;
  /** Optimization passes; `false` switches all off. Default: all on. */
  readonly optimize?: OptimizeOptions | false;
  /** Priority against other computations on the same scheduler (higher first). Default 0. */
  readonly priority?: number;
}

const OPTION_NAMES = new Set(["scheduler", "optimize", "priority"]);

/** @internal Resolve the scheduler option. */
export async function resolveScheduler(option: ComputeOptions["scheduler"]): Promise<Scheduler> {
  if (option === undefined) return getDefaultScheduler() ?? (await defaultLocalCluster());
  if (typeof option === "object" && option !== null && typeof (option as Scheduler).compute === "function") return option;
  switch (option) {
    case "sync":
    case "synchronous":
    case "single-threaded":
      return syncScheduler;
    case "embedded":
    case "threads":
    case "local":
      return await defaultLocalCluster();
    default:
      throw new InvalidArgumentError(
        "scheduler",
        `Unknown scheduler ${JSON.stringify(option)}. Use "sync", "embedded", or a scheduler object such as a LocalCluster or Client.`,
      );
  }
}

function isDelayed(v: unknown): v is Delayed {
  return typeof v === "object" && v !== null && kGraphNode in v;
}

interface Collected {
  readonly graph: Graph;
  /** Keys held by a scheduler, not in the graph. */
  readonly held: Map<Key, HeldKey>;
}

/** Walk the Delayed values' dependencies (iteratively: chains may be very long) into one graph. */
/** @internal */
export function collect(roots: readonly Delayed[]): Collected {
  const graph: Graph = new Map();
  const held = new Map<Key, HeldKey>();
  const walk = ++walks;
  const stack: Delayed[] = [];
  const post: Delayed[] = [];
  for (const r of roots) {
    if (r[kVisited] === walk) continue;
    r[kVisited] = walk;
    stack.push(r);
  }
  while (stack.length > 0) {
    const d = stack.pop()!;
    post.push(d);
    for (const dep of d[kDeps]) {
      if (dep[kVisited] !== walk) {
        dep[kVisited] = walk;
        stack.push(dep);
      }
    }
  }
  // Dependencies first, so the graph's insertion order is a valid topological order.
  for (let i = post.length - 1; i >= 0; i--) {
    const d = post[i]!;
    const h = d[kHeld];
    if (h !== undefined) held.set(d.key, h);
    else graph.set(d.key, d[kGraphNode] as GraphNode);
  }
  return { graph, held };
}

/** Every Delayed inside a value (arrays and plain objects are searched). */
function findDelayed(value: unknown, out: Delayed[], depth = 0): void {
  if (isDelayed(value)) out.push(value);
  else if (isCollection(value)) for (const r of value[kCollection]().roots) out.push(r);
  else if (depth < 64 && Array.isArray(value)) for (const v of value) findDelayed(v, out, depth + 1);
  else if (depth < 64 && typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) findDelayed(v, out, depth + 1);
  }
}

/** Put results back where the Delayed values were. */
function rebuild(value: unknown, results: Map<Key, unknown>, depth = 0): unknown {
  if (isDelayed(value)) return results.get(value.key);
  if (isCollection(value)) {
    const parts = value[kCollection]();
    return parts.finalize(parts.roots.map((r) => results.get(r.key)));
  }
  if (depth < 64 && Array.isArray(value)) return value.map((v) => rebuild(v, results, depth + 1));
  if (depth < 64 && typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = rebuild(v, results, depth + 1);
    return out;
  }
  return value;
}

/** Prepare the graph for a scheduler: held keys of another scheduler are fetched and inlined as literals. */
async function prepare(roots: readonly Delayed[], scheduler: Scheduler, options: ComputeOptions): Promise<Graph> {
  const { graph, held } = collect(roots);
  const foreign = [...held].filter(([k, h]) => h.scheduler !== scheduler || !scheduler.holds(k));
  if (foreign.length > 0) {
    const values = await Promise.all(foreign.map(([k, h]) => h.scheduler.gather([k]).then(([v]) => [k, v] as const)));
    const withValues: Graph = new Map();
    for (const [k, v] of values) withValues.set(k, { kind: "literal", value: v });
    for (const [k, n] of graph) withValues.set(k, n);
    return finish(withValues, roots, options);
  }
  return finish(graph, roots, options);
}

function finish(graph: Graph, roots: readonly Delayed[], options: ComputeOptions): Graph {
  const keys = roots.filter((r) => graph.has(r.key)).map((r) => r.key);
  // Validation (missing keys, cycles) is each scheduler's job: it sees the graph as run.
  if (options.optimize === false) return graph;
  // `collect` gathers exactly what the roots need: culling would walk the whole graph to drop nothing.
  return optimize(graph, keys, { ...options.optimize, cull: false });
}

function splitOptions(args: readonly unknown[]): [unknown[], ComputeOptions] {
  const last = args[args.length - 1];
  if (
    args.length > 0 &&
    typeof last === "object" &&
    last !== null &&
    !isDelayed(last) &&
    Object.getPrototypeOf(last) === Object.prototype &&
    Object.keys(last).length > 0 &&
    Object.keys(last).every((k) => OPTION_NAMES.has(k))
  ) {
    return [args.slice(0, -1), last as ComputeOptions];
  }
  return [[...args], {}];
}

/**
 * The value a lazy argument computes to: a Delayed's value, arrays and plain objects rebuilt, anything else as it is.
 *
 * @example
 * ```ts
 * type R = Resolved<{ a: Delayed<number>; b: string }>; // { a: number; b: string }
 * ```
 */
export type Resolved<T> =
  T extends Delayed<infer V>
    ? V
    : T extends Collection<infer R>
      ? R
    : T extends readonly unknown[]
      ? { -readonly [K in keyof T]: Resolved<T[K]> }
      : T extends (...args: never[]) => unknown
        ? T
        : T extends object
          ? { -readonly [K in keyof T]: Resolved<T[K]> }
          : T;

/**
 * Results of computing each argument (see {@link Resolved}).
 *
 * @example
 * ```ts
 * const [n, list]: Computed<[Delayed<number>, Delayed<number>[]]> = await compute(a, [b, c]);
 * ```
 */
export type Computed<T extends readonly unknown[]> = ResolvedEach<WithoutOptions<T>>;

/** {@link Resolved} of each element (a mapped type over a type parameter keeps tuples tuples). */
type ResolvedEach<T extends readonly unknown[]> = { -readonly [K in keyof T]: Resolved<T[K]> };

/** The arguments of `compute` without a trailing options object, as {@link splitOptions} takes it off at run time. */
type WithoutOptions<T extends readonly unknown[]> = T extends readonly [...infer V extends readonly unknown[], infer L]
  ? L extends Delayed | Collection<unknown> | readonly unknown[] | ((...args: never[]) => unknown)
    ? T
    : L extends object
      ? [keyof L] extends [never]
        ? T
        : [Exclude<keyof L, keyof ComputeOptions>] extends [never]
          ? V
          : T
      : T
  : T;

/**
 * Compute several lazy values together, sharing intermediates. Arrays and
 * plain objects holding Delayed values are rebuilt with the results; other
 * values pass through. A last argument whose keys are only `scheduler`,
 * `optimize` and `priority` is taken as options.
 *
 * @example
 * ```ts
 * const [a, b] = await compute(z, inc(10));
 * const [c] = await compute(z, { scheduler: "sync" });
 * ```
 */
export async function compute<T extends readonly unknown[]>(...args: T): Promise<Computed<T>> {
  const [values, options] = splitOptions(args);
  return computeValues(values, options) as Promise<Computed<T>>;
}

/** Reject option names that do not exist: a typo must not silently change where work runs. */
function checkOptions(options: object): void {
  for (const k of Object.keys(options)) {
    if (!OPTION_NAMES.has(k)) {
      throw new InvalidArgumentError("options", `Unknown option "${k}". The options are: ${[...OPTION_NAMES].join(", ")}.`);
    }
  }
}

async function computeValues(values: readonly unknown[], options: ComputeOptions): Promise<unknown[]> {
  checkOptions(options);
  const roots: Delayed[] = [];
  for (const v of values) findDelayed(v, roots);
  if (roots.length === 0) return [...values];
  const scheduler = await resolveScheduler(options.scheduler);
  const graph = await prepare(roots, scheduler, options);
  const keys = [...new Set(roots.map((r) => r.key))];
  const out = await scheduler.compute(graph, keys, options.priority === undefined ? {} : { priority: options.priority });
  const results = new Map<Key, unknown>();
  keys.forEach((k, i) => results.set(k, out[i]));
  return values.map((v) => rebuild(v, results));
}

/** @internal */
export async function computeOne(d: Delayed | Collection, options: ComputeOptions): Promise<unknown> {
  const [v] = await computeValues([d], options);
  return v;
}

// Held results are released when the Delayed that refers to them is collected.
const releaser = new FinalizationRegistry<HeldKey>((h) => h.scheduler.release([h.key], h.claim));

/**
 * Compute several lazy values (Delayed values or collections such as bags)
 * and keep their results where they were computed. Returns new lazy values
 * of the same kinds referring to the kept results.
 *
 * @example
 * ```ts
 * const [x2, y2] = await persist(x, y);
 * ```
 */
export async function persist<T extends readonly (Delayed | Collection)[]>(...args: T): Promise<T>;
export async function persist<T extends readonly (Delayed | Collection)[]>(...args: [...T, ComputeOptions]): Promise<T>;
export async function persist(...args: readonly unknown[]): Promise<readonly unknown[]> {
  const [values, options] = splitOptions(args);
  return persistValues(values, options);
}

async function persistValues(values: readonly unknown[], options: ComputeOptions): Promise<readonly unknown[]> {
  checkOptions(options);
  if (!values.every((v) => isDelayed(v) || isCollection(v))) {
    throw new InvalidArgumentError("args", "persist takes Delayed values or collections such as bags (and optionally options last).");
  }
  const parts = values.map((v) => (isDelayed(v) ? undefined : (v as Collection)[kCollection]()));
  const roots: Delayed[] = [];
  values.forEach((v, i) => {
    if (isDelayed(v)) roots.push(v);
    else for (const r of parts[i]!.roots) roots.push(r);
  });
  const scheduler = await resolveScheduler(options.scheduler);
  const graph = await prepare(roots, scheduler, options);
  const keys = [...new Set(roots.map((r) => r.key))];
  const kept = await scheduler.persist(graph, keys, options.priority === undefined ? {} : { priority: options.priority });
  const byKey = new Map<Key, Delayed>();
  const first = new Map<Key, Delayed>();
  for (const r of roots) if (!first.has(r.key)) first.set(r.key, r);
  keys.forEach((k, i) => {
    const p = kept[i]!;
    const original = first.get(k)!;
    if (p.kind === "value") byKey.set(k, original[kRebind](undefined, { kind: "literal", value: p.value }));
    else {
      const d = original[kRebind](p.held, undefined);
      releaser.register(d, p.held);
      byKey.set(k, d);
    }
  });
  return values.map((v, i) => (isDelayed(v) ? byKey.get(v.key)! : parts[i]!.rebuild(parts[i]!.roots.map((r) => byKey.get(r.key)!))));
}

/** @internal */
export async function persistOne<T extends Delayed | Collection>(d: T, options: ComputeOptions): Promise<T> {
  const [p] = await persistValues([d], options);
  return p as T;
}

/**
 * Options of {@link visualize}: where and how to draw, and whether to draw the optimized graph.
 *
 * @example
 * ```ts
 * await x.visualize({ filename: "graph.svg", rankdir: "LR", optimize: true });
 * ```
 */
export type VisualizeGraphOptions = VisualizeOptions & { readonly optimize?: boolean };

/**
 * Draw the merged graph of several lazy values: DOT always, SVG or PNG when
 * the filename's extension or `format` asks. A last argument that is not a
 * Delayed is taken as options.
 *
 * @example
 * ```ts
 * await visualize(a, b, { filename: "ab.png" });
 * ```
 */
export async function visualize(...args: readonly (Delayed | Collection | VisualizeGraphOptions)[]): Promise<VisualizeResult> {
  const last = args[args.length - 1];
  const hasOptions = last !== undefined && !isDelayed(last) && !isCollection(last);
  const values = hasOptions ? args.slice(0, -1) : args;
  if (!values.every((v) => isDelayed(v) || isCollection(v))) {
    throw new InvalidArgumentError("args", "visualize takes Delayed values or collections, and optionally options last.");
  }
  const roots: Delayed[] = [];
  for (const v of values) findDelayed(v, roots);
  return visualizeAll(roots, hasOptions ? (last as VisualizeGraphOptions) : {});
}

/** @internal */
export async function visualizeAll(roots: readonly Delayed[], options: VisualizeGraphOptions = {}): Promise<VisualizeResult> {
  const { visualizeGraph } = await import("../diagnostics/visualize.js");
  let { graph } = collect(roots);
  if (options.optimize === true) graph = optimize(graph, roots.filter((r) => graph.has(r.key)).map((r) => r.key));
  return visualizeGraph(graph, options);
}
