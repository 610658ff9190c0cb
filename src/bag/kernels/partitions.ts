/**
 * Kernels that reshape partitions: concatenating neighbours and cutting one
 * into even pieces (`repartition`).
 *
 * @module
 */
import { defineOp } from "../../core/functions.js";

/** The elements of several partitions, in order. */
export const concatPartitions = defineOp("dask.bag.concat", (...parts: (readonly unknown[])[]): unknown[] => {
  const out: unknown[] = [];
  for (const p of parts) for (const x of p) out.push(x);
  return out;
});

/** Piece `index` of `pieces` nearly equal consecutive pieces of a partition. */
export const slicePartition = defineOp("dask.bag.slice", (part: readonly unknown[], pieces: number, index: number): unknown[] => {
  const n = part.length;
  return part.slice(Math.floor((index * n) / pieces), Math.floor(((index + 1) * n) / pieces));
});

/**
 * `mapPartitions` over zipped bags: the partition stage hands over one
 * element, the list of the bags' partitions; this puts them into the
 * argument template at `holes` and calls `fn`.
 */
export const zipPartitionsCaller = defineOp(
  "dask.bag.zip-partitions",
  ([lists]: [readonly unknown[][]], fn: (...a: unknown[]) => unknown, template: readonly unknown[], holes: readonly number[]): unknown => {
    const a = template.slice();
    holes.forEach((h, i) => (a[h] = lists[i]));
    return fn(...a);
  },
);
