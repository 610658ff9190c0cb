/**
 * The `delayed` API as the foundation issue describes it: lazy calls, one
 * compute, containers of Delayed values, `nout`, `pure`, explicit keys, item
 * access, `compute` / `persist` / `visualize`, and scheduler choice.
 *
 * Work done is counted with a SharedArrayBuffer bound as a capture, which
 * worker threads share, so laziness and sharing are checked on the embedded
 * cluster as well as on `sync`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { compute, delayed, Delayed, persist, visualize, syncScheduler } from "../../src/index.js";
import { closeDefaultLocalCluster, LocalCluster } from "../../src/distributed.js";
import { InvalidArgumentError, MissingKeyError } from "../../src/core/errors.js";
import type { Scheduler } from "../../src/scheduler/types.js";
import { describeChild, distributedUrl, libraryUrl, runModuleScript } from "../fixtures/child.js";

// The counter cell that counting functions read: bound with `captures`, so it
// is a free variable of their source text. `declare` emits nothing.
declare const cell: Int32Array;

/** A call counter shared with worker threads. */
function counter(): { cell: Int32Array; count(): number } {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  return { cell, count: () => Atomics.load(cell, 0) };
}

function assertInvalidArgument(argument: string, message?: RegExp): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    assert.equal(err.code, "DASK_ERR_INVALID_ARGUMENT");
    assert.equal(err.argument, argument);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  };
}

let cluster: LocalCluster | undefined;
before(async () => {
  cluster = await LocalCluster.start({ workers: 2 });
});
after(async () => {
  await cluster?.close();
  await closeDefaultLocalCluster();
});

const inc = delayed((x: number) => x + 1);
const add = delayed((x: number, y: number) => x + y);

describe("the seed example", () => {
  it("runs as written on the default scheduler", async () => {
    const z = add(inc(1), inc(2));
    assert.ok(z instanceof Delayed);
    assert.equal(await z.compute(), 5);
    const [a, b] = await compute(z, inc(10));
    assert.equal(a, 5);
    assert.equal(b, 11);
  });

  for (const [name, scheduler] of [
    ["sync", (): Scheduler | "sync" => "sync"],
    ["LocalCluster", (): Scheduler | "sync" => cluster!],
  ] as const) {
    it(`a loop of f(x, y) / g(x, y) calls and a summary runs lazily, in one compute (${name})`, async () => {
      const calls = counter();
      const f = delayed(
        (x: number, y: number) => {
          Atomics.add(cell, 0, 1);
          return x * y;
        },
        { name: "f", captures: { cell: calls.cell } },
      );
      const g = delayed(
        (x: number, y: number) => {
          Atomics.add(cell, 0, 1);
          return x - y;
        },
        { name: "g", captures: { cell: calls.cell } },
      );
      const summarize = delayed(
        (products: number[], differences: number[]) => ({
          products: products.reduce((a, b) => a + b, 0),
          differences: differences.reduce((a, b) => a + b, 0),
          n: products.length,
        }),
        { name: "summarize" },
      );
      const inputs: [number, number][] = [
        [1, 2],
        [3, 4],
        [5, 6],
        [7, 8],
        [9, 10],
      ];
      const fs: Delayed<number>[] = [];
      const gs: Delayed<number>[] = [];
      for (const [x, y] of inputs) {
        fs.push(f(x, y));
        gs.push(g(x, y));
      }
      const summary = summarize(fs, gs);
      assert.equal(calls.count(), 0, "building the graph runs nothing");
      const [result, products] = await compute(summary, fs, { scheduler: scheduler() });
      assert.deepEqual(result, { products: 2 + 12 + 30 + 56 + 90, differences: -5, n: 5 });
      assert.deepEqual(products, [2, 12, 30, 56, 90]);
      assert.equal(calls.count(), 10, "each call ran once, including those both outputs need");
    });
  }
});

describe("delayed(value)", () => {
  it("wraps plain values, with deterministic keys", async () => {
    const five = delayed(5);
    assert.equal(await five.compute({ scheduler: "sync" }), 5);
    assert.equal(delayed([1, 2]).key, delayed([1, 2]).key);
    assert.notEqual(delayed([1, 2]).key, delayed([2, 1]).key);
    assert.match(delayed([1, 2]).key, /^list-[0-9a-f]{32}$/);
    assert.match(delayed({ a: 1 }).key, /^object-[0-9a-f]{32}$/);
    assert.equal(delayed({ a: 1 }, { key: "config" }).key, "config");
    assert.match(delayed("x", { name: "label" }).key, /^label-/);
  });

  it("returns a Delayed unchanged", () => {
    const d = inc(1);
    assert.equal(delayed(d), d);
  });

  for (const name of ["sync", "LocalCluster"] as const) {
    it(`rebuilds arrays and objects holding Delayed values (${name})`, async () => {
      const scheduler = name === "sync" ? "sync" : cluster!;
      const list = delayed([inc(1), 2, { a: inc(2), b: [inc(3), "x"] }]);
      // Inferred as Delayed<{ a: number; b: [number, null] }>: Delayed parts resolve in the type too.
      const obj = delayed({ a: inc(1), b: [inc(2), null] as [Delayed<number>, null] });
      const typed: Delayed<{ a: number; b: [number, null] }> = obj;
      void typed;
      const [l, o] = await compute(list, obj, { scheduler });
      assert.deepEqual(l, [2, 2, { a: 3, b: [4, "x"] }]);
      assert.deepEqual(o, { a: 2, b: [3, null] });
      // A container Delayed is an argument like any other.
      const total = delayed((v: { a: number; b: [number, null] }) => v.a + v.b[0]);
      assert.equal(await total(obj).compute({ scheduler }), 5);
    });
  }
});

describe("nout", () => {
  const minmax = delayed((xs: number[]) => [Math.min(...xs), Math.max(...xs)] as [number, number], { nout: 2 });

  it("destructures into separate Delayed values", async () => {
    const pair = minmax([3, 1, 2]);
    assert.equal(pair.length, 2);
    const [lo, hi] = pair;
    assert.ok(lo instanceof Delayed && hi instanceof Delayed);
    assert.notEqual(lo.key, hi.key);
    assert.deepEqual(await compute(lo, hi, { scheduler: "sync" }), [1, 3]);
    assert.deepEqual(await compute(lo, hi, add(lo, hi), { scheduler: cluster! }), [1, 3, 4]);
  });

  it("nout: 0 destructures to nothing", () => {
    assert.deepEqual([...delayed(() => [] as never[], { nout: 0 })()], []);
  });

  it("rejects a negative or fractional nout, and length without nout", () => {
    for (const bad of [-1, 1.5, Number.NaN]) {
      assert.throws(() => delayed((x: number) => [x], { nout: bad }), assertInvalidArgument("nout", /non-negative integer/));
      assert.throws(() => inc.withOptions({ nout: bad }), assertInvalidArgument("nout"));
    }
    assert.throws(() => inc(1).length, assertInvalidArgument("nout"));
    assert.throws(() => {
      const [first] = inc(1) as unknown as Iterable<Delayed>;
      return first;
    }, assertInvalidArgument("nout"));
  });
});

describe("keys", () => {
  it("pure calls with equal arguments share a key; different arguments do not", () => {
    const p = delayed((x: unknown) => JSON.stringify(x), { pure: true, name: "show" });
    assert.equal(p(1).key, p(1).key);
    assert.match(p(1).key, /^show-[0-9a-f]{32}$/);
    assert.notEqual(p(1).key, p(2).key);
    assert.notEqual(p(1).key, p("1").key);
    assert.equal(p({ a: 1, b: [2] }).key, p({ b: [2], a: 1 }).key);
    const x = inc(1);
    assert.equal(p(x).key, p(x).key);
    assert.notEqual(p(x).key, p(inc(1)).key, "impure inc(1) calls are different values");
    // The same function text, wrapped twice, is the same function.
    const again = delayed((x: unknown) => JSON.stringify(x), { pure: true, name: "show" });
    assert.equal(again(1).key, p(1).key);
    assert.equal(inc.withOptions({ pure: true })(1).key, inc.withOptions({ pure: true })(1).key);
  });

  it("impure calls (the default) get fresh keys", () => {
    assert.notEqual(inc(1).key, inc(1).key);
    assert.match(inc(1).key, /^lambda-/);
    function parseLine(s: string): number {
      return s.length;
    }
    assert.match(delayed(parseLine)("x").key, /^parseLine-/);
    assert.match(delayed(parseLine, { name: "load" })("x").key, /^load-/);
  });

  it("equal pure calls are computed once", async () => {
    const calls = counter();
    const p = delayed(
      (x: number) => {
        Atomics.add(cell, 0, 1);
        return x * 2;
      },
      { pure: true, captures: { cell: calls.cell } },
    );
    assert.deepEqual(await compute(p(4), add(p(4), p(4)), { scheduler: cluster! }), [8, 16]);
    assert.equal(calls.count(), 1);
  });

  it("an explicit key names the call", async () => {
    const answer = delayed((x: number) => x + 1, { key: "the-answer" });
    const d = answer(41);
    assert.equal(d.key, "the-answer");
    assert.equal(String(d), "Delayed(the-answer)");
    assert.equal(await d.compute({ scheduler: cluster! }), 42);
    assert.equal(await add(d, 0).compute({ scheduler: "sync" }), 42);
    assert.throws(() => delayed((x: number) => x, { key: "" }), assertInvalidArgument("key"));
  });
});

describe("item and field access", () => {
  for (const name of ["sync", "LocalCluster"] as const) {
    it(`.get("field") and .get(0) (${name})`, async () => {
      const scheduler = name === "sync" ? "sync" : cluster!;
      const load = delayed((id: number) => ({ id, name: `user-${id}`, tags: ["a", "b", "c"] }));
      const user = load(7);
      const tags = user.get("tags");
      const pairs = delayed((n: number) => [n, n * n] as const)(3);
      const [n, tag1, first, square] = await compute(user.get("name"), tags.get(1), pairs.get(0), pairs.get(1), { scheduler });
      assert.deepEqual([n, tag1, first, square], ["user-7", "b", 3, 9]);
      assert.equal(user.get("name").key, user.get("name").key, "item access is pure");
      assert.notEqual(user.get("name").key, user.get("id").key);
    });
  }
});

describe("compute()", () => {
  it("passes non-Delayed values through and rebuilds containers", async () => {
    const z = add(inc(1), inc(2));
    const out = await compute(1, "a", null, z, [z, 2, [inc(0)]], { a: z, b: 3 }, { scheduler: "sync" });
    assert.deepEqual(out, [1, "a", null, 5, [5, 2, [1]], { a: 5, b: 3 }]);
    assert.equal(out.length, 6, "the options object is not a result");
  });

  it("with no Delayed values returns the values as they are", async () => {
    assert.deepEqual(await compute(1, [2], { x: 3 }), [1, [2], { x: 3 }]);
  });

  it("accepts scheduler names and scheduler objects", async () => {
    const z = add(inc(1), inc(2));
    for (const scheduler of ["sync", "synchronous", "single-threaded"] as const) assert.equal(await z.compute({ scheduler }), 5);
    assert.equal(await z.compute({ scheduler: syncScheduler }), 5);
    assert.equal(await z.compute({ scheduler: cluster! }), 5);
    assert.equal(await z.compute({ scheduler: "sync", optimize: false }), 5);
  });

  it("rejects an unknown scheduler name with InvalidArgumentError", async () => {
    const z = inc(1);
    await assert.rejects(z.compute({ scheduler: "gpu" as never }), assertInvalidArgument("scheduler", /Unknown scheduler "gpu"/));
    await assert.rejects(compute(z, { scheduler: "threads-please" as never }), assertInvalidArgument("scheduler"));
  });
});

describe("persist()", () => {
  it("keeps the result on the cluster; later computations use it", async () => {
    const calls = counter();
    const heavy = delayed(
      (x: number) => {
        Atomics.add(cell, 0, 1);
        return x * 100;
      },
      { captures: { cell: calls.cell } },
    );
    const x = heavy(inc(1));
    const kept = await x.persist({ scheduler: cluster! });
    assert.ok(kept instanceof Delayed);
    assert.equal(kept.key, x.key);
    assert.ok(cluster!.holds(x.key), "the cluster holds the persisted key");
    assert.equal(await kept.compute({ scheduler: cluster! }), 200);
    assert.equal(await add(kept, 1).compute({ scheduler: cluster! }), 201);
    // Another scheduler fetches the held value instead of recomputing it.
    assert.equal(await add(kept, 2).compute({ scheduler: "sync" }), 202);
    assert.equal(calls.count(), 1);
  });

  it("persist(...) of several values, on sync", async () => {
    // persist(a, b, options) types its results as Delayed<unknown> (see the report): cast.
    const [a, b] = (await persist(inc(1), add(inc(1), 5), { scheduler: "sync" })) as unknown as [Delayed<number>, Delayed<number>];
    assert.deepEqual(await compute(a, b, add(a, b), { scheduler: "sync" }), [2, 7, 9]);
  });

  it("a value persisted on one cluster computes on another", async () => {
    const other = await LocalCluster.start({ workers: 1 });
    try {
      const kept = await add(inc(1), 10).persist({ scheduler: cluster! });
      assert.equal(await inc(kept).compute({ scheduler: other }), 13);
    } finally {
      await other.close();
    }
  });

  it(
    "computing on a persisted value its cluster has released rejects with MissingKeyError",
    async () => {
      const kept = await inc(41).persist({ scheduler: cluster! });
      cluster!.release([kept.key]);
      assert.equal(cluster!.holds(kept.key), false);
      for (const scheduler of [cluster!, "sync" as const]) {
        await assert.rejects(inc(kept).compute({ scheduler }), (err) => {
          assert.ok(err instanceof MissingKeyError, `expected MissingKeyError, got ${String(err)}`);
          assert.equal(err.key, kept.key);
          return true;
        });
      }
    },
  );

  it(
    "computing on a value persisted on a closed cluster rejects with ClosedError",
    async () => {
      // In a child process: the failure is a promise that never settles.
      const script = `import { delayed } from ${JSON.stringify(libraryUrl)};
import { LocalCluster } from ${JSON.stringify(distributedUrl)};
const cluster = await LocalCluster.start({ workers: 1 });
const inc = delayed((x) => x + 1);
const kept = await inc(1).persist({ scheduler: cluster });
await cluster.close();
try {
  console.log("resolved", await inc(kept).compute({ scheduler: "sync" }));
} catch (err) {
  console.log("rejected", err.code ?? err.name);
}`;
      const r = await runModuleScript(script, { timeoutMs: 15_000 });
      assert.equal(r.code, 0, describeChild(r));
      assert.equal(r.stdout.trim(), "rejected DASK_ERR_CLOSED", describeChild(r));
    },
  );

  it("keeps nout on the persisted value", async () => {
    const pair = delayed((x: number) => [x, -x], { nout: 2 })(4);
    const kept = await pair.persist({ scheduler: cluster! });
    const [p, m] = kept;
    assert.deepEqual(await compute(p, m, { scheduler: cluster! }), [4, -4]);
  });
});

describe("visualize()", () => {
  it("returns DOT naming the functions", async () => {
    function double(x: number): number {
      return 2 * x;
    }
    const d = delayed(double);
    const total = delayed(function total(xs: number[]): number {
      return xs.reduce((a, b) => a + b, 0);
    });
    const t = total([d(1), d(2)]);
    const { dot } = await t.visualize();
    assert.match(dot, /^digraph/);
    assert.match(dot, /label="double"/);
    assert.match(dot, /label="total"/);
    const both = await visualize(t, inc(1), { rankdir: "LR" });
    assert.match(both.dot, /label="total"/);
    assert.match(both.dot, /label="lambda"/);
  });
});

describe("options", () => {
  it("an unknown option is refused, not silently taken for a value", async () => {
    const x = delayed((n: number) => n + 1)(1);
    await assert.rejects(x.compute({ scheduler: "sync", optimise: false } as unknown as Parameters<typeof x.compute>[0]), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.match((err as Error).message, /Unknown option "optimise"/);
      return true;
    });
    await assert.rejects(x.persist({ schedular: "sync" } as unknown as Parameters<typeof x.persist>[0]), InvalidArgumentError);
  });
});
