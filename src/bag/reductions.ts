/**
 * Aggregations of a bag as tree reductions. Each partition's pipeline ends
 * in a sink that folds it into a small partial result; partials are merged
 * in groups of `splitEvery` (default 8) level by level, so no task ever
 * receives more than `splitEvery` inputs and the tree's depth grows with the
 * logarithm of the partition count. See `kernels/sinks.ts` for each sink.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.js";
import { fnRefOf } from "../core/functions.js";
import { lit, ref, type Expr } from "../core/graph.js";
import { tokenize } from "../core/tokenize.js";
import type { Delayed } from "../collections/delayed.js";
import { Bag, type KeySelector } from "./bag.js";
import { opNode, partition, partitionKey, runNode, specExpr } from "./graph.js";
import type { SinkSpec } from "./kernels/sinks.js";

/** Options shared by every aggregation. */
interface TreeOptions {
  readonly splitEvery?: number;
}

function splitEveryOf(options: TreeOptions): number {
  const s = options.splitEvery ?? 8;
  if (!Number.isInteger(s) || s < 2) throw new InvalidArgumentError("splitEvery", `splitEvery must be an integer of at least 2, got ${String(s)}.`);
  return s;
}

function tokenPart(v: unknown): unknown {
  return typeof v === "function" ? fnRefOf(v as (...a: never[]) => unknown) : v;
}

/** The tree of tasks reducing `bag` with `sink`; returns the root, computing the answer. */
function tree<R>(bag: Bag<unknown>, name: string, sink: SinkSpec, options: TreeOptions, asPartition = false): Delayed<R> {
  const splitEvery = splitEveryOf(options);
  const token = tokenize(name, bag.name, Object.entries(sink).map(([k, v]) => [k, tokenPart(v)]), splitEvery);
  const base = `${name}-part-${token}`;
  const n = bag.npartitions;
  let level: Delayed[] = bag.parts.map((p, i) => {
    const deps: Delayed[] = [p];
    const spec = sink.kind === "reduction" ? { ...sink, isLast: i === n - 1 } : sink;
    return partition<unknown>(partitionKey(base, i), runNode("items", ref(p.key), [], spec, deps), deps);
  });
  const specDeps: Delayed[] = [];
  const spec = specExpr(sink, specDeps);
  const aggregate = (key: string, inputs: Delayed[], final: boolean): Delayed => {
    const args: Expr[] = [spec, lit(final), ...inputs.map((d) => ref(d.key))];
    return partition<unknown>(key, opNode("dask.bag.aggregate", args), [...specDeps, ...inputs]);
  };
  let depth = 0;
  while (level.length > splitEvery) {
    const next: Delayed[] = [];
    for (let i = 0; i < level.length; i += splitEvery) {
      next.push(aggregate(partitionKey(`${name}-combine-${depth}-${token}`, next.length), level.slice(i, i + splitEvery), false));
    }
    level = next;
    depth++;
  }
  const rootKey = asPartition ? partitionKey(`${name}-${token}`, 0) : `${name}-${token}`;
  return aggregate(rootKey, level, true) as Delayed<R>;
}

/** A one-partition bag whose partition is the root of a tree. */
function bagOfOne<T>(bag: Bag<unknown>, name: string, sink: SinkSpec, options: TreeOptions): Bag<T> {
  const root = tree<T[]>(bag, name, sink, options, true);
  return new Bag<T>(root.key.slice(0, root.key.lastIndexOf("[")), [root]);
}

/** `count`, `sum`, `min`, `max`, `any`, `all`. */
export function simple(bag: Bag<unknown>, kind: "count" | "sum" | "min" | "max" | "any" | "all", options: TreeOptions): Delayed<unknown> {
  return tree(bag, kind, { kind }, options);
}

/** `mean`, `var`, `std` from counts, sums and sums of squares. */
export function moments(bag: Bag<unknown>, stat: "mean" | "var" | "std", ddof: number, options: TreeOptions): Delayed<number> {
  if (!Number.isFinite(ddof) || ddof < 0) throw new InvalidArgumentError("ddof", `ddof must be a non-negative number, got ${String(ddof)}.`);
  return tree(bag, stat, { kind: "moments", stat, ddof }, options);
}

/** A user tree reduction (see `Bag.reduction`). */
export function reduction<T, P, R>(bag: Bag<T>, perpartition: (items: T[]) => P, aggregate: (results: P[]) => R, options: TreeOptions): Delayed<R> {
  if (typeof perpartition !== "function" || typeof aggregate !== "function") {
    throw new InvalidArgumentError("perpartition", "reduction(perpartition, aggregate) takes two functions.");
  }
  return tree(bag as Bag<unknown>, "reduction", { kind: "reduction", perpartition, aggregate } as SinkSpec, options);
}

/** `fold` (see `Bag.fold`). */
export function fold<T, A>(
  bag: Bag<T>,
  binop: (acc: A, x: T) => A,
  combine: ((a: A, b: A) => A) | undefined,
  options: { initial?: A; splitEvery?: number },
): Delayed<A> {
  if (typeof binop !== "function") throw new InvalidArgumentError("binop", "fold(binop) takes a function (accumulator, element) => accumulator.");
  const hasInitial = "initial" in options;
  const sink = { kind: "fold", binop, combine: combine ?? binop, hasInitial, ...(hasInitial ? { initial: options.initial } : {}) } as SinkSpec;
  return tree(bag as Bag<unknown>, "fold", sink, options);
}

/** `foldby` (see `Bag.foldby`). */
export function foldby<T, K, A>(
  bag: Bag<T>,
  key: KeySelector<T>,
  binop: (acc: A, x: T) => A,
  options: { initial?: A; combine?: (a: A, b: A) => A; combineInitial?: A; splitEvery?: number },
): Bag<[K, A]> {
  if (typeof binop !== "function") throw new InvalidArgumentError("binop", "foldby(key, binop) takes a function (accumulator, element) => accumulator.");
  const hasInitial = "initial" in options;
  const hasCombineInitial = "combineInitial" in options;
  const sink = {
    kind: "foldby",
    key,
    binop,
    hasInitial,
    ...(hasInitial ? { initial: options.initial } : {}),
    combine: options.combine ?? binop,
    hasCombineInitial,
    ...(hasCombineInitial ? { combineInitial: options.combineInitial } : {}),
  } as SinkSpec;
  return bagOfOne(bag as Bag<unknown>, "foldby", sink, options);
}

/** `frequencies` (see `Bag.frequencies`). */
export function frequencies<T>(bag: Bag<T>, options: { sort?: boolean; splitEvery?: number }): Bag<[T, number]> {
  return bagOfOne(bag as Bag<unknown>, "frequencies", { kind: "frequencies", sort: options.sort === true }, options);
}

/** `topk` (see `Bag.topk`). */
export function topk<T>(bag: Bag<T>, k: number, key: KeySelector<T> | undefined, options: TreeOptions): Bag<T> {
  if (!Number.isInteger(k) || k < 0) throw new InvalidArgumentError("k", `topk needs a non-negative integer k, got ${String(k)}.`);
  return bagOfOne(bag as Bag<unknown>, "topk", { kind: "topk", k, key } as SinkSpec, options);
}

/** `distinct` (see `Bag.distinct`). */
export function distinct<T>(bag: Bag<T>, key: KeySelector<T> | undefined, options: TreeOptions): Bag<T> {
  return bagOfOne(bag as Bag<unknown>, "distinct", { kind: "distinct", key } as SinkSpec, options);
}
