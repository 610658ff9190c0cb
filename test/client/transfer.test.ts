// Which results move (zero-copy transfer) and which are copied: a buffer the
// worker may still hold must never be left detached there.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { compute, delayed } from "../../src/index.js";
import { LocalCluster } from "../../src/distributed.js";

let cluster: LocalCluster;
before(async () => {
  cluster = await LocalCluster.start({ workers: 1 });
});
after(() => cluster.close());

test("a self-contained function's fresh typed array arrives whole", async () => {
  const make = delayed((n: number) => new Float64Array(n).fill(1.5));
  const a = await make(100_000).compute({ scheduler: cluster });
  assert.equal(a.length, 100_000);
  assert.equal(a[99_999], 1.5);
});

test("a function keeping its result on the global object still has it on the next call", async () => {
  // Results are copied by default: moving would detach the array it keeps.
  const cached = delayed((n: number) => {
    const g = globalThis as unknown as { __daskTsCache?: Float64Array };
    g.__daskTsCache ??= new Float64Array(n).fill(7);
    return g.__daskTsCache;
  });
  const first = await cached(50_000).compute({ scheduler: cluster });
  const second = await cached(50_000).compute({ scheduler: cluster });
  assert.equal(first.length, 50_000);
  assert.equal(second.length, 50_000, "the worker's cached array was detached by a transfer");
  assert.equal(second[0], 7);
});

test("returning an input or a literal argument never detaches it on the worker", async () => {
  const echo = delayed((a: Float64Array) => a);
  const src = new Float64Array(50_000).fill(3);
  const made = delayed((n: number) => new Float64Array(n).fill(4))(50_000);
  const both = delayed((a: Float64Array, b: Float64Array) => [a, b]);
  const [x, [y, z]] = await compute(echo(src), both(made, made), { scheduler: cluster });
  assert.equal(src.length, 50_000, "the caller's array is untouched");
  assert.equal(x.length, 50_000);
  assert.equal(y.length, 50_000);
  assert.equal(z.length, 50_000);
  assert.equal(z[0], 4);
});

test("an intermediate that cannot be cloned fails the task that needs it on another worker, clearly", async () => {
  const two = await LocalCluster.start({ workers: 2 });
  try {
    // Functions are not cloneable: fine where they are made, not across threads.
    const mk = delayed((i: number) => () => i);
    const parts = Array.from({ length: 8 }, (_, i) => mk(i));
    const combine = delayed((...fs: unknown[]) => fs.length);
    await assert.rejects(combine(...parts).compute({ scheduler: two }), (err: unknown) => {
      assert.match(String((err as Error).message), /cannot be sent to another thread/);
      assert.equal((err as { code?: string }).code, "DASK_ERR_INVALID_ARGUMENT");
      return true;
    });
    // Both workers survived.
    assert.equal(two.workers.length, 2);
    assert.equal(await delayed((x: number) => x + 1)(1).compute({ scheduler: two }), 2);
  } finally {
    await two.close();
  }
});

test("gathering a held value that cannot be cloned rejects instead of hanging", async () => {
  const kept = await delayed(() => ({ f: () => 1 }))().persist({ scheduler: cluster });
  await assert.rejects(kept.compute({ scheduler: cluster }), (err: unknown) => {
    assert.equal((err as { code?: string }).code, "DASK_ERR_INVALID_ARGUMENT");
    assert.match((err as Error).message, /cannot be sent to another thread/);
    return true;
  });
});
