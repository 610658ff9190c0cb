/**
 * Optimizations before execution: cull, fuse linear chains, inline cheap
 * nodes. Each pass is checked directly (graph shape), for unchanged results
 * (running the optimized and the raw graph on `sync`), and through
 * `compute()` options, where a recording scheduler captures the graph the
 * pipeline hands over.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import { compute, cull, delayed, fuseLinear, inline, optimize, syncScheduler } from "../../src/index.js";
import { MissingKeyError } from "../../src/core/errors.js";
import { lit, opRef, ref, task, type Expr, type FnRef, type Graph, type GraphNode, type Key } from "../../src/core/graph.js";
import type { PersistedValue, Scheduler } from "../../src/scheduler/types.js";
import { rng } from "../helpers/random.js";

// Read through `captures` by the counting functions below; `declare` emits nothing.
declare const cell: Int32Array;

const inc: FnRef = { kind: "source", source: "(x) => x + 1", name: "inc" };
const add: FnRef = { kind: "source", source: "(x, y) => x + y", name: "add" };
const sum: FnRef = { kind: "source", source: "(xs) => xs.reduce((a, b) => a + b, 0)", name: "sum" };
const pair: FnRef = { kind: "source", source: "(x) => [x, x * 10]", name: "pair" };
const literal = (value: unknown): GraphNode => ({ kind: "literal", value });
const alias = (target: Key): GraphNode => ({ kind: "alias", target });

function chain(n: number, prefix = "c"): Graph {
  const graph: Graph = new Map([[`${prefix}0`, task(inc, [lit(0)])]]);
  for (let i = 1; i < n; i++) graph.set(`${prefix}${i}`, task(inc, [ref(`${prefix}${i - 1}`)]));
  return graph;
}

/** Most calls nested in one task (1 for an unfused task). */
function height(node: GraphNode): number {
  if (node.kind !== "task") return 0;
  const expr = (e: Expr): number => {
    switch (e.k) {
      case "t":
        return 1 + Math.max(0, ...e.args.map(expr));
      case "a":
        return Math.max(0, ...e.items.map(expr));
      case "o":
        return Math.max(0, ...e.entries.map(([, i]) => expr(i)));
      default:
        return 0;
    }
  };
  return 1 + Math.max(0, ...node.args.map(expr));
}

/** Runs both graphs on sync and checks the requested values agree. */
async function sameResults(raw: Graph, optimized: Graph, keys: readonly Key[]): Promise<unknown[]> {
  const expected = await syncScheduler.compute(raw, keys);
  assert.deepEqual(await syncScheduler.compute(optimized, keys), expected);
  return expected;
}

/** A scheduler that records the graphs it is given and runs them on sync. */
class Recorder implements Scheduler {
  readonly name = "recorder";
  readonly graphs: Graph[] = [];
  compute(graph: Graph, keys: readonly Key[]): Promise<unknown[]> {
    this.graphs.push(graph);
    return syncScheduler.compute(graph, keys);
  }
  persist(graph: Graph, keys: readonly Key[]): Promise<PersistedValue[]> {
    this.graphs.push(graph);
    return syncScheduler.persist(graph, keys);
  }
  gather(): Promise<unknown[]> {
    return Promise.resolve([]);
  }
  holds(): boolean {
    return false;
  }
  release(): void {}
  get last(): Graph {
    const g = this.graphs[this.graphs.length - 1];
    assert.ok(g !== undefined, "the scheduler was called");
    return g;
  }
}

describe("cull", () => {
  it("keeps what the requested keys need, in insertion order", async () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["x", literal(1)],
      ["unused", task(inc, [ref("x")])],
      ["y", task(inc, [ref("x")])],
      ["also-unused", task(inc, [ref("unused")])],
      ["z", alias("y")],
    ]);
    const culled = cull(graph, ["z"]);
    assert.deepEqual([...culled.keys()], ["x", "y", "z"]);
    assert.equal(culled.get("y"), graph.get("y"), "nodes are kept as they are");
    assert.equal(graph.size, 5, "the input graph is not changed");
    assert.deepEqual([...cull(graph, ["unused", "x"]).keys()], ["x", "unused"]);
    await sameResults(graph, culled, ["z"]);
  });

  it("returns the graph itself when everything is needed", () => {
    const graph = chain(5);
    assert.equal(cull(graph, ["c4"]), graph);
  });

  it("throws MissingKeyError for a requested key that is not in the graph", () => {
    assert.throws(
      () => cull(chain(3), ["c2", "nope"]),
      (err) => err instanceof MissingKeyError && err.key === "nope" && err.referencedBy === undefined && err.code === "DASK_ERR_MISSING_KEY",
    );
  });

  it("leaves references to keys outside the graph for validation", () => {
    const graph: Graph = new Map([["a", task(inc, [ref("held")])]]);
    assert.deepEqual([...cull(graph, ["a"]).keys()], ["a"]);
  });
});

describe("fuseLinear", () => {
  it("fuses a chain into one task under the last key", async () => {
    const graph = chain(10);
    const fused = fuseLinear(graph, ["c9"]);
    assert.deepEqual([...fused.keys()], ["c9"]);
    assert.equal(height(fused.get("c9")!), 10);
    assert.deepEqual(await sameResults(graph, fused, ["c9"]), [10]);
  });

  it("fuses a 2000-long chain into ceil(2000 / maxHeight) tasks", async () => {
    const graph = chain(2000);
    const fused = fuseLinear(graph, ["c1999"]);
    assert.equal(fused.size, Math.ceil(2000 / 256));
    assert.ok(fused.has("c1999"));
    for (const node of fused.values()) assert.ok(height(node) <= 256);
    await sameResults(graph, fused, ["c1999"]);
  });

  it("respects maxHeight", async () => {
    const graph = chain(10);
    for (const maxHeight of [1, 2, 3, 4, 10]) {
      const fused = fuseLinear(graph, ["c9"], { maxHeight });
      assert.equal(fused.size, Math.ceil(10 / maxHeight), `maxHeight ${maxHeight}`);
      for (const node of fused.values()) assert.ok(height(node) <= maxHeight, `maxHeight ${maxHeight}`);
      await sameResults(graph, fused, ["c9"]);
    }
    assert.equal(fuseLinear(graph, ["c9"], { maxHeight: 1 }), graph, "nothing fused: the same graph");
  });

  it("keeps requested keys, splitting the chain there", async () => {
    const graph = chain(10);
    const keep = ["c3", "c6", "c9"];
    const fused = fuseLinear(graph, keep);
    assert.deepEqual([...fused.keys()], keep);
    assert.deepEqual(await sameResults(graph, fused, keep), [4, 7, 10]);
  });

  it("never fuses a task with two dependents, nor into a task with two dependencies", async () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["a", task(inc, [lit(1)])],
      ["b", task(inc, [ref("a")])],
      ["c", task(inc, [ref("a")])],
      ["d", task(add, [ref("b"), ref("c")])],
    ]);
    const fused = fuseLinear(graph, ["d"]);
    assert.equal(fused, graph, "a diamond has no linear chain");
    const tail: Graph = new Map([...graph, ["e", task(inc, [ref("d")])], ["f", task(inc, [ref("e")])]]);
    const fusedTail = fuseLinear(tail, ["f"]);
    assert.deepEqual([...fusedTail.keys()], ["a", "b", "c", "f"]);
    await sameResults(tail, fusedTail, ["f"]);
  });

  it("does not fuse a reference nested inside an array or object", () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["a", task(inc, [lit(1)])],
      ["b", task(sum, [{ k: "a", items: [ref("a"), lit(2)] }])],
    ]);
    assert.equal(fuseLinear(graph, ["b"]), graph);
  });

  it(
    "a task its only dependent uses twice runs once",
    async () => {
      const calls = new Int32Array(new SharedArrayBuffer(4));
      const counted: FnRef = { kind: "source", source: "(x) => { Atomics.add(cell, 0, 1); return x + 1; }", name: "counted", captures: { cell: calls } };
      const graph: Graph = new Map<Key, GraphNode>([
        ["a", task(counted, [lit(1)])],
        ["b", task(add, [ref("a"), ref("a")])],
      ]);
      const fused = fuseLinear(graph, ["b"]);
      assert.deepEqual(await syncScheduler.compute(fused, ["b"]), [4]);
      assert.equal(Atomics.load(calls, 0), 1);
    },
  );

  it(
    "delayed: an impure value used twice by one call is one value",
    async () => {
      const r = delayed(() => Math.random())();
      const diff = delayed((x: number, y: number) => x - y);
      assert.equal(await diff(r, r).compute({ scheduler: "sync" }), 0);
    },
  );
});

describe("inline", () => {
  it("substitutes literals into their users", async () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["x", literal(5)],
      ["t", task(inc, [ref("x")])],
      ["u", task(add, [ref("x"), ref("t")])],
    ]);
    const inlined = inline(graph, ["u"]);
    assert.deepEqual([...inlined.keys()], ["t", "u"]);
    assert.deepEqual(inlined.get("t"), task(inc, [lit(5)]));
    assert.deepEqual(await sameResults(graph, inlined, ["u"]), [11]);
  });

  it("substitutes aliases into their users, as references to the target", async () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["p", task(inc, [lit(1)])],
      ["y", alias("p")],
      ["t", task(inc, [ref("y")])],
      ["u", task(add, [ref("y"), ref("t")])],
    ]);
    const inlined = inline(graph, ["u"]);
    assert.deepEqual([...inlined.keys()], ["p", "t", "u"]);
    assert.deepEqual(inlined.get("t"), task(inc, [ref("p")]));
    assert.deepEqual(await sameResults(graph, inlined, ["u"]), [5]);
  });

  it("inlines cheap operations (dask.getitem) but not ordinary tasks", async () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["p", task(pair, [lit(3)])],
      ["first", task(opRef("dask.getitem"), [ref("p"), lit(0)])],
      ["second", task(opRef("dask.getitem"), [ref("p"), lit(1)])],
      ["out", task(add, [ref("first"), ref("second")])],
    ]);
    const inlined = inline(graph, ["out"]);
    assert.deepEqual([...inlined.keys()], ["p", "out"]);
    const out = inlined.get("out")!;
    assert.equal(out.kind, "task");
    assert.deepEqual(out.kind === "task" ? out.deps : [], ["p"]);
    assert.deepEqual(await sameResults(graph, inlined, ["out"]), [33]);
  });

  it("never inlines a requested key", async () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["x", literal(2)],
      ["p", task(pair, [ref("x")])],
      ["g", task(opRef("dask.getitem"), [ref("p"), lit(1)])],
      ["t", task(inc, [ref("g")])],
    ]);
    const inlined = inline(graph, ["x", "g", "t"]);
    assert.deepEqual([...inlined.keys()], ["x", "p", "g", "t"]);
    assert.equal(inline(graph, ["x", "g", "t"]), graph, "nothing to do: the same graph");
    await sameResults(graph, inlined, ["x", "g", "t"]);
  });

  it("does not inline into an alias, whose target would be lost", async () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["x", literal(1)],
      ["out", alias("x")],
    ]);
    assert.deepEqual([...inline(graph, ["out"]).keys()], ["x", "out"]);
    await sameResults(graph, inline(graph, ["out"]), ["out"]);
  });
});

describe("optimize: each pass can be switched off", () => {
  const graph = (): Graph =>
    new Map<Key, GraphNode>([
      ["x", literal(1)],
      ["unused", task(inc, [ref("x")])],
      ["c0", task(inc, [ref("x")])],
      ["c1", task(inc, [ref("c0")])],
      ["c2", task(inc, [ref("c1")])],
    ]);

  it("all passes on", async () => {
    const g = graph();
    const out = optimize(g, ["c2"]);
    assert.deepEqual([...out.keys()], ["c2"]);
    await sameResults(g, out, ["c2"]);
  });

  it("cull: false keeps unneeded tasks", () => {
    assert.ok(optimize(graph(), ["c2"], { cull: false }).has("unused"));
    assert.ok(!optimize(graph(), ["c2"], { cull: true }).has("unused"));
  });

  it("inline: false keeps literals", () => {
    const out = optimize(graph(), ["c2"], { inline: false, fuse: false });
    assert.deepEqual([...out.keys()], ["x", "c0", "c1", "c2"]);
  });

  it("fuse: false keeps chains", () => {
    const out = optimize(graph(), ["c2"], { fuse: false });
    assert.deepEqual([...out.keys()], ["c0", "c1", "c2"]);
  });

  it("all off returns the graph as it is", () => {
    const g = graph();
    assert.equal(optimize(g, ["c2"], { cull: false, inline: false, fuse: false }), g);
  });
});

describe("optimize: through compute() options", () => {
  const inc1 = delayed((x: number) => x + 1, { name: "inc" });

  function build(): { top: ReturnType<typeof inc1>; keys: Key[] } {
    const keys: Key[] = [];
    let d = inc1(0);
    keys.push(d.key);
    for (let i = 1; i < 5; i++) {
      d = inc1(d);
      keys.push(d.key);
    }
    return { top: d, keys };
  }

  it("by default the chain is fused", async () => {
    const rec = new Recorder();
    const { top } = build();
    assert.equal(await top.compute({ scheduler: rec }), 5);
    assert.deepEqual([...rec.last.keys()], [top.key]);
  });

  it("{ optimize: { fuse: false } } hands over every task", async () => {
    const rec = new Recorder();
    const { top, keys } = build();
    assert.equal(await top.compute({ scheduler: rec, optimize: { fuse: false } }), 5);
    assert.deepEqual([...rec.last.keys()].sort(), [...keys].sort());
  });

  it("{ optimize: false } hands over the graph as collected", async () => {
    const rec = new Recorder();
    const x = delayed({ a: 1 }, { key: "input" });
    const plain = delayed((o: { a: number }) => o.a, { key: "plain" })(x);
    assert.equal(await plain.compute({ scheduler: rec, optimize: false }), 1);
    assert.deepEqual([...rec.last.keys()], ["input", "plain"]);
    assert.equal(rec.last.get("input")!.kind, "literal");
    // With inlining on, the literal input disappears into its user.
    assert.equal(await plain.compute({ scheduler: rec }), 1);
    assert.deepEqual([...rec.last.keys()], ["plain"]);
  });

  it("{ optimize: { inline: false } } keeps item access as its own task", async () => {
    const rec = new Recorder();
    const p = delayed((x: number) => [x, x * 10] as const, { key: "pair" })(3);
    const out = delayed((v: number) => v + 1, { key: "out" })(p.get(1));
    assert.equal(await out.compute({ scheduler: rec, optimize: { inline: false, fuse: false } }), 31);
    assert.deepEqual([...rec.last.keys()], ["pair", p.get(1).key, "out"]);
    assert.equal(await out.compute({ scheduler: rec, optimize: { fuse: false } }), 31);
    assert.deepEqual([...rec.last.keys()], ["pair", "out"]);
  });

  it("results agree whatever the passes", async () => {
    const { top } = build();
    const flags = [true, false];
    for (const c of flags) for (const i of flags) for (const f of flags) {
      assert.equal(await compute(top, { scheduler: "sync", optimize: { cull: c, inline: i, fuse: f } }).then(([v]) => v), 5);
    }
  });
});

describe("optimize: random graphs compute the same", () => {

  /** Literals, aliases, item access, nested containers and chains, mixed at random. */
  function randomGraph(seed: number): { graph: Graph; keys: Key[] } {
    const random = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const graph: Graph = new Map();
    const numeric: Key[] = [];
    for (let i = 0; i < 60; i++) {
      const k = `n${i}`;
      const r = random();
      if (numeric.length === 0 || r < 0.15) graph.set(k, literal(i));
      else if (r < 0.3) graph.set(k, alias(pick(numeric)));
      else if (r < 0.55) graph.set(k, task(inc, [ref(numeric[numeric.length - 1]!)]));
      else if (r < 0.7) graph.set(k, task(add, [ref(pick(numeric)), ref(pick(numeric))]));
      else if (r < 0.85) {
        const p = `${k}-pair`;
        graph.set(p, task(pair, [ref(pick(numeric))]));
        graph.set(k, task(opRef("dask.getitem"), [ref(p), lit(pick([0, 1]))]));
      } else {
        graph.set(k, task(sum, [{ k: "a", items: [ref(pick(numeric)), lit(1), { k: "t", fn: inc, args: [ref(pick(numeric))] }] }]));
      }
      numeric.push(k);
    }
    const keys = Array.from({ length: 4 }, () => pick(numeric));
    return { graph, keys };
  }

  it("for every combination of passes", async () => {
    const flags = [true, false];
    for (let seed = 1; seed <= 30; seed++) {
      const { graph, keys } = randomGraph(seed);
      const expected = await syncScheduler.compute(graph, keys);
      for (const c of flags) for (const i of flags) for (const f of flags) {
        const g = optimize(graph, keys, { cull: c, inline: i, fuse: f });
        for (const k of keys) assert.ok(g.has(k), `seed ${seed}: requested ${k} kept`);
        assert.deepEqual(await syncScheduler.compute(g, keys), expected, `seed ${seed} cull=${c} inline=${i} fuse=${f}`);
      }
    }
  });
});
