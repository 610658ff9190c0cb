/**
 * Keep the hidden classes of short-lived records alive.
 *
 * V8 frees an object's hidden class (its map) at a full garbage collection
 * once no object uses it, and clears the type feedback that named it. Records
 * made once per computation — a client, an update-graph event, a queue run,
 * the Delayed values of a graph — all die between computations, so after a
 * full GC the next computation makes new maps, and every function that was
 * optimized for the old ones deoptimizes and is compiled again: on a
 * two-core machine that compilation competes with the workers. One live
 * example of each such shape, made by the same code as the real ones, keeps
 * its map (and the optimized code) valid.
 *
 * @example
 * ```ts
 * const newRecord = (id: string) => ({ id, items: [] as string[] });
 * keepShape(newRecord(""));
 * ```
 * @module
 */

const examples: object[] = [];

/** Keep `example` alive for the life of the process, and return it. */
export function keepShape<T extends object>(example: T): T {
  examples.push(example);
  return example;
}
