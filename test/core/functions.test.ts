/**
 * Function references: how `fnRefOf` classifies each kind of function, the
 * registries behind it (`defineOp`, `registerModule`), `assertShippable`'s
 * refusals, and determinism of tokens and keys across processes.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import { assertShippable, defineOp, fnRefName, fnRefOf, getOp, isCheapOp, registerModule } from "../../src/core/functions.js";
import { lit, ref, task, type Graph, type GraphNode, type Key } from "../../src/core/graph.js";
import { ClosureError, FunctionNotShippableError, InvalidArgumentError } from "../../src/core/errors.js";
import { delayed, tokenize } from "../../src/index.js";
import { describeChild, libraryUrl, runModuleScript } from "../fixtures/child.js";

const outer = 2;

describe("fnRefOf", () => {
  it("library operations by name", () => {
    const triple = defineOp("test.functions.triple", (x: number) => 3 * x);
    assert.deepEqual(fnRefOf(triple), { kind: "op", name: "test.functions.triple" });
    assert.equal(getOp("test.functions.triple"), triple);
    assert.equal(isCheapOp("test.functions.triple"), false);
    const cheap = defineOp("test.functions.cheap", (x: number) => x, { cheap: true });
    assert.equal(isCheapOp("test.functions.cheap"), true);
    assert.equal(fnRefName(fnRefOf(cheap)), "cheap");
    assert.equal(getOp("test.functions.nothing"), undefined);
  });

  it("defineOp refuses a name already taken by another function, and accepts the same one again", () => {
    const f = (x: number) => x;
    defineOp("test.functions.taken", f);
    assert.equal(defineOp("test.functions.taken", f), f);
    assert.throws(() => defineOp("test.functions.taken", (x: number) => x + 1), (err) => err instanceof InvalidArgumentError && err.argument === "name");
  });

  it("module exports by specifier and export name, even after a first lookup", () => {
    function parse(s: string): number {
      return Number(s) * outer;
    }
    // Before registration it is a closure (reads `outer`).
    assert.equal(fnRefOf(parse).kind, "local");
    registerModule("file:///app/lib.js", { parse });
    assert.deepEqual(fnRefOf(parse), { kind: "module", specifier: "file:///app/lib.js", exportName: "parse" });
    assert.equal(fnRefName(fnRefOf(parse)), "parse");
    const fromUrl = (s: string) => s;
    registerModule(new URL("file:///app/other.js"), { renamed: fromUrl });
    assert.deepEqual(fnRefOf(fromUrl), { kind: "module", specifier: "file:///app/other.js", exportName: "renamed" });
    const pkg = (s: string) => s;
    registerModule("some-package/sub", { pkg });
    assert.deepEqual(fnRefOf(pkg), { kind: "module", specifier: "some-package/sub", exportName: "pkg" });
  });

  it("registerModule refuses non-functions and an empty specifier", () => {
    assert.throws(() => registerModule("file:///x.js", { n: 1 as never }), (err) => err instanceof InvalidArgumentError && err.argument === "exports");
    assert.throws(() => registerModule("", { f: () => 1 }), (err) => err instanceof InvalidArgumentError && err.argument === "specifier");
  });

  it("well-known globals by path", () => {
    assert.deepEqual(fnRefOf(Math.sqrt), { kind: "global", path: "Math.sqrt" });
    assert.deepEqual(fnRefOf(JSON.parse), { kind: "global", path: "JSON.parse" });
    assert.deepEqual(fnRefOf(JSON.stringify), { kind: "global", path: "JSON.stringify" });
    assert.deepEqual(fnRefOf(Object.keys), { kind: "global", path: "Object.keys" });
    assert.deepEqual(fnRefOf(encodeURIComponent), { kind: "global", path: "encodeURIComponent" });
    // parseInt is also Number.parseInt: either path names the same function.
    const p = fnRefOf(parseInt);
    assert.equal(p.kind, "global");
    const resolved = (p.kind === "global" ? p.path : "").split(".").reduce<unknown>((o, part) => (o as Record<string, unknown>)[part], globalThis);
    assert.equal(resolved, parseInt);
    assert.equal(fnRefName(fnRefOf(Math.sqrt)), "sqrt");
  });

  it("self-contained functions by source text", () => {
    const arrow = (x: number) => x + 1;
    const asyncArrow = async (x: number) => (await Promise.resolve(x)) * 2;
    function declared(a: number, b: number): number {
      return Math.max(a, b);
    }
    async function declaredAsync(s: string): Promise<unknown> {
      return JSON.parse(s);
    }
    for (const [fn, name] of [
      [arrow, "arrow"],
      [asyncArrow, "asyncArrow"],
      [declared, "declared"],
      [declaredAsync, "declaredAsync"],
    ] as const) {
      const r = fnRefOf(fn);
      assert.equal(r.kind, "source", name);
      if (r.kind !== "source") continue;
      assert.equal(r.name, name);
      assert.equal(r.captures, undefined);
      // The source text rebuilds an equivalent function on its own.
      const rebuilt = new Function(`return (${r.source});`)() as (...args: never[]) => unknown;
      assert.equal(typeof rebuilt, "function");
    }
    assert.equal(fnRefName(fnRefOf((x: number) => x)), "lambda");
  });

  it("closures are local references naming their free variables", () => {
    const closure = (x: number) => x * outer;
    const r = fnRefOf(closure);
    assert.equal(r.kind, "local");
    assert.deepEqual(r.kind === "local" ? r.freeVariables : [], ["outer"]);
    assert.equal(r.kind === "local" ? r.reason : "x", undefined);
    assert.equal(r.kind === "local" ? r.fn : undefined, closure);
  });

  it("captures turn a closure into source with bound values", () => {
    const closure = (x: number) => x * outer;
    const r = fnRefOf(closure, { outer: 10 });
    assert.equal(r.kind, "source");
    assert.deepEqual(r.kind === "source" ? r.captures : undefined, { outer: 10 });
    // Captures for only some of the free variables leave a closure.
    const two = (x: number) => x * outer + tokenizeFree;
    const partial = fnRefOf(two, { outer: 1 });
    assert.equal(partial.kind, "local");
    assert.deepEqual(partial.kind === "local" ? partial.freeVariables : [], ["tokenizeFree"]);
  });

  it("bound and native functions without a global path are not shippable", () => {
    for (const fn of [Math.max.bind(null, 0), Array.prototype.map, ((x: number) => x).bind(null)]) {
      const r = fnRefOf(fn as (...args: never[]) => unknown);
      assert.equal(r.kind, "local");
      assert.match(r.kind === "local" ? r.reason ?? "" : "", /bound or native/);
    }
  });

  it("is cached per function, and refuses non-functions", () => {
    const f = (x: number) => x;
    assert.equal(fnRefOf(f), fnRefOf(f));
    assert.throws(() => fnRefOf(42 as never), (err) => err instanceof InvalidArgumentError && err.argument === "fn");
  });
});

describe("assertShippable", () => {
  const shippable = fnRefOf((x: number) => x + 1);
  const closure = fnRefOf((x: number) => x + outer);
  const bound = fnRefOf(Math.min.bind(null, 1));

  it("accepts a graph of shippable functions", () => {
    const graph: Graph = new Map<Key, GraphNode>([
      ["a", task(shippable, [lit(1)])],
      ["b", task(fnRefOf(Math.sqrt), [ref("a")])],
    ]);
    assertShippable(graph);
  });

  it("refuses closures anywhere: top level, nested tasks in arrays and objects", () => {
    const cases: GraphNode[] = [
      task(closure, [lit(1)]),
      task(shippable, [{ k: "t", fn: closure, args: [lit(1)] }]),
      task(shippable, [{ k: "a", items: [{ k: "t", fn: closure, args: [] }] }]),
      task(shippable, [{ k: "o", entries: [["x", { k: "t", fn: shippable, args: [{ k: "t", fn: closure, args: [] }] }]] }]),
    ];
    for (const node of cases) {
      assert.throws(
        () => assertShippable(new Map([["k", node]])),
        (err) => err instanceof ClosureError && err.variables.length === 1 && err.variables[0] === "outer",
      );
    }
  });

  it("refuses bound functions with FunctionNotShippableError", () => {
    assert.throws(() => assertShippable(new Map([["k", task(bound, [])]])), (err) => err instanceof FunctionNotShippableError && err.code === "DASK_ERR_FN_NOT_SHIPPABLE");
  });
});

// A free variable of a function above that is never defined; `declare` emits nothing.
declare const tokenizeFree: number;

describe("determinism across processes", () => {
  // Values built the same way here and in the child processes. Functions are
  // built from source text so that both sides see identical text.
  const valuesSource = `
    const values = [
      1, -0, "text", "ünïcødé 😀", null, undefined, true, 12345678901234567890n,
      [1, [2, [3]]],
      { b: 2, a: [1, { c: "x" }] },
      new Map([["k", 1], ["j", [2]]]),
      new Set(["a", "b"]),
      new Date(1700000000000),
      /ab+c/gi,
      new Float64Array([1.5, -2.25, Math.PI]),
      new Int32Array([1, 2, 3]).subarray(1),
      new Uint8Array(1 << 16).map((_, i) => i % 251),
      new Function("return (x) => x + 1")(),
      new Function("return async function fetchIt(url) { return url.length; }")(),
      Math.sqrt,
      JSON.parse,
    ];
    const pure = delayed(new Function("return (a, b) => a + b")(), { pure: true });
    const keys = [
      pure(1, 2).key,
      pure([1, 2], { x: new Float64Array([1, 2]) }).key,
      pure(pure(1, 2), 3).key,
      delayed([1, 2, 3]).key,
      delayed({ a: 1 }).key,
    ];
  `;
  const script = `import { delayed, tokenize } from ${JSON.stringify(libraryUrl)};
${valuesSource}
console.log(JSON.stringify({ tokens: values.map((v) => tokenize(v)), all: tokenize(...values), keys }));`;

  function here(): { tokens: string[]; all: string; keys: string[] } {
    const build = new Function("delayed", `${valuesSource}\nreturn { values, keys };`) as (d: typeof delayed) => { values: unknown[]; keys: string[] };
    const { values, keys } = build(delayed);
    return { tokens: values.map((v) => tokenize(v)), all: tokenize(...values), keys };
  }

  it("tokens and pure keys are the same in this process and in two others", async () => {
    const expected = here();
    assert.equal(new Set(expected.tokens).size, expected.tokens.length, "every value has its own token");
    const [a, b] = await Promise.all([runModuleScript(script, { timeoutMs: 20_000 }), runModuleScript(script, { timeoutMs: 20_000 })]);
    for (const r of [a!, b!]) {
      assert.equal(r.code, 0, describeChild(r));
      assert.deepEqual(JSON.parse(r.stdout), expected, describeChild(r));
    }
  });

  it("typed arrays hash by content: a copy and a different buffer layout agree", () => {
    const data = Float64Array.from({ length: 1000 }, (_, i) => i / 7);
    const shifted = new Float64Array(1001);
    shifted.set(data, 1);
    assert.equal(tokenize(data), tokenize(shifted.subarray(1)));
    assert.equal(tokenize(data), tokenize(new Float64Array(data)));
    assert.notEqual(tokenize(data), tokenize(shifted));
  });
});
