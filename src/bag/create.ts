/**
 * Making bags from values already in memory, ranges, and Delayed lists.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.js";
import { lit, ref } from "../core/graph.js";
import { tokenize } from "../core/tokenize.js";
import { Delayed } from "../collections/delayed.js";
import { Bag, mapBags, type BagArgs } from "./bag.js";
import { partition, partitionKey, runNode } from "./graph.js";

/**
 * Options of {@link fromSequence}: give at most one.
 *
 * @example
 * ```ts
 * const opts: FromSequenceOptions = { npartitions: 4 };
 * ```
 */
export interface FromSequenceOptions {
  /** Split into this many partitions (of `ceil(length / npartitions)` elements). */
  readonly npartitions?: number;
  /** Put this many elements in each partition. */
  readonly partitionSize?: number;
}

function positiveInt(name: string, v: unknown): number {
  if (!Number.isInteger(v) || (v as number) < 1) throw new InvalidArgumentError(name, `${name} must be a positive integer, got ${String(v)}.`);
  return v as number;
}

/**
 * A bag of the given values. Without options, as in Dask: fewer than 100
 * values get one partition each, more get partitions of `length / 100`.
 *
 * @example
 * ```ts
 * const b = fromSequence(records, { npartitions: 8 });
 * ```
 */
export function fromSequence<T>(seq: Iterable<T>, options: FromSequenceOptions = {}): Bag<T> {
  const items = [...seq];
  let size: number;
  if (options.partitionSize !== undefined) size = positiveInt("partitionSize", options.partitionSize);
  else if (options.npartitions !== undefined) size = Math.max(1, Math.ceil(items.length / positiveInt("npartitions", options.npartitions)));
  else size = items.length < 100 ? 1 : Math.floor(items.length / 100);
  const name = `from-sequence-${tokenize(items, size)}`;
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  if (chunks.length === 0) chunks.push([]);
  return new Bag<T>(
    name,
    chunks.map((c, i) => partition<T>(partitionKey(name, i), { kind: "literal", value: c }, [])),
  );
}

/**
 * A bag of the integers `0 .. n-1` in `npartitions` partitions, generated on the workers.
 *
 * @example
 * ```ts
 * await range(10, { npartitions: 3 }).sum().compute(); // 45
 * ```
 */
export function range(n: number, options: { npartitions: number }): Bag<number> {
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("n", `range(n) needs a non-negative integer, got ${String(n)}.`);
  const np = positiveInt("npartitions", options?.npartitions);
  const size = Math.max(1, Math.floor(n / np));
  const starts: number[] = [];
  for (let s = 0; s < n && starts.length < np; s += size) starts.push(s);
  if (starts.length === 0) starts.push(0);
  const name = `range-${n}-${tokenize(n, np)}`;
  return new Bag<number>(
    name,
    starts.map((s, i) => {
      const stop = i === starts.length - 1 ? n : s + size;
      return partition<number>(partitionKey(name, i), runNode("range", lit([s, stop]), [], { kind: "list" }, []), []);
    }),
  );
}

/**
 * A bag whose partitions are the values of Delayed lists (or other iterables).
 *
 * @example
 * ```ts
 * const load = delayed((day: string) => fetchRecords(day));
 * const b = fromDelayed(days.map((d) => load(d)));
 * ```
 */
export function fromDelayed<T>(values: Delayed<Iterable<T>> | readonly Delayed<Iterable<T>>[]): Bag<T> {
  const list = values instanceof Delayed ? [values] : [...values];
  if (list.length === 0 || !list.every((v) => v instanceof Delayed)) {
    throw new InvalidArgumentError("values", "fromDelayed takes a Delayed value or a non-empty array of them, each computing to an array.");
  }
  const name = `from-delayed-${tokenize(list.map((d) => d.key))}`;
  return new Bag<T>(
    name,
    list.map((d, i) => {
      const deps: Delayed[] = [d];
      return partition<T>(partitionKey(name, i), runNode("items", ref(d.key), [], { kind: "list" }, deps), deps);
    }),
  );
}

/**
 * One bag holding the partitions of several, in order.
 *
 * @example
 * ```ts
 * const all = concat([january, february]);
 * ```
 */
export function concat<T>(bags: readonly Bag<T>[]): Bag<T> {
  if (bags.length === 0 || !bags.every((b) => b instanceof Bag)) throw new InvalidArgumentError("bags", "concat takes a non-empty array of bags.");
  return new Bag<T>(`concat-${tokenize(bags.map((b) => b.name))}`, bags.flatMap((b) => b.parts));
}

/**
 * Apply `fn` element-wise across arguments, zipping the bags among them and
 * broadcasting the rest: `map((x, y) => x + y, a, b)`.
 *
 * @example
 * ```ts
 * const sums = map((x: number, y: number, k: number) => x + y + k, a, b, 10);
 * ```
 */
export function map<R, A extends readonly unknown[]>(fn: (...args: A) => R, ...args: BagArgs<A>): Bag<R> {
  return mapBags("map", fn as (...a: never[]) => unknown, args as readonly unknown[]) as Bag<R>;
}

/**
 * Apply `fn` to whole partitions across arguments (bags zipped partition by
 * partition, the rest broadcast).
 *
 * @example
 * ```ts
 * const merged = mapPartitions((xs: number[], ys: number[]) => xs.concat(ys), a, b);
 * ```
 */
export function mapPartitions<R>(fn: (...args: never[]) => Iterable<R> | Promise<Iterable<R>>, ...args: readonly unknown[]): Bag<R> {
  return mapBags("map-partitions", fn as (...a: never[]) => unknown, args as readonly unknown[], true) as Bag<R>;
}
