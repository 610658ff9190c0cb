/**
 * Shipping functions to worker threads, each kind the foundation issue lists,
 * and each refusal:
 *
 * - library operations, by stable name;
 * - exports of a module declared with `registerModule` (fixtures/tasks.ts),
 *   using the module's imports and module-level state;
 * - the source text of self-contained arrow, async and declared functions;
 * - well-known globals such as `JSON.parse` and `Math.sqrt`;
 * - explicit `captures`;
 * - refused before anything runs: closures (ClosureError), bound functions
 *   (FunctionNotShippableError), and unresolvable module exports
 *   (ModuleResolutionError);
 * - TypeScript modules when the program runs under tsx, both as `npx tsx`
 *   and as `node --import tsx` (child processes).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import path from "node:path";

import { compute, delayed } from "../../src/index.js";
import { LocalCluster } from "../../src/distributed.js";
import { ClosureError, DaskError, FunctionNotShippableError, ModuleResolutionError, TaskError } from "../../src/core/errors.js";
import { getitem, identity, toList } from "../../src/ops/core.js";
import { delayedDouble, digest, lookup, table, tableSum, unexportedTask } from "../fixtures/tasks.js";
import { describeChild, libraryUrl, distributedUrl, repoRoot, run, runModuleScript } from "../fixtures/child.js";

// The counter cell that counting functions read through `captures`; `declare` emits nothing.
declare const cell: Int32Array;
// Outer values that the closures below read (which is what makes them closures).
const factor = 3;
const offset = 0.5;

const tasksModuleUrl = new URL("../fixtures/tasks.js", import.meta.url).href;

let cluster: LocalCluster | undefined;
/** Clusters started by single tests; closed here too, in case a test timed out on a hang. */
const extraClusters: LocalCluster[] = [];
async function startExtra(options: Parameters<typeof LocalCluster.start>[0]): Promise<LocalCluster> {
  const c = await LocalCluster.start(options);
  extraClusters.push(c);
  return c;
}
before(async () => {
  cluster = await LocalCluster.start({ workers: 2 });
});
after(async () => {
  await Promise.all([cluster?.close(), ...extraClusters.map((c) => c.close())]);
});
const onCluster = (): { scheduler: LocalCluster } => ({ scheduler: cluster! });

describe("library operations", () => {
  it("travel by stable name and run on workers", async () => {
    assert.deepEqual(delayed(identity).fnRef, { kind: "op", name: "dask.identity" });
    assert.deepEqual(delayed(toList).fnRef, { kind: "op", name: "dask.list" });
    const inc = delayed((x: number) => x + 1);
    const list = delayed(toList)(1, inc(1), "three");
    const [l, item, same] = await compute(list, delayed(getitem)(list, 1), delayed(identity)({ a: 1 }), onCluster());
    assert.deepEqual(l, [1, 2, "three"]);
    assert.equal(item, 2);
    assert.deepEqual(same, { a: 1 });
  });
});

describe("module exports (registerModule)", () => {
  it("are referenced by module URL and export name", () => {
    assert.deepEqual(delayed(digest).fnRef, { kind: "module", specifier: tasksModuleUrl, exportName: "digest" });
    assert.deepEqual(delayed(lookup).fnRef, { kind: "module", specifier: tasksModuleUrl, exportName: "lookup" });
  });

  it("run on workers, using the module's imports and module-level state", async () => {
    const [hex, metres, doubled] = await compute(delayed(digest)("hello"), delayed(lookup)(2, "km"), delayed(delayedDouble)(21), onCluster());
    assert.equal(hex, createHash("sha256").update("dask-ts:fixture:hello").digest("hex"));
    assert.equal(hex, digest("hello"));
    assert.equal(metres, 2000);
    assert.equal(doubled, 42);
  });

  it("compose with other kinds of function in one graph", async () => {
    const sum = delayed((xs: number[]) => xs.reduce((a, b) => a + b, 0));
    const total = sum([delayed(lookup)(1, "km"), delayed(lookup)(3, "m"), delayed(Math.sqrt)(16)]);
    assert.equal(await total.compute(onCluster()), 1007);
  });

  it("a module function that throws gives a TaskError with the module's stack", async () => {
    const bad = delayed(lookup)(1, "furlong");
    await assert.rejects(bad.compute(onCluster()), (err) => {
      assert.ok(err instanceof TaskError);
      assert.equal(err.key, bad.key);
      assert.equal(err.remoteName, "RangeError");
      assert.equal(err.remoteMessage, "unknown unit furlong");
      assert.match(err.remoteStack, /lookup/);
      assert.match(err.remoteStack, /fixtures\/tasks\.js/);
      return true;
    });
  });

  it("run on the sync scheduler too", async () => {
    assert.equal(await delayed(lookup)(5, "cm").compute({ scheduler: "sync" }), 0.05);
  });

  it(
    "independent tasks queued behind a module function's first use on a worker all run",
    { timeout: 10_000 },
    async () => {
      const single = await startExtra({ workers: 1 });
      try {
        // Two tasks: a group this small is not queued by the scheduler, so both go
        // to the worker at once and the second waits there for the only thread.
        const out = await compute(delayed(lookup)(1, "km"), delayed(lookup)(2, "km"), { scheduler: single });
        assert.deepEqual(out, [1000, 2000]);
      } finally {
        await single.close();
      }
    },
  );

  it(
    "a task result that is module state is not detached from the module on the worker",
    async () => {
      // A delivered result must not be moved out of the worker while the module still holds it.
      const single = await startExtra({ workers: 1 });
      try {
        const first = await delayed(table)().compute({ scheduler: single });
        assert.equal(first.length, 1024);
        assert.equal(await delayed(tableSum)().compute({ scheduler: single }), 7 * 1024);
        const second = await delayed(table)().compute({ scheduler: single });
        assert.equal(second.length, 1024);
      } finally {
        await single.close();
      }
    },
  );
});

describe("source text", () => {
  it("ships self-contained arrow, async and declared functions", async () => {
    const arrow = delayed((x: number) => x * 2);
    const asyncArrow = delayed(async (x: number) => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return x + 0.5;
    });
    async function fetchLength(s: string): Promise<number> {
      await Promise.resolve();
      return s.length;
    }
    function stats(xs: number[]): { min: number; max: number; json: string } {
      return { min: Math.min(...xs), max: Math.max(...xs), json: JSON.stringify(xs) };
    }
    for (const f of [arrow, asyncArrow, delayed(fetchLength), delayed(stats)]) assert.equal(f.fnRef.kind, "source");
    const out = await compute(arrow(21), asyncArrow(arrow(1)), delayed(fetchLength)("four"), delayed(stats)([3, 1, 2]), onCluster());
    assert.deepEqual(out, [42, 2.5, 4, { min: 1, max: 3, json: "[3,1,2]" }]);
  });
});

describe("well-known globals", () => {
  it("JSON.parse and Math.sqrt run on workers by path", async () => {
    assert.deepEqual(delayed(JSON.parse).fnRef, { kind: "global", path: "JSON.parse" });
    assert.deepEqual(delayed(Math.sqrt).fnRef, { kind: "global", path: "Math.sqrt" });
    const parsed = delayed(JSON.parse)('{"a":[1,2],"b":"x"}');
    const root = delayed(Math.sqrt)(delayed(Math.max)(9, 81, 4));
    assert.deepEqual(await compute(parsed, root, delayed(parseInt)("ff", 16), onCluster()), [{ a: [1, 2], b: "x" }, 9, 255]);
  });
});

describe("captures", () => {
  it("bind outer values explicitly, so the function ships", async () => {
    const scale = delayed((x: number) => x * k, { captures: { k: 3 } });
    assert.equal(scale.fnRef.kind, "source");
    assert.equal(await scale(5).compute(onCluster()), 15);
    // The outer names this module uses, bound to other values.
    const shifted = delayed((x: number) => x * factor + offset, { captures: { factor: 10, offset: 1 } });
    assert.equal(await shifted(2).compute(onCluster()), 21);
    const weights = new Float64Array([0.5, 2]);
    const dot = delayed((xs: number[]) => xs.reduce((s, x, i) => s + x * w[i]!, 0), { captures: { w: weights } });
    assert.equal(await dot([4, 3]).compute(onCluster()), 8);
  });

  it("are part of a pure call's key", () => {
    const a = delayed((x: number) => x * k, { captures: { k: 3 }, pure: true });
    const b = delayed((x: number) => x * k, { captures: { k: 4 }, pure: true });
    const a2 = delayed((x: number) => x * k, { captures: { k: 3 }, pure: true });
    assert.notEqual(a(1).key, b(1).key);
    assert.equal(a(1).key, a2(1).key);
  });

  it("a shared-memory capture is shared with the workers", async () => {
    const shared = new Int32Array(new SharedArrayBuffer(4));
    const bump = delayed(
      (x: number) => {
        Atomics.add(cell, 0, 1);
        return x;
      },
      { captures: { cell: shared } },
    );
    await compute(bump(1), bump(2), bump(3), onCluster());
    assert.equal(Atomics.load(shared, 0), 3);
  });
});

// Values the closures below read: declared here so they are outer variables.
declare const k: number;
declare const w: Float64Array;

describe("refusals, before anything runs", () => {
  function assertClosureError(variables: readonly string[], functionName = "<anonymous>"): (err: unknown) => true {
    return (err) => {
      assert.ok(err instanceof ClosureError, `expected ClosureError, got ${String(err)}`);
      assert.ok(err instanceof DaskError);
      assert.equal(err.code, "DASK_ERR_CLOSURE");
      assert.equal(err.name, "ClosureError");
      assert.deepEqual([...err.variables].sort(), [...variables].sort());
      assert.equal(err.functionName, functionName);
      for (const v of variables) assert.ok(err.message.includes(`\`${v}\``), `the message names ${v}:\n${err.message}`);
      assert.match(err.message, /captures: \{/, "shows the captures fix");
      assert.match(err.message, /registerModule\(import\.meta\.url/, "shows the registerModule fix");
      assert.match(err.message, /scheduler: "sync"/);
      return true;
    };
  }

  it("a closure is refused with ClosureError naming the variable; nothing runs", async () => {
    const calls = new Int32Array(new SharedArrayBuffer(4));
    const counted = delayed(
      (x: number) => {
        Atomics.add(cell, 0, 1);
        return x;
      },
      { captures: { cell: calls } },
    );
    const closure = delayed((x: number) => x * factor);
    assert.equal(closure.fnRef.kind, "local");
    const root = counted(1);
    const z = closure(root);
    const sizeBefore = cluster!.schedulerState.tasks.size;
    await assert.rejects(compute(z, counted(2), onCluster()), assertClosureError(["factor"]));
    assert.equal(Atomics.load(calls, 0), 0, "no task ran");
    assert.equal(cluster!.schedulerState.tasks.has(root.key), false, "nothing reached the scheduler");
    assert.equal(cluster!.schedulerState.tasks.size, sizeBefore);
  });

  it("the same closure runs with { scheduler: 'sync' }", async () => {
    const closure = delayed((x: number) => x * factor + offset);
    assert.equal(await closure(2).compute({ scheduler: "sync" }), 6.5);
  });

  it("names every outer variable, including imports, and the function's name", async () => {
    function fingerprintScaled(s: string): string {
      return createHash("md5").update(s).digest("hex").slice(0, factor);
    }
    await assert.rejects(delayed(fingerprintScaled)("x").compute(onCluster()), assertClosureError(["createHash", "factor"], "fingerprintScaled"));
    assert.equal(await delayed(fingerprintScaled)("x").compute({ scheduler: "sync" }), createHash("md5").update("x").digest("hex").slice(0, 3));
  });

  it("a closure fused inside another task is still refused", async () => {
    const closure = delayed((x: number) => x + factor);
    const inc = delayed((x: number) => x + 1);
    await assert.rejects(inc(inc(closure(1))).compute(onCluster()), assertClosureError(["factor"]));
  });

  it("a bound function is refused with FunctionNotShippableError", async () => {
    const bound = delayed(Math.max.bind(null, 0));
    assert.equal(bound.fnRef.kind, "local");
    await assert.rejects(bound(5).compute(onCluster()), (err) => {
      assert.ok(err instanceof FunctionNotShippableError, `expected FunctionNotShippableError, got ${String(err)}`);
      assert.equal(err.code, "DASK_ERR_FN_NOT_SHIPPABLE");
      assert.match(err.functionName, /max/);
      assert.match(err.message, /registerModule/);
      return true;
    });
    assert.equal(await bound(-5).compute({ scheduler: "sync" }), 0);
  });

  it("a registered name the module does not export fails to resolve, naming module and export", async () => {
    assert.deepEqual(delayed(unexportedTask).fnRef, { kind: "module", specifier: tasksModuleUrl, exportName: "notExported" });
    await assert.rejects(delayed(unexportedTask)(1).compute(onCluster()), (err) => {
      // Accepts the error itself or a TaskError wrapping it: what is checked is the information.
      const mre = err instanceof ModuleResolutionError ? err : err instanceof Error ? err.cause : undefined;
      assert.ok(mre instanceof ModuleResolutionError, `expected a ModuleResolutionError, got ${String(err)}`);
      assert.equal(mre.code, "DASK_ERR_MODULE");
      assert.equal(mre.specifier, tasksModuleUrl);
      assert.equal(mre.exportName, "notExported");
      assert.match(mre.message, /no exported function of that name/);
      return true;
    });
  });

  it(
    "a registered name the module does not export rejects with ModuleResolutionError itself",
    async () => {
      await assert.rejects(delayed(unexportedTask)(1).compute(onCluster()), (err) => {
        assert.ok(err instanceof ModuleResolutionError, `expected ModuleResolutionError, got ${String(err)}`);
        assert.equal(err.code, "DASK_ERR_MODULE");
        return true;
      });
    },
  );

  it(
    "a value that cannot be sent to a worker rejects instead of crashing the process",
    async () => {
      // In a child process: the failure this guards against is an uncaught exception.
      const script = `import { delayed } from ${JSON.stringify(libraryUrl)};
import { LocalCluster } from ${JSON.stringify(distributedUrl)};
const cluster = await LocalCluster.start({ workers: 1 });
try {
  await delayed((x) => f(x), { captures: { f: (y) => y + 1 } })(1).compute({ scheduler: cluster });
  console.log("resolved");
} catch (err) {
  console.log("rejected", err.code ?? err.name);
} finally {
  await cluster.close();
}`;
      const r = await runModuleScript(script, { timeoutMs: 15_000 });
      assert.equal(r.code, 0, describeChild(r));
      assert.match(r.stdout, /^rejected /, describeChild(r));
    },
  );
});

describe("values that cannot cross threads", () => {
  it("a result that cannot be sent back rejects with a DaskError naming the task", async () => {
    for (const make of [delayed((x: number) => () => x), delayed((x: number) => ({ ok: x, sym: Symbol("s") }))]) {
      const d = make(1);
      await assert.rejects(d.compute(onCluster()), (err) => {
        assert.ok(err instanceof DaskError, `expected a DaskError, got ${String(err)}`);
        assert.notEqual(err.code, "DASK_ERR_KILLED_WORKER", "the worker must not die for it");
        assert.ok(err.message.includes(d.key), err.message);
        return true;
      });
    }
    // The cluster still works afterwards.
    assert.equal(await delayed((x: number) => x + 1)(1).compute(onCluster()), 2);
  });
});

describe("TypeScript modules under tsx (child processes)", { concurrency: true }, () => {
  const program = path.join(repoRoot, "test", "fixtures", "tsx", "main.ts");
  const compiled = path.join(repoRoot, "dist", "test", "fixtures", "tsx", "main.js");
  const env = { ...process.env, DASK_TS_FIXTURE: "run" };
  const fingerprint = (s: string): string => createHash("sha256").update(`sensor:${s}`).digest("hex").slice(0, 12);

  function expected(moduleFile: string): unknown {
    return {
      sum: 24 + 52 + 7,
      fingerprints: ["a", "b", "c"].map(fingerprint),
      each: [24, 52, 7],
      kinds: ["module", "module", "module"],
      modules: [moduleFile, moduleFile, moduleFile],
      workers: 2,
    };
  }

  async function runProgram(file: string, args: readonly string[], moduleFile: string): Promise<void> {
    const r = await run(file, args, { cwd: repoRoot, timeoutMs: 30_000, env });
    assert.equal(r.code, 0, describeChild(r));
    const lines = r.stdout.trim().split("\n");
    let parsed: unknown;
    try {
      parsed = JSON.parse(lines[lines.length - 1]!);
    } catch {
      assert.fail(`no JSON result line\n${describeChild(r)}`);
    }
    assert.deepEqual(parsed, expected(moduleFile), describeChild(r));
  }

  it("baseline: the same program compiled to JavaScript", async () => {
    await runProgram(process.execPath, [compiled], "tasks.js");
  });

  it("npx tsx main.ts ships the TypeScript module to workers", async () => {
    await runProgram("npx", ["--no", "tsx", program], "tasks.ts");
  });

  it("node --import tsx main.ts ships the TypeScript module to workers", async () => {
    await runProgram(process.execPath, ["--import", "tsx", program], "tasks.ts");
  });
});
