/**
 * The graph model: node builders, dependencies (references nested anywhere in
 * argument expressions), and `validateGraph`'s errors for missing keys and
 * cycles.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import { dependents, exprDeps, lit, nodeDeps, opRef, ref, task, validateGraph, type Expr, type FnRef, type Graph, type GraphNode, type Key } from "../../src/core/graph.js";
import { CycleError, DaskError, isDaskError, MissingKeyError } from "../../src/core/errors.js";

const inc: FnRef = { kind: "source", source: "(x) => x + 1", name: "inc" };
const literal = (value: unknown): GraphNode => ({ kind: "literal", value });
const alias = (target: Key): GraphNode => ({ kind: "alias", target });

/** Asserts `err` is a CycleError whose path is a real cycle of `graph` over exactly `keys`. */
function assertCycle(graph: Graph, keys: readonly Key[]): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof CycleError, `expected CycleError, got ${String(err)}`);
    assert.ok(err instanceof DaskError);
    assert.ok(isDaskError(err, "DASK_ERR_CYCLE"));
    assert.equal(err.code, "DASK_ERR_CYCLE");
    const cycle = err.cycle;
    assert.equal(cycle[0], cycle[cycle.length - 1], "the first key is repeated at the end");
    assert.deepEqual(new Set(cycle), new Set(keys));
    assert.equal(cycle.length, keys.length + 1);
    // Each key on the path depends on the next one.
    for (let i = 0; i + 1 < cycle.length; i++) {
      assert.ok(nodeDeps(graph.get(cycle[i]!)!).includes(cycle[i + 1]!), `${cycle[i]} depends on ${cycle[i + 1]}`);
    }
    assert.ok(err.message.includes(cycle.join(" -> ")), err.message);
    return true;
  };
}

describe("builders", () => {
  it("lit, ref and opRef build plain data", () => {
    assert.deepEqual(lit(5), { k: "v", v: 5 });
    assert.deepEqual(ref("x"), { k: "r", key: "x" });
    assert.deepEqual(opRef("dask.add"), { kind: "op", name: "dask.add" });
    const node = task(opRef("dask.add"), [ref("x"), lit(1)]);
    assert.deepEqual(structuredClone(node), node, "a task node survives structured clone");
  });

  it("task() finds references nested in arrays, objects and nested tasks, once each", () => {
    const args: Expr[] = [
      ref("a"),
      { k: "a", items: [ref("b"), lit(1), { k: "o", entries: [["c", ref("c")], ["a", ref("a")]] }] },
      { k: "t", fn: inc, args: [ref("d"), { k: "a", items: [ref("b")] }] },
    ];
    const node = task(inc, args);
    assert.deepEqual([...node.deps].sort(), ["a", "b", "c", "d"]);
    assert.equal(node.kind, "task");
    assert.equal(node.fn, inc);
    assert.equal(node.args, args);
  });

  it("a literal shaped like a reference is not a dependency", () => {
    assert.deepEqual(task(inc, [lit({ k: "r", key: "x" })]).deps, []);
    assert.deepEqual(task(inc, [lit([{ k: "r", key: "x" }]), lit(2)]).deps, []);
    const out = new Set<Key>();
    exprDeps(lit({ k: "r", key: "x" }), out);
    assert.equal(out.size, 0);
  });

  it("nodeDeps and dependents", () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["x", literal(1)],
      ["y", task(inc, [ref("x")])],
      ["z", alias("y")],
      ["w", task(inc, [{ k: "a", items: [ref("x"), ref("y")] }])],
    ]);
    assert.deepEqual(nodeDeps(graph.get("x")!), []);
    assert.deepEqual(nodeDeps(graph.get("z")!), ["y"]);
    assert.deepEqual(nodeDeps(graph.get("w")!), ["x", "y"]);
    assert.deepEqual(
      Object.fromEntries(dependents(graph)),
      { x: ["y", "w"], y: ["z", "w"], z: [], w: [] },
    );
  });
});

describe("validateGraph", () => {
  it("accepts a valid graph, including references to external keys", () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["x", literal(1)],
      ["y", task(inc, [ref("x")])],
      ["z", alias("y")],
      ["u", task(inc, [ref("held")])],
    ]);
    assert.throws(() => validateGraph(graph), MissingKeyError);
    validateGraph(graph, new Set(["held"]));
    validateGraph(new Map());
  });

  it("a missing dependency raises MissingKeyError naming the key and its user", () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["x", literal(1)],
      ["y", task(inc, [{ k: "o", entries: [["deep", ref("ghost")]] }])],
    ]);
    assert.throws(
      () => validateGraph(graph),
      (err) => {
        assert.ok(err instanceof MissingKeyError);
        assert.ok(isDaskError(err, "DASK_ERR_MISSING_KEY"));
        assert.equal(err.key, "ghost");
        assert.equal(err.referencedBy, "y");
        assert.match(err.message, /"y" depends on key "ghost"/);
        return true;
      },
    );
  });

  it("an alias of a missing key raises MissingKeyError", () => {
    assert.throws(
      () => validateGraph(new Map([["a", alias("nothing")]])),
      (err) => err instanceof MissingKeyError && err.key === "nothing" && err.referencedBy === "a",
    );
  });

  it("a two-task cycle raises CycleError with its path", () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["a", task(inc, [ref("b")])],
      ["b", task(inc, [ref("a")])],
    ]);
    assert.throws(() => validateGraph(graph), assertCycle(graph, ["a", "b"]));
  });

  it("a task depending on itself is a cycle", () => {
    const graph: Graph = new Map([["a", task(inc, [{ k: "a", items: [ref("a")] }])]]);
    assert.throws(() => validateGraph(graph), assertCycle(graph, ["a"]));
  });

  it("finds a cycle through an alias, deep in a graph, away from the first key", () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["start", literal(0)],
      ["ok", task(inc, [ref("start")])],
      ["p", task(inc, [ref("ok"), ref("q")])],
      ["q", alias("r")],
      ["r", task(inc, [ref("s")])],
      ["s", task(inc, [ref("p")])],
      ["top", task(inc, [ref("p")])],
    ]);
    assert.throws(() => validateGraph(graph), assertCycle(graph, ["p", "q", "r", "s"]));
  });

  it("handles a chain of 200,000 tasks without overflowing the stack", () => {
    const graph: Graph = new Map([["c0", literal(0)]]);
    for (let i = 1; i < 200_000; i++) graph.set(`c${i}`, task(inc, [ref(`c${i - 1}`)]));
    validateGraph(graph);
    graph.set("c0", task(inc, [ref("c199999")]));
    assert.throws(() => validateGraph(graph), (err) => err instanceof CycleError && err.cycle.length === 200_001);
  });
});
