// A worker thread that dies mid-computation is replaced, its work is redone,
// and a task that keeps killing workers fails with KilledWorkerError — the
// calling process neither crashes nor hangs.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { delayed, compute, KilledWorkerError, isDaskError } from "../../src/index.js";
import { LocalCluster } from "../../src/distributed.js";

let cluster: LocalCluster;
let dir: string;

before(async () => {
  cluster = await LocalCluster.start({ workers: 2, validate: true });
  dir = mkdtempSync(join(tmpdir(), "dask-ts-death-"));
});
after(async () => {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a task that always exits its worker fails with KilledWorkerError after 3 deaths", async () => {
  const die = delayed(function alwaysExits(): number {
    process.exit(3);
  });
  await assert.rejects(die().compute({ scheduler: cluster }), (err: unknown) => {
    assert.ok(err instanceof KilledWorkerError, `got ${String(err)}`);
    assert.ok(isDaskError(err, "DASK_ERR_KILLED_WORKER"));
    assert.match(err.key, /^alwaysExits-/);
    assert.equal(err.allowedFailures, 3);
    assert.match(err.message, /workers that died/);
    return true;
  });
  // The cluster replaced its workers and still works.
  assert.equal(await delayed((x: number) => x * 2)(21).compute({ scheduler: cluster }), 42);
  await cluster.waitForWorkers(2);
  assert.equal(cluster.workers.length, 2);
});

test("a worker that dies once mid-graph is replaced and the graph still completes", async () => {
  const markerPath = join(dir, "died-once");
  // Exits its worker the first time it runs (no marker yet), succeeds after.
  const exitOnce = delayed(
    async (x: number): Promise<number> => {
      const { existsSync, writeFileSync } = await import("node:fs");
      if (!existsSync(markerPath)) {
        writeFileSync(markerPath, "x");
        process.exit(1);
      }
      return x + 1000;
    },
    { captures: { markerPath } },
  );
  const inc = delayed((x: number) => x + 1);
  const add = delayed((a: number, b: number) => a + b);
  let level = Array.from({ length: 64 }, (_, i) => inc(i));
  level[17] = exitOnce(level[17]!) as unknown as (typeof level)[number];
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i < level.length; i += 2) next.push(add(level[i]!, level[i + 1]!));
    level = next;
  }
  const [total] = await compute(level[0]!, { scheduler: cluster });
  // sum of inc(i) for i < 64, plus 1000 from the flaky task
  assert.equal(total, 2080 + 1000);
});

test("an uncaught exception thrown later inside a worker kills only that worker", async () => {
  const boom = delayed((): number => {
    setTimeout(() => {
      throw new Error("late failure outside any task");
    }, 0);
    return 1;
  });
  assert.equal(await boom().compute({ scheduler: cluster }), 1);
  // Whatever died is replaced; the next computation runs normally.
  const inc = delayed((x: number) => x + 1);
  const parts = Array.from({ length: 200 }, (_, i) => inc(i));
  const [values] = await compute(parts, { scheduler: cluster });
  assert.equal(values.reduce((a, b) => a + b, 0), 20100);
});

test("tasks that kill their worker many times over never close a healthy cluster", async () => {
  const one = await LocalCluster.start({ workers: 1 });
  try {
    const die = delayed((): number => process.exit(2));
    for (let i = 0; i < 4; i++) await assert.rejects(die().compute({ scheduler: one }), KilledWorkerError);
    assert.equal(await delayed((x: number) => x + 1)(1).compute({ scheduler: one }), 2);
  } finally {
    await one.close();
  }
});

test("a task that runs its worker out of memory fails with KilledWorkerError; the cluster carries on", async () => {
  const small = await LocalCluster.start({ workers: 1, memoryLimitMb: 48 });
  try {
    const hog = delayed(function hog(): number {
      const keep: number[][] = [];
      for (;;) keep.push(new Array<number>(100_000).fill(1));
    });
    await assert.rejects(hog().compute({ scheduler: small }), (err: unknown) => {
      assert.ok(err instanceof KilledWorkerError, `got ${String(err)}`);
      assert.match(err.key, /^hog-/);
      return true;
    });
    assert.equal(await delayed((x: number) => x * 3)(14).compute({ scheduler: small }), 42);
  } finally {
    await small.close();
  }
});
