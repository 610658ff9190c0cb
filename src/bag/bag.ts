/**
 * The `Bag` collection: an unordered-in-spirit, partitioned list of any
 * values (records, lines, JSON), processed in parallel with element-wise
 * steps and tree reductions. Everything is lazy until `compute()`.
 *
 * Element-wise steps (`map`, `filter`, `pluck`, `flatten`, ...) add one task
 * per partition; the optimizer fuses a chain of them into one pipeline per
 * partition that streams elements through every step. Reductions return a
 * `Delayed` (an "item"), which can be computed, passed to other delayed
 * functions, or given to `map` as a broadcast argument.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.js";
import { fnRefOf } from "../core/functions.js";
import { ref, type Expr } from "../core/graph.js";
import { tokenize, tokenizeSymbol } from "../core/tokenize.js";
import { Delayed } from "../collections/delayed.js";
import {
  computeOne,
  kCollection,
  persistOne,
  visualizeAll,
  type Collection,
  type CollectionParts,
  type ComputeOptions,
  type VisualizeGraphOptions,
  type kResultType,
} from "../collections/compute.js";
import type { VisualizeResult } from "../diagnostics/visualize.js";
import { partition, partitionKey, runNode } from "./graph.js";
import { zipPartitionsCaller } from "./kernels/partitions.js";
import * as reductions from "./reductions.js";
import { groupby, repartition, type GroupbyOptions } from "./shuffle.js";
import { StringAccessor } from "./str.js";
import { take, type TakeOptions } from "./take.js";
import { toTextfiles, type ToTextfilesOptions } from "./to-textfiles.js";

/**
 * An argument of `map`-like methods: a value broadcast to every element, a
 * `Delayed` computed once and broadcast, or a `Bag` zipped element by element.
 *
 * @example
 * ```ts
 * const offset: BagArg<number> = bag.mean(); // a Delayed, broadcast
 * ```
 */
export type BagArg<T> = T | Delayed<T> | Bag<T>;

/**
 * The arguments of a `map`-like method, each a {@link BagArg}.
 *
 * @example
 * ```ts
 * type A = BagArgs<[number, string]>; // [BagArg<number>, BagArg<string>]
 * ```
 */
export type BagArgs<A extends readonly unknown[]> = { [K in keyof A]: BagArg<A[K]> };

/**
 * A key to group, sort or deduplicate by: a function of the element, or a
 * field name / index of it.
 *
 * @example
 * ```ts
 * const byName: KeySelector<{ name: string }> = (r) => r.name; // or "name"
 * ```
 */
export type KeySelector<T> = ((x: T) => unknown) | (T extends readonly unknown[] ? number : T extends object ? keyof T & (string | number) : never);

/** The element type of an iterable. */
type ElementOf<T> = T extends Iterable<infer U> ? U : never;

/** What `pluck` yields for a key or a list of keys. */
type Plucked<T, K> = K extends readonly (infer E)[] ? (E extends keyof T ? T[E] : unknown)[] : K extends keyof T ? T[K] : unknown;

/**
 * A lazy, partitioned list of values.
 *
 * @example
 * ```ts
 * import * as db from "dask-ts/bag";
 * const b = db.fromSequence([1, 2, 3, 4, 5], { npartitions: 2 });
 * await b.map((x) => x * 10).filter((x) => x > 20).compute(); // [30, 40, 50]
 * await b.sum().compute();                                   // 15
 * ```
 */
export class Bag<T = unknown> implements Collection<T[]> {
  /** The name shared by this bag's partition keys (`name[0]`, `name[1]`, ...). */
  readonly name: string;
  /** @internal One Delayed list per partition. */
  readonly parts: readonly Delayed<T[]>[];
  /** @internal Type-level only. */
  declare readonly [kResultType]?: T[];

  /** @internal */
  constructor(name: string, parts: readonly Delayed<T[]>[]) {
    this.name = name;
    this.parts = parts;
  }

  /** How many partitions the bag has. */
  get npartitions(): number {
    return this.parts.length;
  }

  /** @internal */
  [kCollection](): CollectionParts {
    return {
      roots: this.parts,
      finalize: (values) => {
        const out: unknown[] = [];
        for (const v of values) for (const x of v as unknown[]) out.push(x);
        return out;
      },
      rebuild: (persisted) => new Bag<T>(this.name, persisted as Delayed<T[]>[]),
    };
  }

  /** @internal */
  [tokenizeSymbol](): string {
    return `Bag:${this.name}:${this.parts.map((p) => p.key).join(",")}`;
  }

  toString(): string {
    return `Bag<${this.name}, npartitions=${this.npartitions}>`;
  }

  // ---------------------------------------------------------------- element-wise

  /**
   * Apply `fn` to every element. Extra arguments are passed after the
   * element: other bags are zipped element by element (they must have the
   * same partitioning), Delayed values are computed once and broadcast, and
   * anything else is passed as it is.
   *
   * @example
   * ```ts
   * b.map((x) => x + 1);
   * b.map((x, y) => x + y, other);          // zipped with another bag
   * b.map((x, m) => x - m, b.mean());       // a reduction, broadcast
   * ```
   */
  map<R, A extends readonly unknown[] = []>(fn: (x: T, ...args: A) => R, ...args: BagArgs<A>): Bag<R> {
    return mapBags("map", fn as (...a: never[]) => unknown, [this, ...(args as readonly unknown[])]) as Bag<R>;
  }

  /**
   * Apply `fn` to the items of every element, which must be an array: `fn(...x, ...args)`.
   *
   * @example
   * ```ts
   * db.fromSequence([[1, 2], [3, 4]]).starmap((a: number, b: number) => a * b); // [2, 12]
   * ```
   */
  starmap<R>(fn: (...args: never[]) => R, ...args: readonly unknown[]): Bag<R> {
    return this.stage("starmap", { op: "starmap", fn, args }, [fn, args]) as Bag<R>;
  }

  /**
   * Keep the elements for which `predicate` is truthy.
   *
   * @example
   * ```ts
   * b.filter((x) => x % 2 === 0);
   * ```
   */
  filter(predicate: (x: T) => unknown): Bag<T> {
    return this.stage("filter", { op: "filter", fn: predicate, keep: true }, [predicate]) as Bag<T>;
  }

  /**
   * Drop the elements for which `predicate` is truthy (the opposite of `filter`).
   *
   * @example
   * ```ts
   * b.remove((x) => x === null);
   * ```
   */
  remove(predicate: (x: T) => unknown): Bag<T> {
    return this.stage("remove", { op: "filter", fn: predicate, keep: false }, [predicate]) as Bag<T>;
  }

  /**
   * Take a field or an index of every element; with a list of keys, an
   * array of them. An element without the key fails the task unless a
   * `fallback` is given.
   *
   * @example
   * ```ts
   * records.pluck("name");
   * records.pluck("age", 0);            // 0 where "age" is missing
   * records.pluck(["name", "age"]);     // [name, age] pairs
   * ```
   */
  pluck<K extends (keyof T & (string | number)) | readonly (keyof T & (string | number))[]>(key: K, ...fallback: [] | [unknown]): Bag<Plucked<T, K>> {
    const spec = fallback.length === 0 ? { op: "pluck", key, hasDefault: false } : { op: "pluck", key, hasDefault: true, default: fallback[0] };
    return this.stage("pluck", spec, [key, ...fallback]) as Bag<Plucked<T, K>>;
  }

  /**
   * Concatenate elements that are arrays (or other iterables) into one bag of their items.
   *
   * @example
   * ```ts
   * lines.map((l) => l.split(" ")).flatten(); // words
   * ```
   */
  flatten(): Bag<ElementOf<T>> {
    return this.stage("flatten", { op: "flatten" }, []) as Bag<ElementOf<T>>;
  }

  /**
   * Apply `fn` to each whole partition (an array); it returns the new
   * partition's elements (an array or other iterable, or a Promise of one).
   * Extra arguments work as in `map`; bags are zipped partition by partition.
   *
   * @example
   * ```ts
   * b.mapPartitions((xs) => [xs.length]); // one count per partition
   * ```
   */
  mapPartitions<R, A extends readonly unknown[] = []>(
    fn: (items: T[], ...args: A) => Iterable<R> | Promise<Iterable<R>>,
    ...args: BagArgs<A>
  ): Bag<R> {
    return mapBags("map-partitions", fn as (...a: never[]) => unknown, [this, ...(args as readonly unknown[])], true) as Bag<R>;
  }

  /**
   * Pair elements with those of a small in-memory collection (or a Delayed
   * one) whose key matches: `[otherElement, element]` for every match.
   *
   * @example
   * ```ts
   * const names = [{ id: 1, name: "Ada" }];
   * orders.join(names, (o) => o.userId, (u) => u.id); // [[{id, name}, order], ...]
   * ```
   */
  join<O>(other: Iterable<O> | Delayed<Iterable<O>>, onSelf: (x: T) => unknown, onOther: (o: O) => unknown = onSelf as unknown as (o: O) => unknown): Bag<[O, T]> {
    const otherValue = other instanceof Delayed ? other : [...other];
    return this.stage("join", { op: "join", other: otherValue, onSelf, onOther }, [otherValue, onSelf, onOther]) as Bag<[O, T]>;
  }

  /**
   * String methods on every element (a bag of strings), as Dask's `bag.str`:
   * `split`, `strip`, `lstrip`, `rstrip`, `lower`, `upper`, `startsWith`,
   * `endsWith`, `includes`, `match`. See {@link StringAccessor}.
   *
   * @example
   * ```ts
   * db.readText("books/*.txt").str.split().flatten().frequencies(); // a word count
   * ```
   */
  get str(): StringAccessor {
    return new StringAccessor(this as Bag<unknown>);
  }

  /** @internal One stage on every partition. */
  stage(name: string, spec: object, tokenParts: readonly unknown[]): Bag<unknown> {
    const token = tokenize(name, this.name, tokenParts.map((p) => (typeof p === "function" ? fnRefOf(p as (...a: never[]) => unknown) : p)));
    const out = `${name}-${token}`;
    const parts = this.parts.map((p, i) => {
      const deps: Delayed[] = [p];
      return partition<unknown>(partitionKey(out, i), runNode("items", ref(p.key), [spec], { kind: "list" }, deps), deps);
    });
    return new Bag(out, parts);
  }

  // ---------------------------------------------------------------- aggregations

  /**
   * A tree reduction with your own functions: `perpartition` gets each
   * partition's elements as an array, `aggregate` gets an array of their
   * results — at every level of the tree (groups of `splitEvery`, default
   * 8), so it must accept its own output too.
   *
   * @example
   * ```ts
   * const longest = b.reduction((xs) => Math.max(...xs), (ms) => Math.max(...ms));
   * ```
   */
  reduction<P, R = P>(perpartition: (items: T[]) => P, aggregate: (results: P[]) => R, options: { splitEvery?: number } = {}): Delayed<R> {
    return reductions.reduction(this, perpartition, aggregate, options);
  }

  /**
   * Fold with `binop(accumulator, element)`, per partition, then combine the
   * partitions' results with `combine` (default `binop`). `initial` starts
   * every partition's fold (so it is applied once per partition).
   *
   * @example
   * ```ts
   * b.fold((a, x) => a + x);                               // a sum
   * b.fold((s, x) => s.add(x), (a, b) => a.union(b), { initial: new Set() }); // needs Set.union
   * ```
   */
  fold<A = T>(binop: (acc: A, x: T) => A, combine?: (a: A, b: A) => A, options: { initial?: A; splitEvery?: number } = {}): Delayed<A> {
    return reductions.fold(this, binop, combine, options);
  }

  /**
   * Group-and-reduce without a shuffle: fold each key's elements with
   * `binop` per partition, then merge the partitions' per-key results with
   * `combine`. Returns a one-partition bag of `[key, value]` pairs.
   *
   * @example
   * ```ts
   * records.foldby("name", (total, r) => total + r.amount, { initial: 0, combine: (a, b) => a + b });
   * ```
   */
  foldby<K, A = T>(
    key: KeySelector<T>,
    binop: (acc: A, x: T) => A,
    options: { initial?: A; combine?: (a: A, b: A) => A; combineInitial?: A; splitEvery?: number } = {},
  ): Bag<[K, A]> {
    return reductions.foldby(this, key, binop, options);
  }

  /**
   * How often each distinct element occurs: a one-partition bag of
   * `[element, count]` pairs, in first-seen order or, with `sort`, most
   * frequent first.
   *
   * @example
   * ```ts
   * await words.frequencies({ sort: true }).take(3); // [["the", 912], ["a", 640], ...]
   * ```
   */
  frequencies(options: { sort?: boolean; splitEvery?: number } = {}): Bag<[T, number]> {
    return reductions.frequencies(this, options);
  }

  /**
   * The `k` largest elements, largest first, by `key` (a function, or a field
   * name or index) or by the elements themselves. Ties keep their order.
   *
   * @example
   * ```ts
   * counts.topk(10, ([, n]) => n);
   * counts.topk(10, 1);              // the same, by index
   * ```
   */
  topk(k: number, key?: KeySelector<T>, options: { splitEvery?: number } = {}): Bag<T> {
    return reductions.topk(this, k, key, options);
  }

  /**
   * The distinct elements (or the first element of each distinct `key`), in first-seen order.
   *
   * @example
   * ```ts
   * users.distinct((u) => u.id);
   * ```
   */
  distinct(key?: KeySelector<T>, options: { splitEvery?: number } = {}): Bag<T> {
    return reductions.distinct(this, key, options);
  }

  /**
   * The number of elements.
   *
   * @example
   * ```ts
   * await b.count().compute();
   * ```
   */
  count(options: { splitEvery?: number } = {}): Delayed<number> {
    return reductions.simple(this, "count", options) as Delayed<number>;
  }

  /**
   * The sum of the (numeric) elements; 0 for an empty bag.
   *
   * @example
   * ```ts
   * await b.sum().compute();
   * ```
   */
  sum(options: { splitEvery?: number } = {}): Delayed<number> {
    return reductions.simple(this, "sum", options) as Delayed<number>;
  }

  /**
   * The smallest element (numbers and strings by value, arrays item by item). Fails on an empty bag.
   *
   * @example
   * ```ts
   * await b.min().compute();
   * ```
   */
  min(options: { splitEvery?: number } = {}): Delayed<T> {
    return reductions.simple(this, "min", options) as Delayed<T>;
  }

  /**
   * The largest element. Fails on an empty bag.
   *
   * @example
   * ```ts
   * await b.max().compute();
   * ```
   */
  max(options: { splitEvery?: number } = {}): Delayed<T> {
    return reductions.simple(this, "max", options) as Delayed<T>;
  }

  /**
   * True if any element is truthy.
   *
   * @example
   * ```ts
   * await b.map((x) => x > 100).any().compute();
   * ```
   */
  any(options: { splitEvery?: number } = {}): Delayed<boolean> {
    return reductions.simple(this, "any", options) as Delayed<boolean>;
  }

  /**
   * True if every element is truthy (and for an empty bag).
   *
   * @example
   * ```ts
   * await b.map((x) => x >= 0).all().compute();
   * ```
   */
  all(options: { splitEvery?: number } = {}): Delayed<boolean> {
    return reductions.simple(this, "all", options) as Delayed<boolean>;
  }

  /**
   * The mean of the (numeric) elements.
   *
   * @example
   * ```ts
   * await b.mean().compute();
   * ```
   */
  mean(options: { splitEvery?: number } = {}): Delayed<number> {
    return reductions.moments(this, "mean", 0, options);
  }

  /**
   * The variance; `ddof` (default 0) is subtracted from the count in the divisor.
   *
   * @example
   * ```ts
   * await b.var({ ddof: 1 }).compute(); // sample variance
   * ```
   */
  var(options: { ddof?: number; splitEvery?: number } = {}): Delayed<number> {
    return reductions.moments(this, "var", options.ddof ?? 0, options);
  }

  /**
   * The standard deviation; `ddof` as in `var`.
   *
   * @example
   * ```ts
   * await b.std().compute();
   * ```
   */
  std(options: { ddof?: number; splitEvery?: number } = {}): Delayed<number> {
    return reductions.moments(this, "std", options.ddof ?? 0, options);
  }

  // ---------------------------------------------------------------- reshaping

  /**
   * Group the elements by key: a bag of `[key, elements]` pairs, shuffled
   * so each key lands in exactly one partition. See {@link GroupbyOptions}
   * for the shuffle method.
   *
   * @example
   * ```ts
   * records.groupby((r) => r.name);
   * records.groupby("name", { npartitions: 16, shuffle: "disk" });
   * ```
   */
  groupby<K = unknown>(key: KeySelector<T>, options: GroupbyOptions = {}): Bag<[K, T[]]> {
    return groupby(this, key, options) as Bag<[K, T[]]>;
  }

  /**
   * The same elements in `npartitions` partitions: neighbours are
   * concatenated, or partitions cut into even pieces.
   *
   * @example
   * ```ts
   * b.repartition(4);
   * ```
   */
  repartition(npartitions: number): Bag<T> {
    return repartition(this, npartitions);
  }

  // ---------------------------------------------------------------- results

  /**
   * Compute the bag: all elements, partition after partition.
   *
   * @example
   * ```ts
   * const items = await b.compute();
   * ```
   */
  compute(options: ComputeOptions = {}): Promise<T[]> {
    return computeOne(this, options) as Promise<T[]>;
  }

  /**
   * Compute the partitions and keep them on the cluster; the returned bag
   * starts from them.
   *
   * @example
   * ```ts
   * const parsed = await db.readText("logs/*.jsonl").map(JSON.parse).persist();
   * ```
   */
  persist(options: ComputeOptions = {}): Promise<Bag<T>> {
    return persistOne(this, options);
  }

  /**
   * Draw the bag's task graph (see `visualize` in `dask-ts`).
   *
   * @example
   * ```ts
   * await b.visualize({ filename: "bag.svg" });
   * ```
   */
  visualize(options: VisualizeGraphOptions = {}): Promise<VisualizeResult> {
    return visualizeAll(this.parts, options);
  }

  /**
   * The first `k` elements, computing only the first `npartitions`
   * partitions (default 1; -1 for all) and reading only as far as needed.
   *
   * @example
   * ```ts
   * const sample = await db.readText("big-*.txt").take(5);
   * ```
   */
  take(k: number, options: TakeOptions = {}): Promise<T[]> {
    return take(this, k, options);
  }

  /**
   * One Delayed list per partition.
   *
   * @example
   * ```ts
   * const [first] = b.toDelayed();
   * ```
   */
  toDelayed(): Delayed<T[]>[] {
    return [...this.parts];
  }

  /**
   * Write one text file per partition, elements separated by newlines
   * (strings only: map records to text first). `*` in `path` is replaced by
   * the partition number (zero-padded), or `path` is a directory. Compression
   * follows the file extension unless given. Resolves to the paths written.
   *
   * @example
   * ```ts
   * await records.map((r) => JSON.stringify(r)).toTextfiles("out/part-*.jsonl.gz");
   * ```
   */
  toTextfiles(path: string, options: ToTextfilesOptions = {}): Promise<string[]> {
    return toTextfiles(this as Bag<unknown>, path, options);
  }
}

/** A function's or value's part in a token. */
function tokenPart(v: unknown): unknown {
  return typeof v === "function" ? fnRefOf(v as (...a: never[]) => unknown) : v;
}

/**
 * `map` and `mapPartitions` over any mix of bags and other arguments: bags
 * are zipped (same number of partitions), the rest broadcast.
 */
export function mapBags(name: string, fn: (...a: never[]) => unknown, args: readonly unknown[], wholePartitions = false): Bag<unknown> {
  const bags = args.filter((a): a is Bag<unknown> => a instanceof Bag);
  if (bags.length === 0) throw new InvalidArgumentError("args", `${name} needs at least one bag among its arguments.`);
  const n = bags[0]!.npartitions;
  for (const b of bags) {
    if (b.npartitions !== n) {
      throw new InvalidArgumentError(
        "args",
        `${name}: zipped bags must have the same number of partitions (${bags.map((x) => x.npartitions).join(" vs ")}). Use repartition() to align them.`,
      );
    }
  }
  const token = tokenize(name, tokenPart(fn), args.map((a) => (a instanceof Bag ? a.name : tokenPart(a))));
  const out = `${name}-${token}`;
  const single = bags.length === 1 && args[0] === bags[0];
  const parts = Array.from({ length: n }, (_, i) => {
    const deps: Delayed[] = bags.map((b) => b.parts[i]!);
    let spec: object;
    let input: Expr;
    if (single) {
      input = ref(bags[0]!.parts[i]!.key);
      spec = wholePartitions ? { op: "partition", fn, args: args.slice(1) } : { op: "map", fn, args: args.slice(1) };
      return partition<unknown>(partitionKey(out, i), runNode("items", input, [spec], { kind: "list" }, deps), deps);
    }
    const holes: number[] = [];
    const template = args.map((a, j) => {
      if (a instanceof Bag) {
        holes.push(j);
        return null;
      }
      return a;
    });
    input = { k: "a", items: bags.map((b) => ref(b.parts[i]!.key)) };
    if (wholePartitions) {
      // Whole partitions zipped: call fn on the lists, from the zip of partitions as one element.
      spec = { op: "partition", fn: zipPartitionsCaller, args: [fn, template, holes] };
      return partition<unknown>(partitionKey(out, i), runNode("items", { k: "a", items: [input] }, [spec], { kind: "list" }, deps), deps);
    }
    spec = { op: "zipmap", fn, template, holes };
    return partition<unknown>(partitionKey(out, i), runNode("zip", input, [spec], { kind: "list" }, deps), deps);
  });
  return new Bag(out, parts);
}
