/**
 * Reshaping a bag across partitions: `groupby` (a hash shuffle) and
 * `repartition`.
 *
 * `groupby` splits every input partition into one bucket per output
 * partition by a hash of each element's key, then gathers each output's
 * buckets and groups them (see `kernels/shuffle.ts`). Two methods:
 * `"disk"` (the default, as in Dask without a distributed cluster) writes
 * buckets to files in a directory every worker can read (one machine, or a
 * shared filesystem), so a worker holds about one partition at a time and
 * bags larger than memory can be grouped; `"tasks"` keeps buckets in worker
 * memory and moves each bucket once, which needs no shared directory but
 * needs the whole bag to fit in the cluster's memory at once.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError } from "../core/errors.js";
import { fnRefOf } from "../core/functions.js";
import { lit, ref } from "../core/graph.js";
import { tokenize } from "../core/tokenize.js";
import type { Delayed } from "../collections/delayed.js";
import { Bag, type KeySelector } from "./bag.js";
import { opNode, partition, partitionKey, runNode, specExpr } from "./graph.js";

/**
 * Options of `groupby`.
 *
 * @example
 * ```ts
 * const opts: GroupbyOptions = { npartitions: 8, shuffle: "disk", directory: "/mnt/scratch" };
 * ```
 */
export interface GroupbyOptions {
  /** Output partitions. Default: the input's. */
  readonly npartitions?: number;
  /** `"disk"` (default): buckets go through files in `directory`. `"tasks"`: buckets move between workers in memory. */
  readonly shuffle?: "tasks" | "disk";
  /** Where the `"disk"` shuffle writes (a fresh folder inside it). Default: the OS temporary directory. */
  readonly directory?: string;
}

function checkCount(name: string, n: unknown): number {
  if (!Number.isInteger(n) || (n as number) < 1) throw new InvalidArgumentError(name, `${name} must be a positive integer, got ${String(n)}.`);
  return n as number;
}

/** `groupby` (see `Bag.groupby`). */
export function groupby<T>(bag: Bag<T>, key: KeySelector<T>, options: GroupbyOptions): Bag<[unknown, T[]]> {
  for (const k of Object.keys(options)) {
    if (!["npartitions", "shuffle", "directory"].includes(k)) throw new InvalidArgumentError("options", `Unknown groupby option "${k}". The options are: npartitions, shuffle, directory.`);
  }
  if (typeof key !== "function" && typeof key !== "string" && typeof key !== "number") {
    throw new InvalidArgumentError("key", "groupby(key) takes a function of the element, or a field name or index.");
  }
  const method = options.shuffle ?? "disk";
  if (method !== "tasks" && method !== "disk") throw new InvalidArgumentError("shuffle", `shuffle must be "tasks" or "disk", got ${JSON.stringify(method)}.`);
  const nout = checkCount("npartitions", options.npartitions ?? bag.npartitions);
  const token = tokenize("groupby", bag.name, typeof key === "function" ? fnRefOf(key) : key, nout, method);
  const keyDeps: Delayed[] = [];
  const keyExpr = specExpr(key, keyDeps);
  const splits = bag.parts.map((p, i) => {
    const deps: Delayed[] = [p];
    return partition<unknown[]>(partitionKey(`groupby-split-${token}`, i), runNode("items", ref(p.key), [], { kind: "split", key, n: nout }, deps), deps);
  });
  const out = `groupby-${token}`;
  if (method === "tasks") {
    const shards = splits.map((s, i) =>
      Array.from({ length: nout }, (_, j) => partition<unknown>(`groupby-shard-${token}[${i},${j}]`, opNode("dask.bag.shard", [ref(s.key), lit(j)]), [s])),
    );
    const parts = Array.from({ length: nout }, (_, j) => {
      const inputs = shards.map((row) => row[j]!);
      return partition<[unknown, T[]]>(partitionKey(out, j), opNode("dask.bag.group", [keyExpr, ...inputs.map((d) => ref(d.key))]), [...keyDeps, ...inputs]);
    });
    return new Bag(out, parts);
  }
  // A fresh folder per groupby call, so two computations never share files.
  const dir = join(options.directory ?? tmpdir(), `dask-ts-shuffle-${randomUUID()}`);
  const spills = splits.map((s, i) => partition<unknown>(partitionKey(`groupby-spill-${token}`, i), opNode("dask.bag.spill", [lit(dir), lit(i), ref(s.key)]), [s]));
  const parts = Array.from({ length: nout }, (_, j) =>
    partition<[unknown, T[]]>(
      partitionKey(out, j),
      opNode("dask.bag.unspill", [lit(dir), lit(j), keyExpr, ...spills.map((d) => ref(d.key))]),
      [...keyDeps, ...spills],
    ),
  );
  return new Bag(out, parts);
}

/** `repartition` (see `Bag.repartition`). */
export function repartition<T>(bag: Bag<T>, npartitions: number): Bag<T> {
  const n = checkCount("npartitions", npartitions);
  const m = bag.npartitions;
  if (n === m) return bag;
  const out = `repartition-${n}-${tokenize(bag.name, n)}`;
  if (n < m) {
    // Concatenate runs of neighbours: output j takes inputs [floor(j*m/n), floor((j+1)*m/n)).
    const parts = Array.from({ length: n }, (_, j) => {
      const inputs = bag.parts.slice(Math.floor((j * m) / n), Math.floor(((j + 1) * m) / n));
      return partition<T>(partitionKey(out, j), opNode("dask.bag.concat", inputs.map((d) => ref(d.key))), inputs);
    });
    return new Bag(out, parts);
  }
  // Cut each input into pieces: the first inputs get floor(n/m) pieces, the last the remainder too.
  const pieces = bag.parts.map((_, i) => Math.floor(n / m) + (i === m - 1 ? n % m : 0));
  const parts: Delayed<T[]>[] = [];
  bag.parts.forEach((p, i) => {
    for (let k = 0; k < pieces[i]!; k++) {
      parts.push(partition<T>(partitionKey(out, parts.length), opNode("dask.bag.slice", [ref(p.key), lit(pieces[i]!), lit(k)]), [p]));
    }
  });
  return new Bag(out, parts);
}
