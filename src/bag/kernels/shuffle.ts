/**
 * The kernels of `groupby`'s shuffle.
 *
 * Every input partition is split by a hash of each element's key into one
 * bucket per output partition (the `split` sink of `run`). Then:
 * - `tasks` method: one small `shard` task per (input, output) pair picks a
 *   bucket out, on the worker that holds the split, and each output
 *   partition's `group` task receives only its own buckets. Data moves once,
 *   and no worker ever holds more than the partitions placed on it.
 * - `disk` method: each split is written to files, one per bucket, under a
 *   shared directory (`spill`), and each output partition reads and deletes
 *   its own files (`unspill`). A worker then holds one partition at a time,
 *   so bags larger than memory can be grouped on one machine.
 *
 * Files are written with `v8.serialize`, the structured-clone format, so
 * whatever can travel between threads can be spilled.
 *
 * @module
 */
import { mkdir, readFile, readdir, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { deserialize, serialize } from "node:v8";
import { defineOp } from "../../core/functions.js";
import { keyFunction } from "./sinks.js";
import { ValueMap } from "./keys.js";

type KeySpec = ((x: unknown) => unknown) | string | number | undefined;

/** Bucket `j` of a split partition. Not cheap on purpose: it must run next to the split, not be inlined into its reader. */
export const shard = defineOp("dask.bag.shard", (split: readonly unknown[][], j: number): unknown[] => split[j]!);

function group(key: KeySpec, buckets: Iterable<readonly unknown[]>): [unknown, unknown[]][] {
  const f = keyFunction(key);
  const m = new ValueMap<unknown[]>();
  for (const b of buckets) {
    for (const x of b) m.values[m.slot(f(x), () => [])]!.push(x);
  }
  return m.entries();
}

/** Group the elements of an output partition's buckets by key: `[key, elements]` pairs. */
export const groupBuckets = defineOp("dask.bag.group", (key: KeySpec, ...buckets: (readonly unknown[])[]): [unknown, unknown[]][] => group(key, buckets));

/** Write each bucket of split partition `i` to `dir/<j>/<i>.v8`; returns the bytes written. */
export const spill = defineOp("dask.bag.spill", async (dir: string, i: number, split: readonly unknown[][]): Promise<number> => {
  let bytes = 0;
  await Promise.all(
    split.map(async (bucket, j) => {
      if (bucket.length === 0) return;
      const d = join(dir, String(j));
      await mkdir(d, { recursive: true });
      const buf = serialize(bucket);
      bytes += buf.length;
      await writeFile(join(d, `${i}.v8`), buf);
    }),
  );
  return bytes;
});

/** Read (and delete) output partition `j`'s spilled buckets and group them. Depends on every spill as a barrier. */
export const unspill = defineOp("dask.bag.unspill", async (dir: string, j: number, key: KeySpec, ..._spilled: number[]): Promise<[unknown, unknown[]][]> => {
  const d = join(dir, String(j));
  let files: string[];
  try {
    files = (await readdir(d)).filter((f) => f.endsWith(".v8")).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const buckets: unknown[][] = [];
  for (const f of files) buckets.push(deserialize(await readFile(join(d, f))) as unknown[]);
  const out = group(key, buckets);
  await rm(d, { recursive: true, force: true });
  // The last reader removes the shuffle's folder; the others find it not empty yet.
  await rmdir(dir).catch(() => undefined);
  return out;
});
