/**
 * `take`: the first elements of a bag without computing all of it. Only the
 * first `npartitions` partitions are computed, each through a `take` sink
 * that stops its pipeline (and its file reading) once it has enough.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.js";
import { ref } from "../core/graph.js";
import { compute, type ComputeOptions } from "../collections/compute.js";
import type { Delayed } from "../collections/delayed.js";
import type { Bag } from "./bag.js";
import { partition, partitionKey, runNode } from "./graph.js";

/**
 * Options of `take`.
 *
 * @example
 * ```ts
 * await b.take(10, { npartitions: 2, warn: false });
 * ```
 */
export interface TakeOptions extends Pick<ComputeOptions, "scheduler" | "optimize" | "priority"> {
  /** How many partitions to look in; -1 for all. Default 1. */
  readonly npartitions?: number;
  /** Emit a process warning when fewer than `k` elements were found. Default true. */
  readonly warn?: boolean;
}

/** `take` (see `Bag.take`). */
export async function take<T>(bag: Bag<T>, k: number, options: TakeOptions): Promise<T[]> {
  if (!Number.isInteger(k) || k < 0) throw new InvalidArgumentError("k", `take(k) needs a non-negative integer, got ${String(k)}.`);
  const np = options.npartitions ?? 1;
  if (!Number.isInteger(np) || (np < 1 && np !== -1)) throw new InvalidArgumentError("npartitions", `npartitions must be a positive integer or -1, got ${String(np)}.`);
  const count = np === -1 ? bag.npartitions : Math.min(np, bag.npartitions);
  const name = `take-${k}-${bag.name}`;
  const parts: Delayed<T[]>[] = bag.parts.slice(0, count).map((p, i) => {
    const deps: Delayed[] = [p];
    return partition<T>(partitionKey(name, i), runNode("items", ref(p.key), [], { kind: "take", n: k }, deps), deps);
  });
  const { scheduler, optimize, priority } = options;
  const computeOptions: ComputeOptions = { ...(scheduler === undefined ? {} : { scheduler }), ...(optimize === undefined ? {} : { optimize }), ...(priority === undefined ? {} : { priority }) };
  const [lists] = await compute(parts, computeOptions);
  const out: T[] = [];
  for (const l of lists) for (const x of l) if (out.length < k) out.push(x);
  if (out.length < k && options.warn !== false && count < bag.npartitions) {
    process.emitWarning(`take(${k}) found only ${out.length} elements in the first ${count} partition(s); pass { npartitions: -1 } to search them all.`, "DaskTsWarning");
  }
  return out;
}
