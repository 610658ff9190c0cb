/**
 * `groupby` on a bag larger than a worker's memory: two worker threads with a
 * 64 MB heap each group ~150 MB of strings through the disk shuffle. Each
 * worker only ever holds about one partition, so nothing runs out of memory
 * and every element arrives in its group.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import * as db from "../../src/bag.js";
import { LocalCluster } from "../../src/distributed.js";

test("groupby with the disk shuffle groups a bag larger than one worker's memory", async () => {
  const cluster = await LocalCluster.start({ workers: 2, memoryLimitMb: 64 });
  const scratch = mkdtempSync(join(tmpdir(), "dask-ts-ooc-"));
  try {
    const n = 72_000;
    // ~2 KB per element, ~150 MB in all, made on the workers.
    const big = db.range(n, { npartitions: 48 }).map((i: number, pad: number) => `${i}:${"x".repeat(pad)}`, 2048);
    const groups = big.groupby<number>((s: string) => Number(s.slice(0, s.indexOf(":"))) % 16, { npartitions: 16, shuffle: "disk", directory: scratch });
    const sizes = await groups
      .map(([k, xs]) => [k, xs.length, xs.every((s) => Number(s.slice(0, s.indexOf(":"))) % 16 === k)] as const)
      .compute({ scheduler: cluster });
    assert.equal(sizes.length, 16);
    for (const [k, count, allMatch] of sizes) {
      assert.equal(count, n / 16, `group ${k}`);
      assert.ok(allMatch, `group ${k} holds only its own key`);
    }
    assert.deepEqual(sizes.map(([k]) => k).sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i));
    // Each output partition deletes the files it read, and the last one the shuffle's folder.
    assert.deepEqual(readdirSync(scratch), []);
  } finally {
    await cluster.close();
    rmSync(scratch, { recursive: true, force: true });
  }
});
