/**
 * The bag collection end to end, on the `sync` scheduler and on an embedded
 * cluster of two worker threads: creation, element-wise steps, aggregations,
 * shuffles, `take`, `persist`, computing several bags together, and the bad
 * paths. Results from Python Dask on the same inputs are compared in
 * `dask-parity.test.ts`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import * as db from "../../src/bag.js";
import { compute, delayed, persist } from "../../src/index.js";
import { collect } from "../../src/collections/compute.js";
import { InvalidArgumentError, TaskError } from "../../src/core/errors.js";
import type { Scheduler } from "../../src/scheduler/types.js";
import { syncAndEmbedded } from "../helpers/schedulers.js";

const { targets, cluster: embedded } = syncAndEmbedded();


const nums = Array.from({ length: 23 }, (_, i) => i);

for (const [label, sched] of targets) {
  describe(`bag on ${label}`, () => {
    const opts = (): { scheduler: Scheduler | "sync" } => ({ scheduler: sched() });

    it("fromSequence partitions like Dask and computes to one flat list", async () => {
      assert.equal(db.fromSequence(nums).npartitions, 23); // < 100 items: one each
      assert.equal(db.fromSequence(Array.from({ length: 250 }, (_, i) => i)).npartitions, 125);
      assert.equal(db.fromSequence(nums, { npartitions: 4 }).npartitions, 4);
      assert.equal(db.fromSequence(nums, { partitionSize: 10 }).npartitions, 3);
      assert.equal(db.fromSequence([]).npartitions, 1);
      assert.deepEqual(await db.fromSequence(nums, { npartitions: 4 }).compute(opts()), nums);
      assert.deepEqual(await db.fromSequence([]).compute(opts()), []);
    });

    it("map, filter, remove, flatten, starmap, pluck", async () => {
      const b = db.fromSequence(nums, { npartitions: 5 });
      assert.deepEqual(await b.map((x) => x * 2).compute(opts()), nums.map((x) => x * 2));
      assert.deepEqual(await b.filter((x) => x % 3 === 0).compute(opts()), nums.filter((x) => x % 3 === 0));
      assert.deepEqual(await b.remove((x) => x % 3 === 0).compute(opts()), nums.filter((x) => x % 3 !== 0));
      assert.deepEqual(await b.map((x) => [x, x]).flatten().compute(opts()), nums.flatMap((x) => [x, x]));
      assert.deepEqual(await b.map((x) => [x, 10]).starmap((a: number, c: number) => a * c).compute(opts()), nums.map((x) => x * 10));
      const recs = db.fromSequence([{ a: 1, b: "x" }, { a: 2, b: "y" }, { b: "z" }], { npartitions: 2 });
      assert.deepEqual(await recs.pluck("b").compute(opts()), ["x", "y", "z"]);
      assert.deepEqual(await recs.pluck("a", -1).compute(opts()), [1, 2, -1]);
      assert.deepEqual(await recs.pluck(["a", "b"], null).compute(opts()), [[1, "x"], [2, "y"], [null, "z"]]);
      assert.deepEqual(await db.fromSequence([[1, 2], [3, 4]]).pluck(1).compute(opts()), [2, 4]);
    });

    it("map takes extra arguments: broadcast values and Delayed results, zipped bags", async () => {
      const b = db.fromSequence(nums, { npartitions: 4 });
      const c = db.fromSequence(nums.map((x) => x * 100), { npartitions: 4 });
      assert.deepEqual(await b.map((x, k: number) => x + k, 1000).compute(opts()), nums.map((x) => x + 1000));
      assert.deepEqual(await b.map((x, y: number) => x + y, c).compute(opts()), nums.map((x) => x * 101));
      const mean = b.mean();
      assert.deepEqual(await b.map((x, m: number) => x - m, mean).compute(opts()), nums.map((x) => x - 11));
      assert.deepEqual(await db.map((k: number, x: number, y: number) => k + x + y, 5, b, c).compute(opts()), nums.map((x) => 5 + x * 101));
      assert.deepEqual(await b.mapPartitions((xs) => [xs.length]).compute(opts()), [6, 6, 6, 5]);
      assert.deepEqual(await db.mapPartitions((xs: number[], ys: number[]) => [xs.length + ys.length], b, c).compute(opts()), [12, 12, 12, 10]);
      assert.deepEqual(await b.mapPartitions(async (xs) => xs.slice(0, 1)).compute(opts()), [0, 6, 12, 18]);
    });

    it("aggregations: count, sum, min, max, mean, var, std, any, all", async () => {
      const b = db.fromSequence(nums, { npartitions: 7 });
      const [count, sum, min, max, mean, v0, v1, std, any, all] = await compute(
        b.count(),
        b.sum(),
        b.min(),
        b.max(),
        b.mean(),
        b.var(),
        b.var({ ddof: 1 }),
        b.std(),
        b.map((x) => x > 21).any(),
        b.map((x) => x >= 0).all(),
        opts(),
      );
      assert.equal(count, 23);
      assert.equal(sum, 253);
      assert.equal(min, 0);
      assert.equal(max, 22);
      assert.equal(mean, 11);
      assert.ok(Math.abs(v0 - 44) < 1e-9);
      assert.ok(Math.abs(v1 - 46) < 1e-9);
      assert.ok(Math.abs(std - Math.sqrt(44)) < 1e-9);
      assert.equal(any, true);
      assert.equal(all, true);
      assert.equal(await db.fromSequence([]).count().compute(opts()), 0);
      assert.equal(await db.fromSequence(["b", "a", "c"]).max().compute(opts()), "c");
    });

    it("tree reductions honour splitEvery and keep partition order", async () => {
      const b = db.fromSequence(nums, { npartitions: 23 });
      const r = b.reduction((xs) => xs.join(","), (parts) => parts.join("|"), { splitEvery: 3 });
      // Each level joins groups of three; the final level joins what is left, in order.
      const text = await r.compute(opts());
      assert.deepEqual(text.split(/[|,]/).map(Number), nums);
      assert.equal(await b.fold((a, x) => a + x).compute(opts()), 253);
      assert.equal(await db.fromSequence([1, 2, 3], { npartitions: 3 }).fold((a: number, x: number) => a + x, undefined, { initial: 10 }).compute(opts()), 36);
      assert.deepEqual(
        await db
          .fromSequence(nums, { npartitions: 4 })
          .fold((s: number[], x: number) => (x % 5 === 0 ? [...s, x] : s), (a, c) => [...a, ...c], { initial: [] })
          .compute(opts()),
        [0, 5, 10, 15, 20],
      );
    });

    it("frequencies, topk, distinct, foldby", async () => {
      const words = db.fromSequence("a b a c b a d a".split(" "), { npartitions: 3 });
      assert.deepEqual(await words.frequencies().compute(opts()), [["a", 4], ["b", 2], ["c", 1], ["d", 1]]);
      assert.deepEqual(await words.frequencies({ sort: true }).compute(opts()), [["a", 4], ["b", 2], ["c", 1], ["d", 1]]);
      assert.deepEqual(await words.frequencies().topk(2, ([, n]) => n).compute(opts()), [["a", 4], ["b", 2]]);
      assert.deepEqual(await words.frequencies().topk(3, 1).compute(opts()), [["a", 4], ["b", 2], ["c", 1]]);
      assert.deepEqual(await db.fromSequence(nums, { npartitions: 4 }).topk(3).compute(opts()), [22, 21, 20]);
      assert.deepEqual(await words.distinct().compute(opts()), ["a", "b", "c", "d"]);
      const pairs = db.fromSequence([[1, "x"], [1, "x"], [2, "y"]] as [number, string][]);
      assert.deepEqual(await pairs.distinct().compute(opts()), [[1, "x"], [2, "y"]]); // by value, not identity
      const recs = db.fromSequence(nums.map((i) => ({ k: i % 3, v: i })), { npartitions: 5 });
      const sums = await recs.foldby("k", (acc: number, r) => acc + r.v, { initial: 0, combine: (a, c) => a + c }).compute(opts());
      assert.deepEqual(
        [...sums].sort((p, q) => (p[0] as number) - (q[0] as number)),
        [0, 1, 2].map((k) => [k, nums.filter((i) => i % 3 === k).reduce((a, c) => a + c, 0)]),
      );
    });

    it("groupby shuffles every key into one partition (tasks and disk)", async () => {
      const b = db.fromSequence(nums, { npartitions: 5 });
      for (const shuffle of ["tasks", "disk"] as const) {
        const g = b.groupby((x) => x % 4, { npartitions: 3, shuffle });
        assert.equal(g.npartitions, 3);
        const parts = await compute(g.toDelayed(), opts());
        const seen = new Map<number, number[]>();
        for (const part of parts[0]) {
          for (const [k, xs] of part as [number, number[]][]) {
            assert.ok(!seen.has(k), `key ${k} in two partitions (${shuffle})`);
            seen.set(k, xs);
          }
        }
        assert.deepEqual([...seen.keys()].sort(), [0, 1, 2, 3]);
        for (const [k, xs] of seen) assert.deepEqual([...xs].sort((p, q) => p - q), nums.filter((x) => x % 4 === k));
      }
      const byField = await db.fromSequence([{ n: "a" }, { n: "b" }, { n: "a" }]).groupby("n").compute(opts());
      assert.deepEqual(new Map(byField.map(([k, xs]) => [k, xs.length])), new Map([["a", 2], ["b", 1]]));
    });

    it("join with an in-memory list, repartition, concat, range, fromDelayed", async () => {
      const orders = db.fromSequence([{ user: 1, amount: 5 }, { user: 2, amount: 7 }, { user: 1, amount: 9 }, { user: 3, amount: 1 }], { npartitions: 2 });
      const users = [{ id: 1, name: "Ada" }, { id: 2, name: "Bob" }];
      const joined = await orders.join(users, (o) => o.user, (u) => u.id).map(([u, o]) => `${u.name}:${o.amount}`).compute(opts());
      assert.deepEqual(joined, ["Ada:5", "Bob:7", "Ada:9"]);
      const b = db.fromSequence(nums, { npartitions: 5 });
      for (const n of [1, 2, 5, 7, 12]) {
        const r = b.repartition(n);
        assert.equal(r.npartitions, n);
        assert.deepEqual(await r.compute(opts()), nums);
      }
      assert.deepEqual(await db.concat([b, db.fromSequence([100])]).compute(opts()), [...nums, 100]);
      const r = db.range(10, { npartitions: 3 });
      assert.equal(r.npartitions, 3);
      assert.deepEqual(await r.compute(opts()), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const load = delayed((n: number) => Array.from({ length: n }, (_, i) => i));
      const fd = db.fromDelayed([load(2), load(3)]);
      assert.deepEqual(await fd.compute(opts()), [0, 1, 0, 1, 2]);
      assert.equal(fd.toDelayed().length, 2);
    });

    it("take reads only the partitions it needs", async () => {
      const b = db.fromSequence(nums, { npartitions: 4 });
      assert.deepEqual(await b.take(3, opts()), [0, 1, 2]);
      assert.deepEqual(await b.take(8, { ...opts(), npartitions: 2 }), [0, 1, 2, 3, 4, 5, 6, 7]);
      assert.deepEqual(await b.take(100, { ...opts(), npartitions: -1 }), nums);
      // A later partition that would fail is never computed.
      const bad = b.map((x) => {
        if (x > 10) throw new Error("should not run");
        return x;
      });
      assert.deepEqual(await bad.take(2, opts()), [0, 1]);
    });

    it("computes several bags together and persists them", async () => {
      const b = db.fromSequence(nums, { npartitions: 3 }).map((x) => x + 1);
      const [items, total, doubled] = await compute(b, b.sum(), b.map((x) => x * 2), opts());
      assert.deepEqual(items, nums.map((x) => x + 1));
      assert.equal(total, 276);
      assert.deepEqual(doubled, nums.map((x) => (x + 1) * 2));
      const [p] = await persist(b, opts());
      assert.ok(p instanceof db.Bag);
      assert.equal(p.npartitions, 3);
      assert.equal(await p.sum().compute(opts()), 276);
      const p2 = await b.persist(opts());
      assert.deepEqual(await p2.compute(opts()), nums.map((x) => x + 1));
    });

    it("errors in element functions fail the compute with a TaskError", async () => {
      const b = db.fromSequence([1, 2, 3]).map((x) => {
        if (x === 2) throw new RangeError("two");
        return x;
      });
      await assert.rejects(b.compute(opts()), (err: unknown) => err instanceof TaskError && /RangeError: two/.test(err.message));
      await assert.rejects(db.fromSequence([{ a: 1 }]).pluck("zz" as "a").compute(opts()), /has no field "zz"/);
      await assert.rejects(db.fromSequence([1]).flatten().compute(opts()), /flatten needs elements that are arrays/);
      await assert.rejects(db.fromSequence([]).max().compute(opts()), /max\(\) of an empty bag/);
      await assert.rejects(db.fromSequence([]).mean().compute(opts()), /mean\(\) needs more elements/);
    });
  });
}

describe("bag graphs", () => {
  it("fuses a chain of element-wise steps and the aggregation into one task per partition", async () => {
    const { optimize } = await import("../../src/index.js");
    const b = db.fromSequence(nums, { npartitions: 4 }).map((x) => x + 1).filter((x) => x % 2 === 0).map((x) => [x]).flatten();
    const f = b.frequencies();
    const roots = f.toDelayed();
    const { graph } = collect(roots);
    const optimized = optimize(graph, roots.map((r) => r.key));
    const runs = [...optimized.values()].filter((n) => n.kind === "task" && n.fn.kind === "op" && n.fn.name === "dask.bag.run");
    assert.equal(runs.length, 4, "one pipeline task per partition");
    for (const r of runs) {
      assert.ok(r.kind === "task");
      const stages = r.args[2]!;
      assert.ok(stages.k === "a" && stages.items.length === 4, "four stages merged into the pipeline");
    }
    assert.deepEqual(await f.compute({ scheduler: "sync" }), await f.compute({ scheduler: "sync", optimize: false }));
  });

  it("keeps shared partitions unfused so they run once", async () => {
    const { optimize } = await import("../../src/index.js");
    const b = db.fromSequence(nums, { npartitions: 2 }).map((x) => x + 1);
    // b's partitions are not requested, but two reductions read them: fusing them into either would run them twice.
    const roots = [b.sum(), b.count()];
    const { graph } = collect(roots);
    const optimized = optimize(graph, roots.map((r) => r.key));
    for (const p of b.toDelayed()) assert.ok(optimized.has(p.key), `${p.key} stays a task of its own`);
    // ...while a partition read by one reduction only is fused into it.
    const single = b.max();
    const alone = optimize(collect([single]).graph, [single.key]);
    for (const p of b.toDelayed()) assert.ok(!alone.has(p.key), `${p.key} is fused into its only reader`);
  });

  it("visualize draws a bag's graph, and several bags together", async () => {
    const b = db.fromSequence(nums, { npartitions: 3 }).map((x) => x + 1);
    const { dot } = await b.visualize();
    for (const p of b.toDelayed()) assert.ok(dot.includes(p.key), `the drawing has ${p.key}`);
    const { visualize } = await import("../../src/index.js");
    const both = await visualize(b, b.sum(), { optimize: true });
    assert.match(both.dot, /digraph/);
    assert.ok(both.dot.includes(b.sum().key));
  });

  it("keys are deterministic for the same steps", () => {
    const mk = (): db.Bag<number> => db.fromSequence([1, 2, 3]).map((x) => x * 2).filter((x) => x > 2);
    assert.equal(mk().name, mk().name);
    assert.notEqual(db.fromSequence([1, 2, 3]).map((x) => x * 3).name, mk().name);
  });

  it("refuses bad arguments before anything runs", () => {
    const b = db.fromSequence(nums, { npartitions: 3 });
    const c = db.fromSequence(nums, { npartitions: 4 });
    assert.throws(() => b.map((x, y: number) => x + y, c), InvalidArgumentError);
    assert.throws(() => db.fromSequence(nums, { npartitions: 0 }), InvalidArgumentError);
    assert.throws(() => b.topk(-1), InvalidArgumentError);
    assert.throws(() => b.repartition(0), InvalidArgumentError);
    assert.throws(() => b.groupby((x) => x, { shuffle: "nope" as "tasks" }), InvalidArgumentError);
    assert.throws(() => b.groupby((x) => x, { npartitoins: 2 } as unknown as db.GroupbyOptions), /Unknown groupby option "npartitoins"/);
    assert.throws(() => b.sum({ splitEvery: 1 }), InvalidArgumentError);
    assert.throws(() => db.range(-1, { npartitions: 2 }), InvalidArgumentError);
    assert.throws(() => db.fromDelayed([]), InvalidArgumentError);
  });

  it("refuses closures for the embedded cluster, naming the variable", async () => {
    const k = 3;
    const b = db.fromSequence([1, 2]).map((x) => x * k);
    assert.deepEqual(await b.compute({ scheduler: "sync" }), [3, 6]);
    await assert.rejects(b.compute({ scheduler: embedded() }), /k/);
  });
});
