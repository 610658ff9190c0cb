/**
 * `order`: static priorities that run depth-first and release intermediates
 * early. The memory test simulates one thread executing a graph in priority
 * order, releasing each result as soon as its last dependent has run, and
 * counts the results alive at once (Dask's `dask.order` property).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import { order } from "../../src/index.js";
import { executionOrder } from "../../src/core/order.js";
import { lit, nodeDeps, ref, task, type FnRef, type Graph, type GraphNode, type Key } from "../../src/core/graph.js";
import { rng } from "../helpers/random.js";

const inc: FnRef = { kind: "source", source: "(x) => x + 1", name: "inc" };
const add: FnRef = { kind: "source", source: "(x, y) => x + y", name: "add" };


function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Keys sorted by priority. */
function byPriority(graph: Graph): Key[] {
  const p = order(graph);
  return [...graph.keys()].sort((a, b) => p.get(a)! - p.get(b)!);
}

/**
 * Run `keys` in order on one thread: a result becomes live when its task
 * runs and is released when its last dependent has run. Returns the largest
 * number of live results. Fails if a task runs before one of its inputs.
 */
function peakLive(graph: Graph, keys: readonly Key[]): number {
  const remaining = new Map<Key, number>();
  for (const node of graph.values()) for (const d of nodeDeps(node)) remaining.set(d, (remaining.get(d) ?? 0) + 1);
  const live = new Set<Key>();
  let peak = 0;
  for (const key of keys) {
    for (const d of nodeDeps(graph.get(key)!)) assert.ok(live.has(d), `${key} runs before its input ${d}`);
    live.add(key);
    peak = Math.max(peak, live.size);
    for (const d of nodeDeps(graph.get(key)!)) {
      const left = remaining.get(d)! - 1;
      remaining.set(d, left);
      if (left === 0) live.delete(d);
    }
  }
  return peak;
}

/**
 * A binary tree reduction over `n` leaves, inserted breadth-first: all
 * leaves, then each level — the insertion order that is worst for memory.
 */
function tree(n: number, insertion: "levels" | "shuffled" = "levels", seed = 1): { graph: Graph; root: Key } {
  const nodes: [Key, GraphNode][] = [];
  let level: Key[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push([`leaf-${i}`, task(inc, [lit(i)])]);
    level.push(`leaf-${i}`);
  }
  for (let depth = 1; level.length > 1; depth++) {
    const next: Key[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const k = `add-${depth}-${i / 2}`;
      nodes.push([k, task(add, [ref(level[i]!), ref(level[i + 1]!)])]);
      next.push(k);
    }
    level = next;
  }
  const ordered = insertion === "levels" ? nodes : shuffled(nodes, rng(seed));
  return { graph: new Map(ordered), root: level[0]! };
}

/** A random DAG: each task depends on up to three earlier keys. */
function randomDag(n: number, seed: number): Graph {
  const random = rng(seed);
  const keys: Key[] = [];
  const nodes: [Key, GraphNode][] = [];
  for (let i = 0; i < n; i++) {
    const k = `t${i}`;
    const deps = new Set<Key>();
    const want = i === 0 ? 0 : Math.floor(random() * 4);
    for (let j = 0; j < want; j++) deps.add(keys[Math.floor(random() * keys.length)]!);
    nodes.push([k, deps.size === 0 ? task(inc, [lit(i)]) : task(add, [...deps].map((d) => ref(d)))]);
    keys.push(k);
  }
  return new Map(shuffled(nodes, random));
}

describe("order: priorities", () => {
  it("numbers every key 0..n-1 and puts every input before its users (random DAGs)", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const graph = randomDag(200, seed);
      const p = order(graph);
      assert.equal(p.size, graph.size);
      assert.deepEqual([...p.values()].sort((a, b) => a - b), [...Array(graph.size).keys()]);
      for (const [key, node] of graph) for (const d of nodeDeps(node)) assert.ok(p.get(d)! < p.get(key)!, `seed ${seed}: ${d} before ${key}`);
    }
  });

  it("is deterministic", () => {
    const graph = randomDag(300, 7);
    assert.deepEqual([...order(graph)], [...order(graph)]);
    assert.deepEqual(executionOrder(graph), byPriority(graph));
  });

  it("runs independent tasks in insertion order", () => {
    const graph: Graph = new Map();
    for (let i = 0; i < 100; i++) graph.set(`x${99 - i}`, task(inc, [lit(i)]));
    assert.deepEqual(byPriority(graph), [...graph.keys()]);
  });

  it("orders a chain of 100,000 tasks along the chain, without overflowing the stack", () => {
    const n = 100_000;
    const graph: Graph = new Map();
    // Inserted last-first, so insertion order is the reverse of the only valid order.
    for (let i = n - 1; i >= 1; i--) graph.set(`c${i}`, task(inc, [ref(`c${i - 1}`)]));
    graph.set("c0", task(inc, [lit(0)]));
    const keys = byPriority(graph);
    assert.deepEqual(keys, Array.from({ length: n }, (_, i) => `c${i}`));
    assert.equal(peakLive(graph, keys), 2);
  });

  it("ignores references to keys outside the graph and still numbers a cycle", () => {
    const outside: Graph = new Map([["a", task(inc, [ref("held-elsewhere")])]]);
    assert.deepEqual([...order(outside)], [["a", 0]]);
    const cyclic: Graph = new Map([
      ["a", task(inc, [ref("b")])],
      ["b", task(inc, [ref("a")])],
    ]);
    assert.deepEqual([...order(cyclic).values()].sort(), [0, 1]);
  });
});

describe("order: memory", () => {
  it("a 1024-leaf tree reduction keeps at most 2·log2(n)+2 results alive", () => {
    const n = 1024;
    const { graph, root } = tree(n);
    const keys = byPriority(graph);
    assert.equal(keys[keys.length - 1], root);
    const bound = 2 * Math.log2(n) + 2;
    const peak = peakLive(graph, keys);
    assert.ok(peak <= bound, `peak ${peak} > ${bound}`);
    // The check can fail: running in insertion order (all leaves first) keeps every leaf alive.
    assert.ok(peakLive(graph, [...graph.keys()]) >= n, "insertion order is the bad case");
  });

  it("the bound holds whatever the insertion order", () => {
    for (const seed of [1, 2, 3]) {
      const { graph } = tree(1024, "shuffled", seed);
      const peak = peakLive(graph, byPriority(graph));
      assert.ok(peak <= 22, `seed ${seed}: peak ${peak}`);
    }
  });

  it("finishes one output's subtree before starting the next", () => {
    const a = tree(256);
    // Two trees, their nodes inserted alternately.
    const graph: Graph = new Map();
    for (const [k, v] of a.graph) {
      graph.set(`A-${k}`, rename(v, "A-"));
      graph.set(`B-${k}`, rename(v, "B-"));
    }
    const keys = byPriority(graph);
    const lastA = keys.indexOf(`A-${a.root}`);
    assert.ok(keys.slice(0, lastA + 1).every((k) => k.startsWith("A-")), "all of A runs before any of B");
    assert.ok(peakLive(graph, keys) <= 2 * Math.log2(256) + 3);
  });
});

function rename(node: GraphNode, prefix: string): GraphNode {
  if (node.kind !== "task") return node;
  return task(
    node.fn,
    node.args.map((e) => (e.k === "r" ? ref(prefix + e.key) : e)),
  );
}
