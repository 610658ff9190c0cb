/**
 * The scheduler state machine driven alone: stimuli in, instructions out, no
 * threads or I/O. Every SchedulerState is built with `validate: true` (the
 * invariants are checked after every stimulus) and checked again at the end.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import type { Key, TaskNode } from "../../src/core/graph.js";
import type { ToClientMsg } from "../../src/scheduler/messages.js";
import { SchedulerState, keyGroup } from "../../src/scheduler/state.js";
import { MissingKeyError } from "../../src/core/errors.js";
import type { Graph } from "../../src/core/graph.js";
import { cull } from "../../src/core/optimize/cull.js";
import { Cluster, SchedulerDriver, add, boom, call, chain, computeTasks, describeDelivery, freedKeys, inc, max, mul, nbytesOf, sum, toClients, toWorkers, treeReduction, whoHasOf } from "../helpers/machines.js";

/** `n` root tasks `leaf[i]` (one group), in order. */
function leaves(n: number, prefix = "leaf"): [Key, TaskNode][] {
  return Array.from({ length: n }, (_, i): [Key, TaskNode] => [`${prefix}[${i}]`, call(inc, i)]);
}

function clientMsgs(out: ReturnType<SchedulerDriver["handle"]>, client?: string): ToClientMsg[] {
  return toClients(out)
    .filter((m) => client === undefined || m.client === client)
    .map((m) => m.msg);
}

describe("SchedulerState: dependencies", () => {
  it("a chain sends each task only once its dependency is in memory, then forgets everything after delivery", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    let out = d.submit("c1", [["a", call(inc, 1)], ["b", call(inc, "a")], ["c", call(inc, "b")]], ["c"], true);
    assert.deepEqual(
      computeTasks(out).map((m) => [m.key, m.worker, whoHasOf(m) ?? {}, m.deliver]),
      [["a", "w1", {}, false]],
    );
    assert.equal(d.stateOf("a"), "processing");
    assert.equal(d.stateOf("b"), "waiting");
    assert.equal(d.stateOf("c"), "waiting");

    out = d.finish("a", { nbytes: 16 });
    assert.deepEqual(
      computeTasks(out).map((m) => [m.key, m.worker, whoHasOf(m), nbytesOf(m)]),
      [["b", "w1", { a: ["w1"] }, { a: 16 }]],
    );
    assert.equal(freedKeys(out).size, 0, "a is still needed by b");
    assert.equal(d.stateOf("a"), "memory");
    assert.deepEqual(clientMsgs(out), []);

    out = d.finish("b");
    assert.deepEqual(
      computeTasks(out).map((m) => [m.key, whoHasOf(m), m.deliver]),
      [["c", { b: ["w1"] }, true]],
    );
    assert.deepEqual(Object.fromEntries(freedKeys(out)), { w1: ["a"] }, "a is released once b is in memory");

    out = d.finish("c", { value: 4 });
    assert.deepEqual(clientMsgs(out, "c1"), [{ op: "key-in-memory", key: "c", hasValue: true, value: 4 }]);
    assert.deepEqual(Object.fromEntries(freedKeys(out)), { w1: ["b"] });
    assert.equal(d.s.tasks.size, 0, "every task is forgotten after delivery");
    assert.equal(d.s.groups.size, 0);
    assert.equal(d.s.clients.get("c1")!.wantsWhat.size, 0);
    assert.equal(d.s.workers.get("w1")!.processing.size, 0);
    assert.equal(d.s.workers.get("w1")!.hasWhat.size, 0);
    d.s.validateState();
  });

  it("a diamond runs its join only when both branches are in memory", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.addWorker("w2", 1);
    let out = d.submit(
      "c1",
      [
        ["a", call(inc, 1)],
        ["b", call(inc, "a")],
        ["c", call(inc, "a")],
        ["d", call(add, "b", "c")],
      ],
      ["d"],
      true,
    );
    assert.deepEqual(computeTasks(out).map((m) => m.key), ["a"]);
    const aw = d.workerOf("a");
    out = d.finish("a");
    assert.deepEqual(computeTasks(out).map((m) => m.key).sort(), ["b", "c"]);
    for (const m of computeTasks(out)) {
      assert.deepEqual(whoHasOf(m), { a: [aw] });
      assert.equal(m.worker, aw, "placed where the input is");
    }
    out = d.finish("b");
    assert.deepEqual(computeTasks(out), [], "d still waits for c");
    assert.equal(freedKeys(out).size, 0, "a is still needed by c");
    assert.equal(d.stateOf("d"), "waiting");
    out = d.finish("c");
    const [dm] = computeTasks(out);
    assert.equal(dm?.key, "d");
    assert.deepEqual(whoHasOf(dm), { b: [d.workerOf("b")], c: [d.workerOf("c")] });
    assert.deepEqual(freedKeys(out).get(aw), ["a"]);
    d.finish("d", { value: 6 });
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });

  it("an unknown dependency is refused, and none of the graph is kept", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1");
    assert.throws(() => d.submit("c1", [["a", call(inc, 1)], ["b", call(add, "a", "nope")]], ["b"], true), (e: unknown) => e instanceof MissingKeyError && e.key === "nope" && e.referencedBy === "b");
    assert.deepEqual([...d.s.tasks.keys()], []);
    assert.equal(d.s.groups.size, 0);
    d.s.validateState();
  });

  it("tasks the wanted keys do not need are dropped at intake, shared inputs kept", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1");
    const out = d.submit(
      "c1",
      [
        ["a", call(inc, 1)],
        ["u1", call(inc, 2)],
        ["u2", call(add, "a", "u1")],
        ["b", call(inc, "a")],
        ["u3", call(inc, "u2")],
      ],
      ["b"],
      true,
    );
    assert.deepEqual([...d.s.tasks.keys()].sort(), ["a", "b"]);
    assert.deepEqual([...d.s.tasks.get("a")!.dependents].map((t) => t.key), ["b"]);
    assert.deepEqual(computeTasks(out).map((m) => m.key), ["a"]);
    d.finish("a");
    d.finish("b", { value: 3 });
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });

  it("keyGroup strips the index and the token", () => {
    assert.equal(keyGroup("inc-0123456789abcdef0123[4]"), "inc");
    assert.equal(keyGroup("leaf[12]"), "leaf");
    assert.equal(keyGroup("x"), "x");
  });
});

describe("SchedulerState: root-task queuing", () => {
  it("a worker never holds more than ceil(1.1 x nthreads) root tasks while durations are unknown", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.addWorker("w4", 4);
    d.addWorker("w10", 10);
    const limit: Record<string, number> = { w1: 2, w4: 5, w10: 11 };
    const n = 200;
    const out = d.submit("c1", leaves(n), leaves(n).map(([k]) => k), true);
    const first = computeTasks(out);
    const per = (w: string): number => d.processingOn(w).length;
    assert.deepEqual({ w1: per("w1"), w4: per("w4"), w10: per("w10") }, limit, "every slot filled, no more");
    assert.equal(first.length, 18);
    assert.equal([...d.s.tasks.values()].filter((t) => t.state === "queued").length, n - 18);
    // The first tasks out are the first in priority order.
    assert.deepEqual(first.map((m) => m.key).sort(), leaves(18).map(([k]) => k).sort());

    // Slow tasks (1 s each): every completion frees exactly one slot, filled with the next queued task in order.
    let next = 18;
    let guard = 0;
    while (d.s.tasks.size > 0 && guard++ < 1000) {
      const w = ["w1", "w4", "w10"][guard % 3]!;
      const k = d.processingOn(w)[0];
      if (k === undefined) continue;
      const o = d.finish(k, { duration: 1 });
      const sent = computeTasks(o);
      if (next < n) {
        assert.deepEqual(sent.map((m) => [m.key, m.worker]), [[`leaf[${next}]`, w]]);
        next++;
      } else assert.deepEqual(sent, []);
      for (const ww of ["w1", "w4", "w10"]) assert.ok(per(ww) <= limit[ww]!, `${ww} holds ${per(ww)} root tasks`);
      for (const ws of d.s.workers.values()) assert.equal(ws.rootProcessing, ws.processing.size);
    }
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });

  it("small groups are not queued", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.addWorker("w2", 1);
    // 4 tasks on 2 threads: not more than 2 x threads, so not root-ish.
    const out = d.submit("c1", leaves(4), leaves(4).map(([k]) => k), true);
    assert.equal(computeTasks(out).length, 4);
    d.s.validateState();
  });

  it("tiny durations widen the limit (pipelining), long ones do not", () => {
    for (const [duration, expectMore] of [
      [1e-6, true],
      [1, false],
    ] as const) {
      const d = new SchedulerDriver();
      d.addWorker("w1", 1);
      const n = 1000;
      let out = d.submit("c1", leaves(n), leaves(n).map(([k]) => k), true);
      assert.equal(computeTasks(out).length, 2);
      out = d.finish("leaf[0]", { duration });
      const sent = computeTasks(out).length;
      if (expectMore) {
        assert.ok(sent > 100, `only ${sent} root tasks released after a ${duration}s task`);
        assert.equal(d.processingOn("w1").length, n - 1, "5 ms of 1 µs tasks covers the whole group");
      } else {
        assert.equal(sent, 1);
        assert.equal(d.processingOn("w1").length, 2);
      }
      d.s.validateState();
    }
  });

  it("pipelining is capped by maxRootTasksPerThread", () => {
    const d = new SchedulerDriver({ maxRootTasksPerThread: 10 });
    d.addWorker("w1", 3);
    d.submit("c1", leaves(500), leaves(500).map(([k]) => k), true);
    assert.equal(d.processingOn("w1").length, 4);
    d.finish("leaf[0]", { duration: 1e-7 });
    assert.equal(d.processingOn("w1").length, 30);
    d.s.validateState();
  });

  it("root tasks of a queued group feeding a reduction all run and the reduction gets them", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.addWorker("w2", 1);
    const ls = leaves(20);
    const out = d.submit("c1", [...ls, ["total", call(sum, ...ls.map(([k]) => k))]], ["total"], true);
    assert.equal(computeTasks(out).length, 4);
    for (let i = 0; i < 20; i++) {
      assert.ok(d.processingOn("w1").length <= 2 && d.processingOn("w2").length <= 2);
      d.finish(`leaf[${i}]`, { duration: 1 });
    }
    const total = d.sent.get("total");
    assert.ok(total !== undefined);
    assert.equal(Object.keys(whoHasOf(total) ?? {}).length, 20);
    d.finish("total", { value: 1 });
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });
});

describe("SchedulerState: persist and release", () => {
  it("persisted keys stay in memory until the client releases them; then every key is forgotten and the holders are told", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.addWorker("w2", 1);
    let out = d.submit("c1", [["x", call(inc, 1)], ["y", call(inc, 2)], ["z", call(add, "x", "y")]], ["x", "z"], false);
    assert.equal(computeTasks(out).length, 2);
    const xw = d.workerOf("x");
    const yw = d.workerOf("y");
    assert.notEqual(xw, yw, "the second independent task goes to the idle worker");
    out = d.finish("x");
    assert.deepEqual(clientMsgs(out), [{ op: "key-in-memory", key: "x", hasValue: false }]);
    d.finish("y");
    assert.equal(d.sent.get("z")!.deliver, false);
    out = d.finish("z");
    assert.deepEqual(clientMsgs(out), [{ op: "key-in-memory", key: "z", hasValue: false }]);
    assert.deepEqual(freedKeys(out).get(yw), ["y"], "y is not wanted: released after z");
    assert.equal(d.stateOf("x"), "memory");
    assert.equal(d.stateOf("z"), "memory");
    assert.equal(d.stateOf("y"), "released");
    const zw = d.workerOf("z");

    // A compute on top of a persisted key reads it where it is and leaves it there.
    out = d.submit("c2", [["w", call(inc, "x")]], ["w"], true);
    assert.deepEqual(computeTasks(out).map((m) => [m.key, whoHasOf(m), m.deliver]), [["w", { x: [xw] }, true]]);
    out = d.finish("w", { value: 3 });
    assert.deepEqual(clientMsgs(out, "c2"), [{ op: "key-in-memory", key: "w", hasValue: true, value: 3 }]);
    assert.equal(d.stateOf("x"), "memory");
    assert.equal(freedKeys(out).size, 0);

    out = d.release("c1", ["x", "z"]);
    const freed = freedKeys(out);
    assert.ok(freed.get(xw)?.includes("x"), "x freed on its holder");
    assert.ok(freed.get(zw)?.includes("z"), "z freed on its holder");
    assert.deepEqual(computeTasks(out), []);
    assert.equal(d.s.tasks.size, 0);
    for (const ws of d.s.workers.values()) {
      assert.equal(ws.hasWhat.size, 0);
      assert.equal(ws.nbytes, 0);
    }
    d.s.validateState();
  });

  it("two clients wanting the same key share one task; releasing by one keeps it for the other", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    let out = d.submit("c1", [["x", call(inc, 1)]], ["x"], false);
    assert.equal(computeTasks(out).length, 1);
    out = d.submit("c2", [["x", call(inc, 1)]], ["x"], false);
    assert.deepEqual(computeTasks(out), [], "not computed twice");
    out = d.finish("x");
    assert.deepEqual(
      toClients(out).map((m) => m.client).sort(),
      ["c1", "c2"],
    );
    out = d.release("c1", ["x"]);
    assert.equal(freedKeys(out).size, 0);
    assert.equal(d.stateOf("x"), "memory");
    // A third client gets it at once.
    out = d.submit("c3", [["x", call(inc, 1)]], ["x"], true);
    assert.deepEqual(clientMsgs(out, "c3"), [{ op: "key-in-memory", key: "x", hasValue: false }]);
    assert.deepEqual(computeTasks(out), []);
    d.release("c3", ["x"]);
    out = d.release("c2", ["x"]);
    assert.deepEqual(Object.fromEntries(freedKeys(out)), { w1: ["x"] });
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });

  it("a client leaving releases what it wanted, even while it is still being computed", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.submit("c1", [["a", call(inc, 1)], ["b", call(inc, "a")]], ["b"], true);
    const out = d.handle({ type: "remove-client", client: "c1", stimulusId: "bye" });
    assert.deepEqual(Object.fromEntries(freedKeys(out)), { w1: ["a"] }, "the processing task is cancelled on its worker");
    assert.equal(d.s.tasks.size, 0);
    assert.equal(d.s.workers.get("w1")!.processing.size, 0);
    // Its result, arriving late, is stale.
    const late = d.finish("a");
    assert.deepEqual(Object.fromEntries(freedKeys(late)), { w1: ["a"] });
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });

  it("a second client persisting a key that is being computed for delivery still gets it held", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.submit("c1", [["x", call(inc, 1)]], ["x"], true);
    assert.equal(d.sent.get("x")!.deliver, true);
    d.submit("c2", [["x", call(inc, 1)]], ["x"], false);
    const out = d.finish("x", { value: 2 });
    assert.deepEqual(clientMsgs(out, "c1"), [{ op: "key-in-memory", key: "x", hasValue: true, value: 2 }]);
    // c2 asked to persist: the key must stay held for it until it releases it.
    assert.equal(d.stateOf("x"), "memory", "persisted key was forgotten");
    d.s.validateState();
  });

  it("a key being computed for delivery that gains a dependent from another graph is computed once, then the dependent runs", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.submit("c1", [["x", call(inc, 1)]], ["x"], true);
    d.submit("c2", [["x", call(inc, 1)], ["y", call(inc, "x")]], ["y"], true);
    let xRuns = 0;
    for (let round = 0; round < 5 && !d.sent.has("y"); round++) {
      const c = d.sent.get("x")!;
      if (c.runId === undefined) break;
      xRuns++;
      d.finish("x", { value: 2 });
    }
    assert.ok(d.sent.has("y"), `y never sent; x was computed ${xRuns} times, last deliver=${d.sent.get("x")!.deliver}, state ${d.stateOf("x")}`);
    assert.equal(xRuns, 1);
    d.s.validateState();
  });
});

describe("SchedulerState: errors", () => {
  it("a task-erred marks every dependent erred and reports the blame to the client", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.submit(
      "c1",
      [
        ["a", call(inc, 1)],
        ["b", call(inc, "a")],
        ["c", call(inc, "b")],
        ["d", call(inc, "a")],
        ["e", call(inc, 5)],
      ],
      ["c", "d", "e"],
      true,
    );
    assert.deepEqual([...d.sent.keys()].sort(), ["a", "e"]);
    const out = d.fail("a");
    for (const k of ["a", "b", "c", "d"]) assert.equal(d.stateOf(k), "erred", k);
    const errs = clientMsgs(out, "c1");
    assert.deepEqual(
      errs.map((m) => (m.op === "task-erred" ? [m.key, m.blame, m.error.name, m.error.message] : m.op)).sort(),
      [
        ["c", "a", "RangeError", "boom a"],
        ["d", "a", "RangeError", "boom a"],
      ],
    );
    assert.deepEqual([...d.sent.keys()].sort(), ["a", "e"], "nothing downstream was sent");
    assert.equal(d.s.tasks.get("c")!.exceptionBlame?.key, "a");
    // e is unaffected.
    const eo = d.finish("e", { value: 6 });
    assert.deepEqual(clientMsgs(eo), [{ op: "key-in-memory", key: "e", hasValue: true, value: 6 }]);
    // Re-submitting an erred key re-reports the error without running anything.
    const again = d.submit("c2", [["c", call(inc, "b")]], ["c"], true);
    assert.deepEqual(computeTasks(again), []);
    assert.deepEqual(
      clientMsgs(again, "c2").map((m) => (m.op === "task-erred" ? [m.key, m.blame] : m.op)),
      [["c", "a"]],
    );
    d.release("c2", ["c"]);
    d.release("c1", ["c", "d"]);
    assert.equal(d.s.tasks.size, 0, "released errors are forgotten");
    d.s.validateState();
  });

  it("a task that fails after its inputs arrived releases them and blames itself", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.submit("c1", [["a", call(inc, 1)], ["b", call(inc, "a")], ["c", call(inc, "b")]], ["c"], true);
    d.finish("a");
    const out = d.fail("b");
    assert.deepEqual(Object.fromEntries(freedKeys(out)), { w1: ["a"] });
    assert.equal(d.stateOf("a"), "released");
    assert.deepEqual(
      clientMsgs(out).map((m) => (m.op === "task-erred" ? [m.key, m.blame] : m.op)),
      [["c", "b"]],
    );
    d.release("c1", ["c"]);
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });

  it("a graph depending on an erred key errs at once", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.submit("c1", [["a", call(inc, 1)]], ["a"], false);
    d.fail("a");
    const out = d.submit("c2", [["b", call(inc, "a")]], ["b"], true);
    assert.deepEqual(computeTasks(out), []);
    assert.deepEqual(
      clientMsgs(out, "c2").map((m) => (m.op === "task-erred" ? [m.key, m.blame] : m.op)),
      [["b", "a"]],
    );
    d.s.validateState();
  });
});

describe("SchedulerState: packed results", () => {
  it("a tasks-finished message does what its task-finished messages do one by one, stale entries included", () => {
    const run = (packed: boolean) => {
      const d = new SchedulerDriver();
      d.addWorker("w1", 1);
      d.submit("c1", [...leaves(30), ["total", call(sum, ...leaves(30).map(([k]) => k))]], ["total"], true);
      const sent = [...d.sent.values()].filter((c) => c.worker === "w1");
      // Every result, plus one stale (wrong run id) and one unknown key.
      const results = [...sent.map((c) => ({ key: c.key, runId: c.runId })), { key: sent[0]!.key, runId: 999 }, { key: "ghost", runId: 1 }];
      const msgs = results.map((r, i) => ({ op: "task-finished" as const, key: r.key, runId: r.runId, nbytes: 8 + i, duration: 1e-6, delivered: false, stimulusId: `exec-${i}` }));
      const out = packed
        ? d.s.handleWorkerMessages("w1", [
            {
              op: "tasks-finished",
              keys: msgs.map((m) => m.key),
              runIds: Float64Array.from(msgs, (m) => m.runId),
              nbytes: Float64Array.from(msgs, (m) => m.nbytes),
              durations: Float64Array.from(msgs, (m) => m.duration),
              stimulusIds: msgs.map((m) => m.stimulusId),
            },
          ])
        : d.s.handleWorkerMessages("w1", msgs);
      d.s.validateState();
      return { out, log: d.s.log.map((r) => `${r.key} ${r.start}->${r.finish} ${r.stimulusId}`), states: [...d.s.tasks.values()].map((t) => `${t.key}:${t.state}`) };
    };
    const one = run(false);
    const packed = run(true);
    assert.deepEqual(packed.out, one.out);
    assert.deepEqual(packed.log, one.log, "the same transitions, each under its result's stimulus id");
    assert.deepEqual(packed.states, one.states);
    assert.ok(one.log.some((l) => l.endsWith(" exec-1")), "the second result made transitions of its own");
    assert.ok(freedKeys(one.out).get("w1")?.includes("ghost"), "the unknown key is freed");
    assert.ok(computeTasks(one.out).length > 0, "freed slots were refilled");
  });
});

describe("SchedulerState: stale messages", () => {
  it("a task-finished with the wrong runId is ignored; a worker that is not running the key is told to drop it", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.addWorker("w2", 1);
    d.submit("c1", [["x", call(inc, 1)]], ["x"], false);
    const c = d.sent.get("x")!;
    // From the worker running the current run: its only record of x is that run, so it must not be freed.
    let out = d.finish("x", { runId: c.runId + 100 });
    assert.equal(d.stateOf("x"), "processing");
    assert.deepEqual(Object.fromEntries(freedKeys(out)), {});
    assert.deepEqual(clientMsgs(out), []);
    // Right runId, wrong worker: stale too.
    const other = c.worker === "w1" ? "w2" : "w1";
    out = d.finish("x", { worker: other });
    assert.equal(d.stateOf("x"), "processing");
    assert.deepEqual(Object.fromEntries(freedKeys(out)), { [other]: ["x"] });
    // Unknown key.
    out = d.handle({ type: "worker-message", worker: "w1", msg: { op: "task-finished", key: "ghost", runId: 1, nbytes: 1, duration: 0, delivered: false, stimulusId: "s" }, stimulusId: "s" });
    assert.deepEqual(Object.fromEntries(freedKeys(out)), { w1: ["ghost"] });
    // A stale task-erred changes nothing.
    out = d.handle({ type: "worker-message", worker: c.worker, msg: { op: "task-erred", key: "x", runId: c.runId + 100, error: { name: "E", message: "m", stack: "" }, stimulusId: "s2" }, stimulusId: "s2" });
    assert.equal(d.stateOf("x"), "processing");
    assert.deepEqual(out, []);
    // The real one still counts.
    out = d.finish("x");
    assert.equal(d.stateOf("x"), "memory");
    assert.deepEqual(clientMsgs(out), [{ op: "key-in-memory", key: "x", hasValue: false }]);
    d.s.validateState();
  });

  it("a stale task-finished from the worker now running the key again does not free the new run", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.submit("c1", [["x", call(inc, 1)]], ["x"], false);
    const run1 = d.sent.get("x")!.runId;
    d.release("c1", ["x"]); // free-keys x -> w1 (its task-finished for run1 is already on the wire)
    d.submit("c1", [["x", call(inc, 1)]], ["x"], false);
    const run2 = d.sent.get("x")!;
    assert.equal(run2.worker, "w1");
    assert.notEqual(run2.runId, run1);
    const out = d.finish("x", { runId: run1 });
    assert.deepEqual(Object.fromEntries(freedKeys(out)), {}, "free-keys sent for the key w1 was just asked to compute");
    d.s.validateState();
  });
});

describe("SchedulerState: worker loss", () => {
  it("removing a worker re-runs its processing tasks elsewhere and recomputes results only it held", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.submit(
      "c1",
      [
        ["a", call(inc, 1)],
        ["c", call(inc, 2)],
        ["d", call(add, "a", "c")],
        ["e", call(inc, 3)],
      ],
      ["d", "e"],
      false,
    );
    // a in memory on w1 (its only copy, still needed by d); c and e processing there.
    d.finish("a");
    assert.deepEqual(d.processingOn("w1"), ["c", "e"]);
    d.addWorker("w2", 1);
    const eRun = d.sent.get("e")!.runId;

    const out = d.removeWorker("w1", false);
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]).sort(), [
      ["a", "w2"],
      ["c", "w2"],
      ["e", "w2"],
    ]);
    assert.ok(d.sent.get("e")!.runId > eRun, "a new run id");
    assert.equal(d.stateOf("d"), "waiting");
    assert.equal(d.s.tasks.get("e")!.suspicious, 1);
    assert.equal(d.s.tasks.get("a")!.suspicious, 0, "a was in memory, not running");
    assert.deepEqual(freedKeys(out), new Map(), "nothing to free on a dead worker");

    // A late message from the dead worker is ignored.
    const late = d.handle({ type: "worker-message", worker: "w1", msg: { op: "task-finished", key: "e", runId: eRun, nbytes: 8, duration: 0, delivered: false, stimulusId: "late" }, stimulusId: "late" });
    assert.deepEqual(late, []);
    assert.equal(d.stateOf("e"), "processing");

    d.finish("a");
    d.finish("e");
    assert.deepEqual(computeTasks(d.finish("c")).map((m) => [m.key, m.worker]), [["d", "w2"]]);
    d.finish("d");
    for (const k of ["d", "e"]) assert.equal(d.stateOf(k), "memory");
    assert.equal(d.stateOf("a"), "released");
    d.s.validateState();
  });

  it("a lost persisted result whose inputs were already released is recomputed from scratch", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.submit("c1", [["a", call(inc, 1)], ["b", call(inc, "a")]], ["b"], false);
    d.finish("a");
    d.finish("b");
    assert.equal(d.stateOf("a"), "released");
    d.addWorker("w2", 1);
    let out = d.removeWorker("w1");
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]), [["a", "w2"]]);
    assert.equal(d.stateOf("b"), "waiting");
    out = d.finish("a");
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]), [["b", "w2"]]);
    out = d.finish("b");
    assert.deepEqual(toClients(out).map((m) => m.msg), [{ op: "key-in-memory", key: "b", hasValue: false }]);
    assert.deepEqual(Object.fromEntries(freedKeys(out)), { w2: ["a"] });
    assert.equal(d.s.tasks.get("b")!.suspicious, 0);
    d.s.validateState();
  });

  it("a task running on a dead worker whose input lived only there waits for the input to be recomputed", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.addWorker("w2", 1);
    d.submit("c1", [["a", call(inc, 1)], ["b", call(inc, "a")]], ["b"], true);
    d.finish("a");
    assert.equal(d.workerOf("b"), "w1");
    const out = d.removeWorker("w1");
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]), [["a", "w2"]]);
    assert.equal(d.stateOf("b"), "waiting");
    const o2 = d.finish("a");
    assert.deepEqual(computeTasks(o2).map((m) => [m.key, m.worker, whoHasOf(m)]), [["b", "w2", { a: ["w2"] }]]);
    d.finish("b", { value: 3 });
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });

  it("a task whose worker dies while a dependent elsewhere still needs its result is recomputed, and the dependent restarts", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.addWorker("w2", 1);
    d.submit("c1", [["a", call(inc, 1)], ["c", call(inc, 2)], ["d", call(add, "a", "c")]], ["d"], true);
    d.finish("a", { nbytes: 10 }); // on w1
    d.finish("c", { nbytes: 1e9 }); // on w2: d goes to w2 (fewer bytes to move)
    assert.equal(d.workerOf("d"), "w2");
    // w1 dies while w2 fetches a from it.
    const out = d.removeWorker("w1");
    assert.deepEqual(Object.fromEntries(freedKeys(out)), { w2: ["d"] }, "d is restarted: its worker may be stuck fetching from the dead one");
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]), [["a", "w2"]]);
    assert.equal(d.stateOf("d"), "waiting");
    d.finish("a");
    assert.deepEqual(whoHasOf(d.sent.get("d")!), { a: ["w2"], c: ["w2"] });
    d.finish("d", { value: 5 });
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });

  it("missing-data from a worker drops the errant holder and recomputes a key with no copy left", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.addWorker("w2", 1);
    d.submit("c1", [["a", call(inc, 1)], ["c", call(inc, 2)], ["d", call(add, "a", "c")]], ["d"], true);
    d.finish("a", { nbytes: 10 });
    d.finish("c", { nbytes: 1e9 });
    assert.equal(d.workerOf("d"), "w2");
    const out = d.handle({ type: "worker-message", worker: "w2", msg: { op: "missing-data", key: "a", errantWorker: "w1", stimulusId: "md" }, stimulusId: "md" });
    assert.equal(d.s.workers.get("w1")!.hasWhat.size, 0);
    assert.ok(computeTasks(out).some((m) => m.key === "a"), "a is recomputed");
    assert.ok(freedKeys(out).get("w2")?.includes("d"), "d is restarted on w2");
    d.finish("a");
    d.finish("d", { value: 5 });
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });

  it("a task on workers that die 3 times errs with KilledWorkerError; deaths of retired workers do not count", () => {
    const d = new SchedulerDriver();
    for (let i = 0; i < 8; i++) d.addWorker(`w${i}`, 1);
    d.submit("c1", [["x", call(inc, 1)], ["y", call(inc, "x")]], ["y"], true);

    // Retirements (expected: true) do not make x suspicious.
    for (let i = 0; i < 3; i++) {
      const w = d.workerOf("x");
      const out = d.removeWorker(w, true);
      assert.equal(d.stateOf("x"), "processing");
      assert.equal(computeTasks(out).length, 1, "re-sent");
    }
    assert.equal(d.s.tasks.get("x")!.suspicious, 0);

    // Deaths do.
    for (let i = 1; i <= 2; i++) {
      d.removeWorker(d.workerOf("x"), false);
      assert.equal(d.stateOf("x"), "processing");
      assert.equal(d.s.tasks.get("x")!.suspicious, i);
    }
    const last = d.workerOf("x");
    const out = d.removeWorker(last, false);
    assert.equal(d.stateOf("x"), "erred");
    assert.equal(d.stateOf("y"), "erred");
    assert.deepEqual(computeTasks(out), []);
    const msgs = clientMsgs(out, "c1");
    assert.equal(msgs.length, 1);
    const m = msgs[0]!;
    assert.equal(m.op, "task-erred");
    if (m.op !== "task-erred") return;
    assert.equal(m.key, "y");
    assert.equal(m.blame, "x");
    assert.equal(m.error.name, "KilledWorkerError");
    assert.equal(m.error.code, "DASK_ERR_KILLED_WORKER");
    assert.equal(m.error.fields?.["key"], "x");
    assert.equal(m.error.fields?.["lastWorker"], last);
    assert.equal(m.error.fields?.["allowedFailures"], 3);
    d.release("c1", ["y"]);
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });

  it("allowedFailures is configurable", () => {
    const d = new SchedulerDriver({ allowedFailures: 1 });
    d.addWorker("w1");
    d.addWorker("w2");
    d.submit("c1", [["x", call(inc, 1)]], ["x"], true);
    d.removeWorker(d.workerOf("x"));
    assert.equal(d.stateOf("x"), "erred");
    d.s.validateState();
  });

  it("a result in memory on a worker that dies is not blamed for the death", () => {
    const d = new SchedulerDriver();
    for (let i = 0; i < 5; i++) d.addWorker(`w${i}`, 1);
    d.submit("c1", [["x", call(inc, 1)]], ["x"], false);
    for (let i = 0; i < 4; i++) {
      d.finish("x");
      d.removeWorker(d.workerOf("x"), false);
      assert.equal(d.stateOf("x"), "processing", "recomputed, not erred");
    }
    assert.equal(d.s.tasks.get("x")!.suspicious, 0);
    d.s.validateState();
  });
});

describe("SchedulerState: scattered data", () => {
  const scatter = (d: SchedulerDriver, keys: Key[], opts: { broadcast?: boolean; workers?: string[]; nbytes?: number[] } = {}) =>
    d.handle({ type: "scatter", client: "c1", keys, values: keys.map((k) => `value of ${k}`), nbytes: opts.nbytes ?? keys.map(() => 100), broadcast: opts.broadcast ?? false, ...(opts.workers ? { workers: opts.workers } : {}), stimulusId: d.sid("scatter") });
  const putData = (out: ReturnType<SchedulerDriver["handle"]>) => toWorkers(out).filter((i) => i.msg.op === "put-data").map((i) => [i.worker, (i.msg as { key: Key }).key]);

  it("places each value on the worker holding the fewest bytes, or on every worker; reports it in memory", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1");
    d.addWorker("w2");
    let out = scatter(d, ["s-a", "s-b", "s-c"], { nbytes: [500, 100, 100] });
    assert.deepEqual(putData(out), [["w1", "s-a"], ["w2", "s-b"], ["w2", "s-c"]]);
    assert.deepEqual(clientMsgs(out).map((m) => [m.op, m.key]), [["key-in-memory", "s-a"], ["key-in-memory", "s-b"], ["key-in-memory", "s-c"]]);
    out = scatter(d, ["s-all"], { broadcast: true });
    assert.deepEqual(putData(out), [["w1", "s-all"], ["w2", "s-all"]]);
    out = scatter(d, ["s-a"], { broadcast: true });
    assert.deepEqual(putData(out), [["w2", "s-a"]], "a broadcast of a held value copies it where it is missing");
    assert.equal(d.s.tasks.get("s-a")!.run, undefined);
  });

  it("losing the last copy errs the value with LostDataError, and its dependents; a worker with a copy keeps it", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1");
    d.addWorker("w2");
    scatter(d, ["s-one"], { workers: ["w1"] });
    scatter(d, ["s-both"], { broadcast: true });
    d.submit("c1", [["use", call(add, "s-one", "s-both")]], ["use"], false);
    const out = d.removeWorker("w1");
    const erred = clientMsgs(out, "c1").filter((m) => m.op === "task-erred");
    assert.deepEqual(erred.map((m) => [m.key, m.op === "task-erred" ? m.blame : ""]), [["s-one", "s-one"], ["use", "s-one"]]);
    assert.equal(erred[0]!.op === "task-erred" && erred[0]!.error.code, "DASK_ERR_LOST_DATA");
    assert.equal(erred[0]!.op === "task-erred" && erred[0]!.error.fields?.["lastWorker"], "w1");
    assert.equal(computeTasks(out).length, 0, "nothing is run to recreate data");
    assert.equal(d.stateOf("s-both"), "memory");
    // Scattered again, the same key is data in memory again.
    const again = scatter(d, ["s-one"]);
    assert.deepEqual(putData(again), [["w2", "s-one"]]);
    assert.equal(d.stateOf("s-one"), "memory");
    d.release("c1", ["s-one", "s-both", "use"]);
    assert.equal(d.s.tasks.size, 0);
  });

  it("a scatter to the key of a computed task that was let go (released, a dependent still held) computes it again for the client", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1");
    d.submit("c1", [["x", call(inc, 1)], ["y", call(inc, "x")]], ["y"], false);
    d.finish("x");
    d.finish("y");
    assert.equal(d.stateOf("x"), "released", "x is let go once y holds its result");
    const out = scatter(d, ["x"]);
    assert.deepEqual(putData(out), [], "a computation keeps its own course");
    assert.equal(d.stateOf("x"), "processing", "wanted again, it runs: else the scatter's future would wait forever");
    d.finish("x");
    assert.deepEqual(clientMsgs(d.history, "c1").filter((m) => m.key === "x").map((m) => m.op), ["key-in-memory"]);
  });

  it("retry of lost data, or of a task that failed for it, keeps the error that names the lost worker", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1");
    d.addWorker("w2");
    scatter(d, ["s-one"], { workers: ["w1"] });
    d.submit("c1", [["use", call(inc, "s-one")]], ["use"], false);
    d.removeWorker("w1");
    for (const key of ["s-one", "use"]) {
      // Nothing can compute data again: a retry must not swap the error for one that says less.
      const out = d.handle({ type: "retry", keys: [key], stimulusId: d.sid("retry") });
      assert.equal(computeTasks(out).length, 0);
      for (const k of ["s-one", "use"]) {
        assert.equal(d.stateOf(k), "erred");
        assert.equal(d.s.tasks.get(k)!.exception!.fields?.["lastWorker"], "w1", `${k} after retry(${key})`);
      }
    }
    d.s.validateState();
  });
});

describe("SchedulerState: a retiring worker", () => {
  it("gets no new tasks, queued root tasks, scattered data or stolen work, while what it runs finishes", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1");
    d.addWorker("w2");
    d.submit("c1", [["held", call(inc, 1)]], ["held"], false);
    const holder = d.workerOf("held");
    const other = holder === "w1" ? "w2" : "w1";
    d.finish("held");
    d.submit("c1", [["running", call(inc, 2)]], ["running"], false);
    const runningOn = d.workerOf("running");
    d.handle({ type: "worker-closing", address: holder, stimulusId: d.sid("retire") });
    // A task reading what the retiring worker holds goes to the other, which fetches it.
    d.submit("c1", [["reads", call(inc, "held")]], ["reads"], false);
    assert.equal(d.workerOf("reads"), other);
    // Root tasks of a large group all go to the other worker.
    const roots = Array.from({ length: 12 }, (_, i) => [`r[${i}]`, call(inc, i)] as const);
    d.submit("c1", roots, roots.map(([k]) => k), false);
    assert.ok(roots.every(([k]) => d.stateOf(k) === "queued" || d.workerOf(k) === other));
    const scattered = d.handle({ type: "scatter", client: "c1", keys: ["s"], values: [1], nbytes: [8], broadcast: true, stimulusId: d.sid("scatter") });
    assert.deepEqual(toWorkers(scattered).filter((i) => i.msg.op === "put-data").map((i) => i.worker), [other]);
    // What it was running still counts when it finishes.
    d.finish("running", { worker: runningOn });
    assert.equal(d.stateOf("running"), "memory");
    const balanced = d.handle({ type: "balance", stimulusId: d.sid("balance") });
    assert.ok(toWorkers(balanced).every((i) => i.msg.op !== "steal-request" || i.worker !== holder));
    d.removeWorker(holder, true);
    d.s.validateState();
  });
});

describe("SchedulerState: no workers", () => {
  it("ready tasks wait in no-worker until a worker joins", () => {
    const d = new SchedulerDriver();
    let out = d.submit("c1", [["a", call(inc, 1)], ["b", call(inc, "a")]], ["b"], true);
    assert.deepEqual(out, []);
    assert.equal(d.stateOf("a"), "no-worker");
    assert.equal(d.stateOf("b"), "waiting");
    out = d.addWorker("w1", 1);
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]), [["a", "w1"]]);
    assert.equal(d.s.unrunnable.size, 0);
    d.finish("a");
    d.finish("b");
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });

  it("many root tasks with no workers are placed respecting the slot limit when one joins", () => {
    const d = new SchedulerDriver();
    d.submit("c1", leaves(30), leaves(30).map(([k]) => k), true);
    assert.equal(d.history.length, 0);
    const out = d.addWorker("w1", 1);
    assert.equal(computeTasks(out).length, 2);
    assert.equal(d.processingOn("w1").length, 2);
    d.s.validateState();
  });

  it("the last worker dying sends its tasks back to no-worker, and the next one runs them", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.submit("c1", [["a", call(inc, 1)]], ["a"], true);
    let out = d.removeWorker("w1");
    assert.deepEqual(out, []);
    assert.equal(d.stateOf("a"), "no-worker");
    out = d.addWorker("w2", 1);
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]), [["a", "w2"]]);
    d.finish("a", { value: 2 });
    assert.equal(d.s.tasks.size, 0);
    d.s.validateState();
  });
});

describe("SchedulerState: story", () => {
  it("story(key) lists the named transitions with the stimulus that caused each", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.handle({ type: "update-graph", client: "c1", tasks: [["a", call(inc, 1)], ["b", call(inc, "a")]], keys: ["b"], deliver: true, stimulusId: "ug-1" });
    d.finish("a", { stimulusId: "fin-a" });
    d.finish("b", { stimulusId: "fin-b" });
    const story = (k: Key) => d.s.story(k).map((r) => [r.start, r.finish, r.stimulusId]);
    assert.deepEqual(story("a"), [
      ["released", "waiting", "ug-1"],
      ["waiting", "processing", "ug-1"],
      ["processing", "memory", "fin-a"],
      ["memory", "released", "fin-b"],
      ["released", "forgotten", "fin-b"],
    ]);
    // b is delivered with its completion: no worker ever holds it, so it is never "memory".
    assert.deepEqual(story("b"), [
      ["released", "waiting", "ug-1"],
      ["waiting", "processing", "fin-a"],
      ["processing", "released", "fin-b"],
      ["released", "forgotten", "fin-b"],
    ]);
    assert.deepEqual(d.s.story("nope"), []);
  });

  it("the log is bounded by transitionLogSize and off by default", () => {
    const s = new SchedulerState({ validate: true, transitionLogSize: 3 });
    s.handle({ type: "add-worker", address: "w1", nthreads: 1, stimulusId: "a" });
    s.handle({ type: "update-graph", client: "c", tasks: [["a", call(inc, 1)], ["b", call(inc, "a")]], keys: ["b"], deliver: true, stimulusId: "u" });
    assert.equal(s.log.length, 3);
    const off = new SchedulerState({ validate: true });
    off.handle({ type: "add-worker", address: "w1", nthreads: 1, stimulusId: "a" });
    off.handle({ type: "update-graph", client: "c", tasks: [["a", call(inc, 1)]], keys: ["a"], deliver: true, stimulusId: "u" });
    assert.deepEqual(off.story("a"), []);
    s.validateState();
    off.validateState();
  });
});

describe("SchedulerState: priorities", () => {
  it("queued root tasks leave in priority order: user priority, then submission, then graph order", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 1);
    d.submit("c1", leaves(10, "lo"), leaves(10, "lo").map(([k]) => k), true);
    d.submit("c2", leaves(10, "hi"), leaves(10, "hi").map(([k]) => k), true, 5);
    assert.deepEqual(d.processingOn("w1"), ["lo[0]", "lo[1]"]);
    const order: Key[] = [];
    for (let i = 0; i < 20; i++) {
      const k = d.processingOn("w1")[0]!;
      const out = d.finish(k, { duration: 1 });
      order.push(...computeTasks(out).map((m) => m.key));
    }
    assert.deepEqual(order.slice(0, 10), leaves(10, "hi").map(([k]) => k));
    assert.deepEqual(order.slice(10), leaves(10, "lo").map(([k]) => k).slice(2));
    assert.equal(toWorkers(d.history).filter((m) => m.msg.op === "compute-task").length, 20);
    d.s.validateState();
  });
});

// ---- end to end: one scheduler and N workers, simulated -----------------------

const TREE_SUM = 8390656; // sum of inc(i) for i < 4096

describe("simulated cluster", () => {
  it("a 4096-leaf tree reduction on 3 workers gives the right sum, strict FIFO and shuffled deliveries", () => {
    const { graph, root } = treeReduction(4096);
    for (const seed of [undefined, 1, 2]) {
      const c = new Cluster({ workers: [1, 2, 1], ...(seed === undefined ? {} : { seed }) });
      c.submit("c1", graph, [root]);
      c.run();
      assert.deepEqual([...c.client("c1").values], [[root, TREE_SUM]], `seed ${seed}`);
      assert.equal(c.client("c1").errors.size, 0);
      c.assertClean();
      // Every worker did some of the work, and no worker ran more tasks than threads.
      for (const w of c.workers.values()) {
        assert.ok(w.peakExecuting >= 1 && w.peakExecuting <= w.nthreads, `${w.address}: peak ${w.peakExecuting}`);
      }
    }
  });

  it("smaller tree reductions under many delivery orders", () => {
    const { graph, root } = treeReduction(300);
    for (let seed = 100; seed < 120; seed++) {
      const c = new Cluster({ workers: [1, 3, 2], seed, validateEveryStep: true });
      c.submit("c1", graph, [root]);
      c.run();
      assert.equal(c.client("c1").values.get(root), (300 * 301) / 2, `seed ${seed}`);
      c.assertClean();
    }
  });

  it("a worker killed in the middle of a 4096-leaf tree reduction: the sum is still right", () => {
    const { graph, root } = treeReduction(4096);
    for (const [seed, at] of [
      [undefined, 5000],
      [1, 12000],
      [2, 20000],
    ] as const) {
      let killed = false;
      const c = new Cluster({
        workers: [1, 2, 1],
        ...(seed === undefined ? {} : { seed }),
        onStep: (cl, step) => {
          if (step === at) {
            cl.killWorker("w1");
            killed = true;
          }
        },
      });
      c.submit("c1", graph, [root]);
      c.run();
      assert.ok(killed, "the run ended before the kill");
      assert.deepEqual([...c.client("c1").values], [[root, TREE_SUM]], `seed ${seed}, kill at ${at}:\n${c.describe()}`);
      c.assertClean();
    }
  });

  it("a worker killed at many different moments of a smaller tree reduction", () => {
    const { graph, root } = treeReduction(300);
    const failures: string[] = [];
    for (let seed = 200; seed < 230; seed++) {
      const at = 50 + (seed - 200) * 60;
      const c = new Cluster({
        workers: [1, 2, 1],
        seed,
        validateEveryStep: true,
        onStep: (cl, step) => {
          if (step === at) cl.killWorker(`w${seed % 3}`);
        },
      });
      c.submit("c1", graph, [root]);
      try {
        c.run(100_000);
        const got = c.client("c1").values.get(root);
        if (got !== (300 * 301) / 2) failures.push(`seed ${seed} kill at ${at}: got ${String(got)} | ${c.describe().replace(/\n/g, " | ")}`);
        else c.assertClean();
      } catch (err) {
        failures.push(`seed ${seed} kill at ${at}: ${(err as Error).message.split("\n")[0]}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it("workers dying and joining at random during a computation never break an invariant nor the result", () => {
    const { graph, root } = treeReduction(1024);
    const expected = (1024 * 1025) / 2;
    const failures: string[] = [];
    for (let seed = 1; seed <= 12; seed++) {
      let kills = 0;
      const c = new Cluster({
        workers: [1, 1, 2, 1],
        seed,
        validateEveryStep: seed === 1,
        scheduler: { allowedFailures: 1000 },
        onStep: (cl, step) => {
          if (step % 900 === 0 && kills < 4) {
            const live = cl.liveWorkers();
            cl.killWorker(live[step % live.length]!.address);
            cl.addWorker(1 + (step % 2));
            kills++;
          }
        },
      });
      c.submit("c1", graph, [root]);
      try {
        c.run(200_000);
        const got = c.client("c1").values.get(root);
        if (got !== expected) failures.push(`seed ${seed}: got ${String(got)} | ${c.describe().replace(/\n/g, " | ")}`);
        else c.assertClean();
      } catch (err) {
        failures.push(`seed ${seed}: ${(err as Error).message.split("\n")[0]}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it("workers killed (and replaced) while peers fetch from them: the computation still finishes", () => {
    // Found by searching seeds of this exact setup; 7 in 1500 seeds hit it.
    const { graph, root } = treeReduction(200);
    const failures: string[] = [];
    for (const seed of [2, 292, 340]) {
      const at = 20 + ((seed * 37) % 1200);
      const at2 = 20 + ((seed * 53) % 1200);
      const c = new Cluster({
        workers: [1, 2, 1, 1],
        seed,
        scheduler: { allowedFailures: 100 },
        onStep: (cl, step) => {
          if (step !== at && step !== at2) return;
          const live = cl.liveWorkers();
          if (live.length < 2) return;
          cl.killWorker(live[seed % live.length]!.address);
          cl.addWorker(1);
        },
      });
      c.submit("c1", graph, [root]);
      try {
        c.run(100_000);
        const got = c.client("c1").values.get(root);
        if (got !== (200 * 201) / 2) failures.push(`seed ${seed}: got ${String(got)}`);
        else c.assertClean();
      } catch (err) {
        failures.push(`seed ${seed}: ${(err as Error).message.split("\n")[0]}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it("with slow root tasks, neither side ever has more than ceil(1.1 x nthreads) root tasks per worker", () => {
    const { graph, root } = treeReduction(512);
    const limit = (n: number): number => Math.ceil(1.1 * n);
    let peakSched = 0;
    let peakWorker = 0;
    const c = new Cluster({
      workers: [1, 2, 4],
      seed: 9,
      duration: () => 0.5,
      onStep: (cl) => {
        for (const ws of cl.scheduler.workers.values()) {
          assert.ok(ws.rootProcessing <= limit(ws.nthreads), `${ws.address}: ${ws.rootProcessing} root tasks assigned on ${ws.nthreads} threads`);
          peakSched = Math.max(peakSched, ws.rootProcessing);
        }
        for (const w of cl.liveWorkers()) {
          let roots = 0;
          for (const t of w.state.tasks.values()) if (t.run !== undefined && t.key.startsWith("inc[") && t.state !== "memory") roots++;
          assert.ok(roots <= limit(w.nthreads), `${w.address} holds ${roots} unfinished root tasks on ${w.nthreads} threads`);
          peakWorker = Math.max(peakWorker, roots);
        }
      },
    });
    c.submit("c1", graph, [root]);
    c.run();
    assert.equal(c.client("c1").values.get(root), (512 * 513) / 2);
    assert.equal(peakSched, limit(4), "the limit is reached, so the check is not vacuous");
    assert.ok(peakWorker >= 2);
    c.assertClean();
  });

  it("two clients persisting the same key: one releasing keeps it for the other", () => {
    const { graph, root } = treeReduction(16);
    const c = new Cluster({ workers: [1, 1], seed: 3 });
    c.submit("a", graph, [root], { deliver: false });
    c.submit("b", graph, [root], { deliver: false });
    c.run();
    assert.equal(c.client("a").values.get(root), 136);
    assert.equal(c.client("b").values.get(root), 136);
    c.release("a", [root]);
    c.run();
    assert.deepEqual(c.gather([root]), [136]);
    c.validate();
    c.release("b", [root]);
    c.run();
    c.assertClean();
  });

  it("a 2000-task chain", () => {
    const { graph, root } = chain(2000);
    for (const workers of [[1], [1, 1, 1]]) {
      const c = new Cluster({ workers, seed: 7 });
      c.submit("c1", graph, [root]);
      c.run();
      assert.equal(c.client("c1").values.get(root), 2000);
      c.assertClean();
    }
  });

  it("a graph with shared intermediates, several outputs, and a persisted result reused by a later compute", () => {
    const graph: Graph = new Map();
    graph.set("x", call(inc, 1)); // 2
    for (let i = 0; i < 8; i++) graph.set(`y[${i}]`, call(add, "x", i)); // 2 + i
    graph.set("z", call(sum, ...Array.from({ length: 8 }, (_, i) => `y[${i}]`))); // 16 + 28 = 44
    graph.set("w", call(mul, "x", "z")); // 88
    graph.set("m", call(max, "y[7]", "x", 3)); // 9
    graph.set("lit", { kind: "literal", value: { a: 1 } });
    graph.set("alias", { kind: "alias", target: "w" });
    for (const seed of [undefined, 11, 12, 13]) {
      const c = new Cluster({ workers: [1, 2], validateEveryStep: true, ...(seed === undefined ? {} : { seed }) });
      c.submit("c1", graph, ["z", "w", "y[3]", "m", "lit", "alias"]);
      c.run();
      const cl = c.client("c1");
      assert.deepEqual(Object.fromEntries(cl.values), { z: 44, w: 88, "y[3]": 5, m: 9, lit: { a: 1 }, alias: 88 }, `seed ${seed}`);
      // Outputs other tasks read are held and gathered; pure outputs are delivered.
      assert.deepEqual([...cl.held].sort(), ["w", "y[3]", "z"]);
      assert.equal(c.scheduler.tasks.get("m"), undefined);
      c.removeClient("c1");
      c.run();
      c.assertClean();

      // Persist, then compute on top of the held keys, then release.
      c.submit("p", cull(graph, ["z", "x"]), ["z", "x"], { deliver: false });
      c.run();
      assert.deepEqual(c.gather(["z", "x"]), [44, 2]);
      assert.deepEqual([...c.client("p").held].sort(), ["x", "z"]);
      c.submitTasks("c2", [["q", call(add, "z", "x")]], ["q"]);
      c.run();
      assert.equal(c.client("c2").values.get("q"), 46);
      assert.equal(c.scheduler.tasks.get("z")?.state, "memory");
      c.removeClient("c2");
      c.release("p", ["z", "x"]);
      c.run();
      c.assertClean();
    }
  });

  it("tasks of a submitted graph that no wanted key needs do not stay in the scheduler forever", () => {
    const graph: Graph = new Map([
      ["x", call(inc, 1)],
      ["unused", call(inc, "x")],
    ]);
    const c = new Cluster({ workers: [1] });
    c.submit("c1", graph, ["x"], { deliver: false });
    c.run();
    assert.deepEqual(c.gather(["x"]), [2]);
    c.release("c1", ["x"]);
    c.run();
    assert.deepEqual([...c.scheduler.tasks.keys()], [], `left: ${[...c.scheduler.tasks.values()].map((t) => `${t.key}:${t.state}`).join(" ")}`);
    c.assertClean();
  });

  it("a failing task reaches the client with its blame; its siblings still finish", () => {
    const graph: Graph = new Map([
      ["a", call(inc, 1)],
      ["bad", call(boom, "a")],
      ["after", call(inc, "bad")],
      ["fine", call(inc, "a")],
    ]);
    for (const seed of [undefined, 3, 4]) {
      const c = new Cluster({ workers: [1, 1], ...(seed === undefined ? {} : { seed }) });
      c.submit("c1", graph, ["after", "fine"]);
      c.run();
      const cl = c.client("c1");
      assert.equal(cl.values.get("fine"), 3);
      const err = cl.errors.get("after");
      assert.ok(err !== undefined);
      assert.equal(err.blame, "bad");
      assert.equal(err.error.name, "RangeError");
      assert.equal(err.error.message, "boom 2");
      c.removeClient("c1");
      c.run();
      c.validate();
      assert.equal(c.scheduler.tasks.size, 0);
    }
  });

  it("after a failing task is released, no worker keeps anything", () => {
    const c = new Cluster({ workers: [1] });
    c.submit("c1", new Map([["bad", call(boom, 1)]]), ["bad"]);
    c.run();
    assert.equal(c.client("c1").errors.get("bad")?.blame, "bad");
    c.removeClient("c1");
    c.run();
    assert.equal(c.scheduler.tasks.size, 0);
    c.assertClean();
  });

  it("a worker retired on purpose (expected) keeps nothing from finishing", () => {
    const { graph, root } = treeReduction(256);
    const c = new Cluster({
      workers: [1, 1, 1],
      seed: 5,
      onStep: (cl, step) => {
        if (step === 300) cl.killWorker("w0", true);
      },
    });
    c.submit("c1", graph, [root]);
    c.run();
    assert.equal(c.client("c1").values.get(root), (256 * 257) / 2);
    c.assertClean();
  });

  it("root tasks are pipelined once they are known to be tiny", () => {
    const n = 3000;
    const graph: Graph = new Map();
    for (let i = 0; i < n; i++) graph.set(`r[${i}]`, call(inc, i));
    graph.set("total", call(sum, ...Array.from({ length: n }, (_, i) => `r[${i}]`)));
    let peak = 0;
    const c = new Cluster({
      workers: [1],
      duration: () => 1e-6,
      onStep: (cl) => {
        peak = Math.max(peak, cl.scheduler.workers.get("w0")!.processing.size);
      },
    });
    c.submit("c1", graph, ["total"]);
    c.run();
    assert.equal(c.client("c1").values.get("total"), (n * (n + 1)) / 2);
    assert.ok(peak > 100, `at most ${peak} root tasks were ever assigned at once`);
    c.assertClean();
  });

  it("released while running, then asked for again on the same worker: it still completes", () => {
    const c = new Cluster({ workers: [1] });
    c.submit("p", new Map([["x", call(inc, 1)]]), ["x"], { deliver: false });
    c.stepWhere((d) => d.kind === "to-worker"); // compute-task x#1
    c.stepWhere((d) => d.kind === "execute"); // x runs; its task-finished is on the wire
    c.release("p", ["x"]);
    c.submit("p", new Map([["x", call(inc, 1)]]), ["x"], { deliver: false });
    c.run();
    assert.equal(c.client("p").values.get("x"), 2, `x is ${c.scheduler.tasks.get("x")?.state} on the scheduler:\n${c.describe()}`);
    c.validate();
  });

  it("released while running, asked for again before the thread returns: it still completes", () => {
    const c = new Cluster({ workers: [1] });
    c.submit("p", new Map([["x", call(inc, 1)]]), ["x"], { deliver: false });
    c.stepWhere((d) => d.kind === "to-worker"); // compute-task x#1, x executing
    c.release("p", ["x"]);
    c.submit("p", new Map([["x", call(inc, 1)]]), ["x"], { deliver: false });
    c.stepWhere((d) => d.kind === "to-worker"); // free-keys: cancelled
    c.stepWhere((d) => d.kind === "to-worker"); // compute-task x#2: resumed
    c.run();
    assert.equal(c.client("p").values.get("x"), 2, `x is ${c.scheduler.tasks.get("x")?.state} on the scheduler:\n${c.describe()}\n${c.heads().map(describeDelivery).join("\n")}`);
    c.validate();
  });

  it("two concurrent computes sharing a key both finish", () => {
    const c = new Cluster({ workers: [1, 1] });
    c.submit("c1", new Map([["x", call(inc, 1)]]), ["x"]);
    c.submit("c2", new Map([["x", call(inc, 1)], ["y", call(inc, "x")]]), ["y"]);
    c.run(2000);
    assert.equal(c.client("c1").values.get("x"), 2);
    assert.equal(c.client("c2").values.get("y"), 3);
    c.assertClean();
  });
});
