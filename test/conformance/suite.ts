/**
 * The scheduler conformance suite: one set of behaviours every scheduler must
 * show, run against each implementation by `conformance.test.ts`.
 *
 * Most tests hand-build graphs and call `scheduler.compute(graph, keys)`
 * directly (no optimization in between); the "delayed API" group goes through
 * `delayed` / `compute` / `persist` with `{ scheduler }`, so optimization and
 * graph collection are part of what is checked.
 *
 * Calls are counted with a `SharedArrayBuffer` bound as a capture: worker
 * threads receive the same memory, so "computed once" can be checked on every
 * scheduler, not only on the calling thread.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import { compute, delayed, persist } from "../../src/index.js";
import { CycleError, DaskError, MissingKeyError, TaskError } from "../../src/core/errors.js";
import { lit, opRef, ref, task, type Expr, type FnRef, type Graph, type GraphNode, type Key } from "../../src/core/graph.js";
import type { Scheduler } from "../../src/scheduler/types.js";

/** A scheduler under test and the behaviours it is known to get wrong. */
export interface ConformanceTarget {
  /** Shown in test names. */
  readonly name: string;
  /** The scheduler; called inside tests, after the target's `before()` hook ran. */
  readonly scheduler: () => Scheduler;
  /**
   * Known bugs: test id → description. Those tests still run, as `todo`,
   * with a short timeout (some of the bugs are hangs).
   */
  readonly knownBugs?: Readonly<Record<string, string>>;
  /**
   * False for schedulers whose workers share no memory with the test (other
   * processes, other machines): calls are counted through a
   * `SharedArrayBuffer`, so "computed once" is not checked there; the values
   * still are.
   */
  readonly sharedMemory?: boolean;
}

/** Upper bound for one conformance test; a hang fails instead of blocking the run. */
const TEST_TIMEOUT_MS = 30_000;
/** Bound for tests known to hang (marked todo): the right behaviour is an immediate answer. */
const KNOWN_HANG_TIMEOUT_MS = 1_000;

// ---- function references ----------------------------------------------------

export const inc: FnRef = { kind: "source", source: "(x) => x + 1", name: "inc" };
export const add: FnRef = { kind: "source", source: "(x, y) => x + y", name: "add" };
export const sumAll: FnRef = { kind: "source", source: "(xs) => xs.reduce((a, b) => a + b, 0)", name: "sum" };
export const max: FnRef = { kind: "global", path: "Math.max" };
const asyncDouble: FnRef = {
  kind: "source",
  source: "async (x) => { await new Promise((resolve) => setImmediate(resolve)); return x * 2; }",
  name: "asyncDouble",
};
const explode: FnRef = {
  kind: "source",
  source: "function explode(x) { throw new RangeError(`kaboom ${x}`); }",
  name: "explode",
};
const asyncExplode: FnRef = {
  kind: "source",
  source: "async function asyncExplode(x) { await null; throw new TypeError(`async kaboom ${x}`); }",
  name: "asyncExplode",
};
/** Describes the structure it receives, so nested references can be checked. */
const describeArg: FnRef = {
  kind: "source",
  source: "(v) => ({ type: Array.isArray(v) ? 'array' : typeof v, value: v })",
  name: "describeArg",
};
const identityFn: FnRef = { kind: "source", source: "(x) => x", name: "same" };
const doubleArray: FnRef = { kind: "source", source: "(a) => a.map((v) => v * 2)", name: "doubleArray" };
const sumArray: FnRef = { kind: "source", source: "(a) => a.reduce((s, v) => s + v, 0)", name: "sumArray" };
const splitArrays: FnRef = {
  kind: "source",
  source: "(n) => ({ floats: Float64Array.from({ length: n }, (_, i) => i / 2), ints: [Int32Array.from({ length: n }, (_, i) => -i)] })",
  name: "splitArrays",
};
/** Never settles: the computation stays pending until its scheduler closes. */
export const never: FnRef = { kind: "source", source: "() => new Promise(() => {})", name: "never" };

/** A call counter shared with worker threads, and an `inc` that bumps it. */
export function counter(): { readonly fn: FnRef; count(): number } {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  return {
    fn: { kind: "source", source: "(x) => { Atomics.add(cell, 0, 1); return x + 1; }", name: "countedInc", captures: { cell } },
    count: () => Atomics.load(cell, 0),
  };
}

// ---- graph builders -----------------------------------------------------------

const literal = (value: unknown): GraphNode => ({ kind: "literal", value });
const alias = (target: Key): GraphNode => ({ kind: "alias", target });

/** `c0 = inc(0)`, `c{i} = inc(c{i-1})`: the last key holds `n`. */
export function chain(n: number, prefix = "chain"): { graph: Graph; last: Key } {
  const graph: Graph = new Map();
  graph.set(`${prefix}-0`, task(inc, [lit(0)]));
  for (let i = 1; i < n; i++) graph.set(`${prefix}-${i}`, task(inc, [ref(`${prefix}-${i - 1}`)]));
  return { graph, last: `${prefix}-${n - 1}` };
}

/**
 * A binary tree reduction: `n` leaves `inc(i)` (a power of two), added in
 * pairs up to one root. The root holds n(n+1)/2.
 */
export function treeReduction(n: number, prefix = "tree"): { graph: Graph; root: Key } {
  const graph: Graph = new Map();
  let level: Key[] = [];
  for (let i = 0; i < n; i++) {
    const k = `${prefix}-leaf-${i}`;
    graph.set(k, task(inc, [lit(i)]));
    level.push(k);
  }
  for (let depth = 1; level.length > 1; depth++) {
    const next: Key[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const k = `${prefix}-add-${depth}-${i / 2}`;
      graph.set(k, task(add, [ref(level[i]!), ref(level[i + 1]!)]));
      next.push(k);
    }
    level = next;
  }
  return { graph, root: level[0]! };
}

/** A unique prefix per test run, so tests sharing one scheduler never share keys. */
let serial = 0;
function fresh(name: string): string {
  return `${name}-${serial++}`;
}

/** Asserts `err` is a TaskError blaming `key`, with the remote details of the thrown error. */
function assertTaskError(err: unknown, key: Key, remoteName: string, message: RegExp, fnName: string): true {
  assert.ok(err instanceof TaskError, `expected TaskError, got ${String(err)}`);
  assert.ok(err instanceof DaskError);
  assert.equal(err.code, "DASK_ERR_TASK");
  assert.equal(err.name, "TaskError");
  assert.equal(err.key, key);
  assert.equal(err.remoteName, remoteName);
  assert.match(err.remoteMessage, message);
  assert.match(err.message, message);
  assert.ok(err.message.includes(key), "the message names the failing key");
  assert.ok(err.remoteStack.includes(fnName), `remote stack mentions ${fnName}:\n${err.remoteStack}`);
  return true;
}

/** Define the conformance tests for one scheduler. */
export function conformanceSuite(target: ConformanceTarget): void {
  const bugs = target.knownBugs ?? {};
  /** Assert a call count, where the scheduler's workers share memory with the test. */
  const calls = (actual: number, expected: number, message?: string): void => {
    if (target.sharedMemory !== false) assert.equal(actual, expected, message);
  };
  const s = (): Scheduler => target.scheduler();

  /** A test; known bugs run as todo with a short timeout. */
  function check(id: string, fn: () => Promise<void>): void {
    const bug = bugs[id];
    it(id, bug === undefined ? { timeout: TEST_TIMEOUT_MS } : { todo: bug, timeout: KNOWN_HANG_TIMEOUT_MS }, fn);
  }

  describe(`conformance: ${target.name}`, () => {
    describe("graph nodes", () => {
      check("literals come back as they are", async () => {
        const p = fresh("lit");
        const value = { nested: [1, "two", { three: 3 }], nil: null };
        const graph: Graph = new Map([
          [`${p}-n`, literal(42)],
          [`${p}-o`, literal(value)],
          [`${p}-s`, literal("text")],
          [`${p}-u`, literal(undefined)],
        ]);
        assert.deepEqual(await s().compute(graph, [`${p}-n`, `${p}-o`, `${p}-s`, `${p}-u`]), [42, value, "text", undefined]);
      });

      check("an empty request resolves to an empty list", async () => {
        assert.deepEqual(await s().compute(new Map([[fresh("empty"), literal(1)]]), []), []);
      });

      check("aliases resolve to their targets, through chains of aliases", async () => {
        const p = fresh("alias");
        const graph: Graph = new Map([
          [`${p}-x`, literal(1)],
          [`${p}-a`, alias(`${p}-x`)],
          [`${p}-t`, task(inc, [ref(`${p}-a`)])],
          [`${p}-b`, alias(`${p}-t`)],
          [`${p}-c`, alias(`${p}-b`)],
        ]);
        assert.deepEqual(await s().compute(graph, [`${p}-c`, `${p}-a`, `${p}-t`]), [2, 1, 2]);
      });

      check("references nested inside arrays and objects are resolved before the call", async () => {
        const p = fresh("nested");
        const arg: Expr = {
          k: "a",
          items: [ref(`${p}-x`), lit(10), { k: "o", entries: [["y", ref(`${p}-y`)], ["deep", { k: "a", items: [ref(`${p}-x`), lit({ k: "r", key: "not-a-ref" })] }]] }],
        };
        const graph: Graph = new Map<Key, GraphNode>([
          [`${p}-x`, literal(1)],
          [`${p}-y`, task(inc, [lit(1)])],
          [`${p}-out`, task(describeArg, [arg])],
          [`${p}-obj`, task(describeArg, [{ k: "o", entries: [["a", ref(`${p}-y`)], ["b", lit([1, 2])]] }])],
        ]);
        const [out, obj] = await s().compute(graph, [`${p}-out`, `${p}-obj`]);
        // A literal shaped like a reference stays a literal.
        assert.deepEqual(out, { type: "array", value: [1, 10, { y: 2, deep: [1, { k: "r", key: "not-a-ref" }] }] });
        assert.deepEqual(obj, { type: "object", value: { a: 2, b: [1, 2] } });
      });

      check("global functions and library operations run by reference", async () => {
        const p = fresh("refs");
        const graph: Graph = new Map<Key, GraphNode>([
          [`${p}-m`, task(max, [lit(3), lit(9), lit(4)])],
          [`${p}-l`, task(opRef("dask.list"), [lit(1), ref(`${p}-m`)])],
          [`${p}-g`, task(opRef("dask.getitem"), [ref(`${p}-l`), lit(1)])],
          [`${p}-sqrt`, task({ kind: "global", path: "Math.sqrt" }, [lit(81)])],
          [`${p}-json`, task({ kind: "global", path: "JSON.parse" }, [lit('{"a":[1]}')])],
        ]);
        assert.deepEqual(await s().compute(graph, [`${p}-g`, `${p}-l`, `${p}-sqrt`, `${p}-json`]), [9, [1, 9], 9, { a: [1] }]);
      });

      check("source functions with captured values", async () => {
        const p = fresh("captures");
        const scale: FnRef = { kind: "source", source: "(x) => x * k + offset", name: "scale", captures: { k: 3, offset: 0.5 } };
        const graph: Graph = new Map([[`${p}-a`, task(scale, [lit(2)])]]);
        assert.deepEqual(await s().compute(graph, [`${p}-a`]), [6.5]);
      });

      check("async functions are awaited, alone and in chains", async () => {
        const p = fresh("async");
        const graph: Graph = new Map([
          [`${p}-a`, task(asyncDouble, [lit(5)])],
          [`${p}-b`, task(asyncDouble, [ref(`${p}-a`)])],
          [`${p}-c`, task(add, [ref(`${p}-a`), ref(`${p}-b`)])],
        ]);
        assert.deepEqual(await s().compute(graph, [`${p}-c`, `${p}-b`]), [30, 20]);
      });
    });

    describe("keys and sharing", () => {
      check("a shared intermediate is computed once", async () => {
        const p = fresh("shared");
        const c = counter();
        const graph: Graph = new Map([
          [`${p}-base`, task(c.fn, [lit(1)])],
          [`${p}-l`, task(inc, [ref(`${p}-base`)])],
          [`${p}-r`, task(add, [ref(`${p}-base`), ref(`${p}-base`)])],
          [`${p}-top`, task(add, [ref(`${p}-l`), ref(`${p}-r`)])],
        ]);
        assert.deepEqual(await s().compute(graph, [`${p}-top`, `${p}-l`]), [7, 3]);
        calls(c.count(), 1);
      });

      check("requested keys may also be intermediates, and may repeat", async () => {
        const p = fresh("inter");
        const { graph, last } = chain(5, p);
        const keys = [`${p}-0`, `${p}-2`, last, `${p}-2`];
        assert.deepEqual(await s().compute(graph, keys), [1, 3, 5, 3]);
      });

      check("many outputs come back in the order asked", async () => {
        const p = fresh("many");
        const graph: Graph = new Map();
        const keys: Key[] = [];
        for (let i = 0; i < 300; i++) {
          graph.set(`${p}-${i}`, task(inc, [lit(i)]));
          keys.push(`${p}-${i}`);
        }
        keys.reverse();
        assert.deepEqual(await s().compute(graph, keys), keys.map((_, i) => 300 - i));
      });

      check("tasks the requested keys do not need are not run", async () => {
        const p = fresh("unneeded");
        const c = counter();
        const graph: Graph = new Map([
          [`${p}-wanted`, task(inc, [lit(1)])],
          [`${p}-unwanted`, task(c.fn, [lit(1)])],
        ]);
        assert.deepEqual(await s().compute(graph, [`${p}-wanted`]), [2]);
        calls(c.count(), 0);
      });

      check("concurrent computations sharing a key both finish", async () => {
        const p = fresh("concurrent");
        const slow: FnRef = { kind: "source", source: "async (x) => { await new Promise((resolve) => setImmediate(resolve)); return x * 2; }", name: "slow" };
        const g1: Graph = new Map([[`${p}-x`, task(slow, [lit(1)])]]);
        const g2: Graph = new Map([
          [`${p}-x`, task(slow, [lit(1)])],
          [`${p}-y`, task(inc, [ref(`${p}-x`)])],
        ]);
        const [a, b] = await Promise.all([s().compute(g1, [`${p}-x`]), s().compute(g2, [`${p}-y`])]);
        assert.deepEqual([a, b], [[2], [3]]);
      });
    });

    describe("errors", () => {
      check("a task that throws rejects with a TaskError carrying key, message and remote stack", async () => {
        const p = fresh("throw");
        const graph: Graph = new Map([
          [`${p}-ok`, task(inc, [lit(1)])],
          [`${p}-bad`, task(explode, [ref(`${p}-ok`)])],
        ]);
        await assert.rejects(s().compute(graph, [`${p}-bad`]), (err) => assertTaskError(err, `${p}-bad`, "RangeError", /kaboom 2/, "explode"));
      });

      check("an async task that rejects fails the same way", async () => {
        const p = fresh("asyncthrow");
        const graph: Graph = new Map([[`${p}-bad`, task(asyncExplode, [lit(7)])]]);
        await assert.rejects(s().compute(graph, [`${p}-bad`]), (err) => assertTaskError(err, `${p}-bad`, "TypeError", /async kaboom 7/, "asyncExplode"));
      });

      check("dependents of a failing task fail with the failing task's error", async () => {
        const p = fresh("deps");
        const graph: Graph = new Map([
          [`${p}-bad`, task(explode, [lit(1)])],
          [`${p}-d1`, task(inc, [ref(`${p}-bad`)])],
          [`${p}-d2`, task(add, [ref(`${p}-d1`), lit(1)])],
          [`${p}-fine`, task(inc, [lit(5)])],
        ]);
        await assert.rejects(s().compute(graph, [`${p}-d2`]), (err) => assertTaskError(err, `${p}-bad`, "RangeError", /kaboom 1/, "explode"));
        await assert.rejects(s().compute(graph, [`${p}-fine`, `${p}-d1`]), (err) => assertTaskError(err, `${p}-bad`, "RangeError", /kaboom 1/, "explode"));
      });

      check("a failing task the requested keys do not need does not fail the computation", async () => {
        const p = fresh("unaffected");
        const graph: Graph = new Map([
          [`${p}-bad`, task(explode, [lit(1)])],
          [`${p}-d1`, task(inc, [ref(`${p}-bad`)])],
          [`${p}-fine`, task(inc, [lit(5)])],
        ]);
        await assert.rejects(s().compute(graph, [`${p}-d1`]), TaskError);
        assert.deepEqual(await s().compute(graph, [`${p}-fine`]), [6]);
      });

      check("a reference to a key that is not in the graph rejects with MissingKeyError", async () => {
        const p = fresh("missingdep");
        const graph: Graph = new Map([[`${p}-a`, task(inc, [ref(`${p}-nowhere`)])]]);
        await assert.rejects(s().compute(graph, [`${p}-a`]), (err) => {
          assert.ok(err instanceof MissingKeyError, `expected MissingKeyError, got ${String(err)}`);
          assert.equal(err.code, "DASK_ERR_MISSING_KEY");
          assert.equal(err.key, `${p}-nowhere`);
          assert.equal(err.referencedBy, `${p}-a`);
          return true;
        });
      });

      check("a requested key that is not in the graph rejects with MissingKeyError", async () => {
        const p = fresh("missingreq");
        const graph: Graph = new Map([[`${p}-a`, literal(1)]]);
        await assert.rejects(s().compute(graph, [`${p}-a`, `${p}-nowhere`]), (err) => {
          assert.ok(err instanceof MissingKeyError, `expected MissingKeyError, got ${String(err)}`);
          assert.equal(err.key, `${p}-nowhere`);
          return true;
        });
      });

      check("a graph rejected as invalid leaves the scheduler usable with the same keys", async () => {
        const p = fresh("poison");
        await assert.rejects(s().compute(new Map([[`${p}-a`, task(inc, [ref(`${p}-nowhere`)])]]), [`${p}-a`]));
        const good: Graph = new Map([[`${p}-a`, task(inc, [lit(1)])]]);
        assert.deepEqual(await s().compute(good, [`${p}-a`]), [2]);
      });

      check("a cycle rejects with CycleError naming its keys", async () => {
        const p = fresh("cycle");
        const graph: Graph = new Map([
          [`${p}-start`, literal(0)],
          [`${p}-a`, task(add, [ref(`${p}-start`), ref(`${p}-b`)])],
          [`${p}-b`, task(inc, [ref(`${p}-a`)])],
        ]);
        await assert.rejects(s().compute(graph, [`${p}-a`]), (err) => {
          assert.ok(err instanceof CycleError, `expected CycleError, got ${String(err)}`);
          assert.equal(err.code, "DASK_ERR_CYCLE");
          assert.deepEqual(new Set(err.cycle), new Set([`${p}-a`, `${p}-b`]));
          assert.equal(err.cycle[0], err.cycle[err.cycle.length - 1]);
          return true;
        });
      });

      check("a task depending on itself rejects with CycleError", async () => {
        const p = fresh("selfcycle");
        await assert.rejects(s().compute(new Map([[`${p}-a`, task(inc, [ref(`${p}-a`)])]]), [`${p}-a`]), CycleError);
      });
    });

    describe("typed arrays", () => {
      check("typed arrays go in and come out equal; the caller's input is left intact", async () => {
        const p = fresh("typed");
        const input = Float64Array.from({ length: 2000 }, (_, i) => i * 0.25);
        const small = new Int16Array([1, -2, 3]);
        const graph: Graph = new Map<Key, GraphNode>([
          [`${p}-in`, literal(input)],
          [`${p}-small`, literal(small)],
          [`${p}-same`, task(identityFn, [ref(`${p}-in`)])],
          [`${p}-double`, task(doubleArray, [ref(`${p}-in`)])],
          [`${p}-sum`, task(sumArray, [ref(`${p}-double`)])],
          [`${p}-smallDouble`, task(doubleArray, [ref(`${p}-small`)])],
        ]);
        const [same, doubled, sum, smallDouble, original] = await s().compute(graph, [`${p}-same`, `${p}-double`, `${p}-sum`, `${p}-smallDouble`, `${p}-in`]);
        assert.deepEqual(same, input);
        assert.deepEqual(original, input);
        assert.deepEqual(doubled, input.map((v) => v * 2));
        assert.ok(doubled instanceof Float64Array);
        assert.equal(sum, 2 * 0.25 * ((1999 * 2000) / 2));
        assert.deepEqual(smallDouble, new Int16Array([2, -4, 6]));
        // Nothing the scheduler did detached or changed the caller's arrays.
        assert.equal(input.length, 2000);
        assert.equal(input[1999], 1999 * 0.25);
        assert.deepEqual(small, new Int16Array([1, -2, 3]));
      });

      check("typed arrays nested in results come back", async () => {
        const p = fresh("typednested");
        const graph: Graph = new Map([
          [`${p}-parts`, task(splitArrays, [lit(600)])],
          [`${p}-floats`, task(opRef("dask.getitem"), [ref(`${p}-parts`), lit("floats")])],
        ]);
        const [parts, floats] = (await s().compute(graph, [`${p}-parts`, `${p}-floats`])) as [{ floats: Float64Array; ints: Int32Array[] }, Float64Array];
        const expected = Float64Array.from({ length: 600 }, (_, i) => i / 2);
        assert.deepEqual(parts.floats, expected);
        assert.deepEqual(parts.ints[0], Int32Array.from({ length: 600 }, (_, i) => -i));
        assert.deepEqual(floats, expected);
      });
    });

    describe("scale", () => {
      check("1000 independent tasks and a sum (wider than one worker)", async () => {
        const p = fresh("wide");
        const graph: Graph = new Map();
        const keys: Key[] = [];
        for (let i = 0; i < 1000; i++) {
          graph.set(`${p}-${i}`, task(inc, [lit(i)]));
          keys.push(`${p}-${i}`);
        }
        graph.set(`${p}-sum`, task(sumAll, [{ k: "a", items: keys.map((k) => ref(k)) }]));
        assert.deepEqual(await s().compute(graph, [`${p}-sum`]), [500500]);
      });

      check("a chain of 2000 tasks", async () => {
        const { graph, last } = chain(2000, fresh("chain"));
        assert.deepEqual(await s().compute(graph, [last]), [2000]);
      });

      check("a tree reduction over 4096 leaves", async () => {
        const { graph, root } = treeReduction(4096, fresh("tree"));
        assert.equal(graph.size, 2 * 4096 - 1);
        assert.deepEqual(await s().compute(graph, [root]), [8390656]);
      });
    });

    describe("persist", () => {
      check("persist, then compute on top of the persisted value without recomputing it", async () => {
        const p = fresh("persist");
        const c = counter();
        const graph: Graph = new Map([
          [`${p}-a`, task(c.fn, [lit(10)])],
          [`${p}-x`, task(c.fn, [ref(`${p}-a`)])],
        ]);
        const [kept] = await s().persist(graph, [`${p}-x`]);
        assert.ok(kept !== undefined);
        calls(c.count(), 2);
        const top: Graph = new Map([[`${p}-y`, task(add, [ref(`${p}-x`), lit(100)])]]);
        if (kept.kind === "value") {
          assert.equal(kept.value, 12);
          top.set(`${p}-x`, literal(kept.value));
        } else {
          assert.equal(kept.held.key, `${p}-x`);
          assert.equal(kept.held.scheduler, s());
          assert.ok(s().holds(`${p}-x`));
          assert.deepEqual(await s().gather([`${p}-x`]), [12]);
        }
        assert.deepEqual(await s().compute(top, [`${p}-y`]), [112]);
        assert.deepEqual(await s().compute(top, [`${p}-y`, `${p}-x`]), [112, 12]);
        calls(c.count(), 2, "the persisted value and its input were not recomputed");
        if (kept.kind === "held") {
          s().release([`${p}-x`]);
          assert.equal(s().holds(`${p}-x`), false);
        }
      });
    });

    describe("through the delayed API", () => {
      const opts = (): { scheduler: Scheduler } => ({ scheduler: s() });
      const dInc = delayed((x: number) => x + 1, { name: "inc" });
      const dAdd = delayed((x: number, y: number) => x + y, { name: "add" });

      check("the seed example: add(inc(1), inc(2)) and compute(z, inc(10))", async () => {
        const z = dAdd(dInc(1), dInc(2));
        assert.equal(await z.compute(opts()), 5);
        const [a, b] = await compute(z, dInc(10), opts());
        assert.deepEqual([a, b], [5, 11]);
      });

      check("shared intermediates of several outputs run once", async () => {
        const cell = new Int32Array(new SharedArrayBuffer(4));
        const counted = delayed(
          (x: number) => {
            Atomics.add(cell, 0, 1);
            return x + 1;
          },
          { captures: { cell }, name: "counted" },
        );
        const base = counted(1);
        const [a, b, c] = await compute(dInc(base), dAdd(base, base), base, opts());
        assert.deepEqual([a, b, c], [3, 4, 2]);
        calls(Atomics.load(cell, 0), 1);
      });

      check("Delayed values nested in arrays and objects", async () => {
        const summary = delayed((parts: { xs: number[]; y: { z: number } }) => parts.xs.reduce((a, b) => a + b, 0) * parts.y.z, { name: "summary" });
        const r = summary({ xs: [dInc(1), 5, dInc(2)], y: { z: dInc(1) } });
        assert.equal(await r.compute(opts()), (2 + 5 + 3) * 2);
      });

      check("async delayed functions, in a fused chain", async () => {
        const aInc = delayed(async (x: number) => {
          await Promise.resolve();
          return x + 1;
        });
        let v = aInc(0);
        for (let i = 1; i < 300; i++) v = aInc(v);
        assert.equal(await v.compute(opts()), 300);
      });

      check("a 2000-long chain and a 4096-leaf tree built with delayed", async () => {
        let c = dInc(0);
        for (let i = 1; i < 2000; i++) c = dInc(c);
        let level = Array.from({ length: 4096 }, (_, i) => dInc(i));
        while (level.length > 1) {
          const next = [];
          for (let i = 0; i < level.length; i += 2) next.push(dAdd(level[i]!, level[i + 1]!));
          level = next;
        }
        assert.deepEqual(await compute(c, level[0]!, opts()), [2000, 8390656]);
      });

      check("a failing delayed call rejects with TaskError naming that call (no optimization)", async () => {
        const bad = delayed(function boom(x: number): number {
          throw new RangeError(`boom ${x}`);
        });
        const b = bad(1);
        const after = dInc(b);
        await assert.rejects(after.compute({ ...opts(), optimize: false }), (err) => assertTaskError(err, b.key, "RangeError", /boom 1/, "boom"));
      });

      check("a failing delayed call rejects with TaskError naming that call (default optimization)", async () => {
        const bad = delayed(function boom(x: number): number {
          throw new RangeError(`boom ${x}`);
        });
        const b = bad(1);
        const after = dInc(b);
        await assert.rejects(after.compute(opts()), (err) => assertTaskError(err, b.key, "RangeError", /boom 1/, "boom"));
      });

      check("persist keeps the value; later computations start from it", async () => {
        const cell = new Int32Array(new SharedArrayBuffer(4));
        const counted = delayed(
          (x: number) => {
            Atomics.add(cell, 0, 1);
            return x * 10;
          },
          { captures: { cell }, name: "counted" },
        );
        const x = counted(dInc(1));
        const kept = await x.persist(opts());
        assert.equal(kept.key, x.key);
        calls(Atomics.load(cell, 0), 1);
        assert.equal(await dAdd(kept, 1).compute(opts()), 21);
        assert.equal(await kept.compute(opts()), 20);
        const [k2] = await persist(dInc(kept), opts());
        assert.equal(await k2!.compute(opts()), 21);
        calls(Atomics.load(cell, 0), 1, "the persisted value was not recomputed");
      });
    });
  });
}
