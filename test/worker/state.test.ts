/**
 * The worker state machine driven alone: events in, instructions out, no
 * threads or I/O. Every WorkerState is built with validation on (invariants
 * checked after every event) and checked again at the end.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import { serializeError } from "../../src/core/errors.js";
import { lit, ref, type Key } from "../../src/core/graph.js";
import type { FromWorkerMsg, Priority } from "../../src/scheduler/messages.js";
import { WorkerState, type WorkerEvent, type WorkerInstruction } from "../../src/worker/state.js";
import { add, inc, inputsOf, prio } from "../helpers/machines.js";

let seq = 0;

/** A compute-task event; `deps` maps each input to the peers holding it. */
function ct(key: Key, opts: { deps?: Record<Key, string[]>; priority?: Priority; runId?: number; deliver?: boolean } = {}): WorkerEvent {
  const deps = opts.deps ?? {};
  const keys = Object.keys(deps);
  const stimulusId = `ct-${key}-${seq++}`;
  return {
    type: "compute-task",
    msg: {
      op: "compute-task",
      key,
      fn: keys.length === 0 ? inc : add,
      args: keys.length === 0 ? [lit(1)] : keys.map((k) => ref(k)),
      ...(keys.length === 0 ? {} : { inputs: inputsOf(deps) }),
      priority: opts.priority ?? prio(0),
      runId: opts.runId ?? 1,
      deliver: opts.deliver ?? false,
      stimulusId,
    },
    stimulusId,
  };
}

const free = (...keys: Key[]): WorkerEvent => ({ type: "free-keys", keys, stimulusId: `free-${seq++}` });
const ok = (key: Key, runId = 1, value?: unknown): WorkerEvent => ({ type: "execute-success", key, runId, nbytes: 8, duration: 0.001, ...(value === undefined ? {} : { value }), stimulusId: `ok-${key}-${seq++}` });
const gathered = (peer: string, requested: Key[], received: Key[] = requested): WorkerEvent => ({
  type: "gather-dep-success",
  peer,
  requested,
  received: new Map(received.map((k) => [k, 8])),
  stimulusId: `got-${peer}-${seq++}`,
});
const gatherFailed = (peer: string, keys: Key[]): WorkerEvent => ({ type: "gather-dep-failure", peer, keys, stimulusId: `lost-${peer}-${seq++}` });

const executes = (out: WorkerInstruction[]): Key[] => out.flatMap((i) => (i.type === "execute" ? [i.key] : []));
const gathers = (out: WorkerInstruction[]): [string, Key[]][] => out.flatMap((i): [string, Key[]][] => (i.type === "gather-dep" ? [[i.peer, [...i.keys].sort()]] : []));
const sends = (out: WorkerInstruction[]): FromWorkerMsg[] => out.flatMap((i) => (i.type === "send" ? [i.msg] : []));
const releases = (out: WorkerInstruction[]): Key[] => out.flatMap((i) => (i.type === "release-data" ? [...i.keys] : [])).sort();
const stateOf = (w: WorkerState, key: Key): string => w.tasks.get(key)?.state ?? "forgotten";

describe("WorkerState: fetching inputs", () => {
  it("bundles inputs per peer with one transfer in flight per peer, then runs the task", () => {
    const w = new WorkerState("w0", 1, true);
    let out = w.handle(ct("z", { deps: { a: ["p1"], b: ["p1", "w0"], c: ["p2"] } }));
    assert.deepEqual(gathers(out).sort(), [
      ["p1", ["a", "b"]],
      ["p2", ["c"]],
    ]);
    assert.deepEqual(executes(out), []);
    assert.equal(stateOf(w, "z"), "waiting");
    for (const k of ["a", "b", "c"]) assert.equal(stateOf(w, k), "flight");
    assert.deepEqual([...w.inFlight.keys()].sort(), ["p1", "p2"]);
    assert.ok(!w.tasks.get("b")!.whoHas.has("w0"), "never fetches from itself");

    // A second task needing another key from the busy peer waits for that transfer to end.
    out = w.handle(ct("z2", { deps: { d: ["p1"], c: ["p2"] }, priority: prio(1) }));
    assert.deepEqual(gathers(out), [], "p1 and p2 are busy");
    assert.equal(stateOf(w, "d"), "fetch");

    out = w.handle(gathered("p1", ["a", "b"]));
    assert.deepEqual(gathers(out), [["p1", ["d"]]], "p1 free again: the next bundle goes");
    assert.deepEqual(executes(out), [], "z still needs c");
    assert.equal(stateOf(w, "a"), "memory");

    out = w.handle(gathered("p2", ["c"]));
    assert.deepEqual(executes(out), ["z"]);
    assert.deepEqual(sends(out), [], "fetched inputs are not reported as results");

    out = w.handle(ok("z"));
    assert.deepEqual(
      sends(out).map((m) => [m.op, m.key]),
      [["task-finished", "z"]],
    );
    assert.deepEqual(releases(out), ["a", "b"], "inputs only z needed are dropped; c is kept for z2");
    assert.equal(stateOf(w, "c"), "memory");

    out = w.handle(gathered("p1", ["d"]));
    assert.deepEqual(executes(out), ["z2"]);
    out = w.handle(ok("z2"));
    assert.deepEqual(releases(out), ["c", "d"]);
    assert.deepEqual([...w.tasks.keys()].sort(), ["z", "z2"]);
    w.handle(free("z", "z2"));
    assert.equal(w.tasks.size, 0);
    w.validateState();
  });

  it("a transfer from a dead peer reports missing-data and tries the next holder", () => {
    const w = new WorkerState("w0", 1, true);
    let out = w.handle(ct("z", { deps: { a: ["p1", "p2"] } }));
    const [[first]] = gathers(out) as [[string, Key[]]];
    const second = first === "p1" ? "p2" : "p1";
    out = w.handle(gatherFailed(first, ["a"]));
    assert.deepEqual(
      sends(out).map((m) => (m.op === "missing-data" ? [m.key, m.errantWorker] : m.op)),
      [["a", first]],
    );
    assert.deepEqual(gathers(out), [[second, ["a"]]]);
    out = w.handle(gatherFailed(second, ["a"]));
    assert.deepEqual(
      sends(out).map((m) => (m.op === "missing-data" ? [m.key, m.errantWorker] : m.op)),
      [["a", second]],
    );
    assert.deepEqual(gathers(out), [], "no holder left");
    assert.equal(stateOf(w, "z"), "waiting");
    // The scheduler answers by freeing the task; nothing is left behind.
    out = w.handle(free("z"));
    assert.equal(w.tasks.size, 0);
    assert.equal(w.inFlight.size, 0);
    w.validateState();
  });

  it("a peer that answers without the key is treated like a failed transfer for that key", () => {
    const w = new WorkerState("w0", 1, true);
    w.handle(ct("z", { deps: { a: ["p1"], b: ["p1"] } }));
    const out = w.handle(gathered("p1", ["a", "b"], ["a"]));
    assert.deepEqual(
      sends(out).map((m) => (m.op === "missing-data" ? [m.key, m.errantWorker] : m.op)),
      [["b", "p1"]],
    );
    assert.equal(stateOf(w, "a"), "memory");
    assert.equal(stateOf(w, "b"), "fetch");
    w.handle(free("z"));
    assert.equal(w.tasks.size, 0);
    w.validateState();
  });

  it("a transfer that lands after its task was freed drops the data", () => {
    const w = new WorkerState("w0", 1, true);
    w.handle(ct("z", { deps: { a: ["p1"] } }));
    let out = w.handle(free("z"));
    assert.equal(stateOf(w, "a"), "cancelled");
    out = w.handle(gathered("p1", ["a"]));
    assert.deepEqual(releases(out), ["a"]);
    assert.deepEqual(sends(out), []);
    assert.equal(w.tasks.size, 0);
    assert.equal(w.inFlight.size, 0);
    w.validateState();
  });

  it("asked to compute a key it already fetched, it reports it with the new run id instead of recomputing", () => {
    const w = new WorkerState("w0", 1, true);
    w.handle(ct("z", { deps: { a: ["p1"] } }));
    w.handle(gathered("p1", ["a"]));
    // z is executing and holds a; the scheduler now wants a computed here.
    const out = w.handle(ct("a", { runId: 42 }));
    assert.deepEqual(executes(out), []);
    assert.deepEqual(
      sends(out).map((m) => (m.op === "task-finished" ? [m.key, m.runId, m.delivered] : m.op)),
      [["a", 42, false]],
    );
    w.validateState();
  });
});

describe("WorkerState: execution", () => {
  it("never runs more tasks than threads", () => {
    const w = new WorkerState("w0", 2, true);
    let started: Key[] = [];
    for (let i = 0; i < 6; i++) started.push(...executes(w.handle(ct(`t${i}`, { priority: prio(i) }))));
    assert.deepEqual(started, ["t0", "t1"]);
    assert.equal(w.executing.size, 2);
    const done: Key[] = [];
    while (started.length > 0) {
      const k = started.shift()!;
      const out = w.handle(ok(k));
      done.push(k);
      started.push(...executes(out));
      assert.ok(w.executing.size <= 2, `${w.executing.size} executing`);
      assert.ok(executes(out).length <= 1);
    }
    assert.deepEqual(done.sort(), ["t0", "t1", "t2", "t3", "t4", "t5"]);
    assert.equal(w.executing.size, 0);
    w.validateState();
  });

  it("runs ready tasks in priority order: user priority, generation, graph order", () => {
    const w = new WorkerState("w0", 1, true);
    assert.deepEqual(executes(w.handle(ct("first", { priority: prio(0) }))), ["first"]);
    w.handle(ct("g-late", { priority: prio(1, 0, 1) }));
    w.handle(ct("p3", { priority: prio(3) }));
    w.handle(ct("p1", { priority: prio(1) }));
    w.handle(ct("p2", { priority: prio(2) }));
    w.handle(ct("urgent", { priority: prio(9, 10) }));
    const order: Key[] = [];
    let running = "first";
    for (;;) {
      const next = executes(w.handle(ok(running)));
      if (next.length === 0) break;
      assert.equal(next.length, 1);
      order.push(next[0]!);
      running = next[0]!;
    }
    assert.deepEqual(order, ["urgent", "p1", "p2", "p3", "g-late"]);
    w.validateState();
  });

  it("a success is reported with task-finished; a delivered one carries its value and is not kept", () => {
    const w = new WorkerState("w0", 1, true);
    w.handle(ct("x", { runId: 3 }));
    let out = w.handle(ok("x", 3));
    assert.deepEqual(sends(out).map((m) => (m.op === "task-finished" ? [m.key, m.runId, m.delivered, m.nbytes, "value" in m] : m.op)), [["x", 3, false, 8, false]]);
    assert.equal(stateOf(w, "x"), "memory");

    w.handle(ct("y", { runId: 4, deliver: true }));
    out = w.handle(ok("y", 4, 99));
    assert.deepEqual(sends(out).map((m) => (m.op === "task-finished" ? [m.key, m.runId, m.delivered, m.value] : m.op)), [["y", 4, true, 99]]);
    assert.equal(stateOf(w, "y"), "forgotten", "a delivered result is not kept");
    w.validateState();
  });

  it("a failure is reported with task-erred and the worker keeps nothing (the scheduler holds the error)", () => {
    const w = new WorkerState("w0", 1, true);
    w.handle(ct("x", { runId: 5 }));
    const error = serializeError(new TypeError("nope"));
    const out = w.handle({ type: "execute-failure", key: "x", runId: 5, error, stimulusId: "f" });
    assert.deepEqual(sends(out), [{ op: "task-erred", key: "x", runId: 5, error, stimulusId: "f" }]);
    assert.equal(w.tasks.size, 0);
    assert.equal(w.executing.size, 0);
    w.handle(free("x"));
    assert.equal(w.tasks.size, 0);
    w.validateState();
  });

  it("a result with a stale run id is ignored", () => {
    const w = new WorkerState("w0", 1, true);
    w.handle(ct("x", { runId: 5 }));
    const out = w.handle(ok("x", 4));
    assert.deepEqual(sends(out), []);
    assert.equal(stateOf(w, "x"), "executing");
    w.validateState();
  });
});

describe("WorkerState: cancellation", () => {
  it("free-keys while executing cancels; the late success is discarded and nothing is reported", () => {
    const w = new WorkerState("w0", 1, true);
    w.handle(ct("x"));
    let out = w.handle(free("x"));
    assert.deepEqual(out, []);
    assert.equal(stateOf(w, "x"), "cancelled");
    assert.equal(w.executing.size, 1, "the thread is still busy");
    out = w.handle(ok("x"));
    assert.deepEqual(sends(out), [], "no task-finished for a cancelled task");
    assert.equal(w.tasks.size, 0);
    assert.equal(w.executing.size, 0);
    w.validateState();
  });

  it("a cancelled task's inputs are released when its late result arrives", () => {
    const w = new WorkerState("w0", 1, true);
    w.handle(ct("y", { deps: { a: ["p1"] } }));
    assert.deepEqual(executes(w.handle(gathered("p1", ["a"]))), ["y"]);
    w.handle(free("y"));
    assert.equal(stateOf(w, "a"), "memory", "still an input of the running task");
    const out = w.handle({ type: "execute-failure", key: "y", runId: 1, error: serializeError(new Error("x")), stimulusId: "f" });
    assert.deepEqual(sends(out), [], "no task-erred for a cancelled task");
    assert.deepEqual(releases(out), ["a"]);
    assert.equal(w.tasks.size, 0);
    w.validateState();
  });

  it("a thread slot held by a cancelled task is reused once it returns", () => {
    const w = new WorkerState("w0", 1, true);
    w.handle(ct("x"));
    w.handle(free("x"));
    const out = w.handle(ct("other"));
    assert.deepEqual(executes(out), [], "the only thread is still running x");
    assert.deepEqual(executes(w.handle(ok("x"))), ["other"]);
    w.validateState();
  });

  it("a task cancelled while executing and asked for again reports the result of the run under way", () => {
    const w = new WorkerState("w0", 1, true);
    w.handle(ct("x", { runId: 1 }));
    w.handle(free("x"));
    const again = w.handle(ct("x", { runId: 2 }));
    assert.deepEqual(executes(again), [], "reuses the running thread");
    const out = w.handle(ok("x", 1));
    assert.deepEqual(
      sends(out).map((m) => (m.op === "task-finished" ? [m.key, m.runId] : m.op)),
      [["x", 2]],
      `state ${stateOf(w, "x")}, executing ${w.executing.size}`,
    );
    assert.equal(w.executing.size, 0);
    w.validateState();
  });

  it("a key cancelled while in flight and then asked to be computed is computed (or its transfer used)", () => {
    const w = new WorkerState("w0", 1, true);
    w.handle(ct("b", { deps: { a: ["p1"] } }));
    w.handle(free("b"));
    assert.equal(stateOf(w, "a"), "cancelled");
    const out1 = w.handle(ct("a", { runId: 7 }));
    const out2 = w.handle(gathered("p1", ["a"]));
    const all = [...out1, ...out2];
    const reported = sends(all).some((m) => m.op === "task-finished" && m.key === "a" && m.runId === 7);
    assert.ok(reported || executes(all).includes("a"), "a is neither run nor reported");
    w.validateState();
  });

  it("a key cancelled while executing and then needed as an input is used once it finishes", () => {
    const w = new WorkerState("w0", 2, true);
    w.handle(ct("a", { runId: 1 }));
    w.handle(free("a"));
    const out1 = w.handle(ct("b", { deps: { a: ["p1"] }, runId: 2 }));
    const out2 = w.handle(ok("a", 1));
    const all = [...out1, ...out2];
    assert.equal(w.executing.has(w.tasks.get("a")!), false, `a is still counted as executing (state ${stateOf(w, "a")})`);
    assert.ok(executes(all).includes("b") || gathers(all).some(([p, ks]) => p === "p1" && ks.includes("a")), "b can never run");
    w.validateState();
  });

  it("a fetch cancelled and then resumed for a new task uses the holders the new task names", () => {
    const w = new WorkerState("w0", 1, true);
    w.handle(ct("b", { deps: { a: ["p1"] } }));
    w.handle(free("b"));
    w.handle(ct("b", { deps: { a: ["p2"] }, runId: 2 }));
    const out = w.handle(gatherFailed("p1", ["a"]));
    assert.deepEqual(gathers(out), [["p2", ["a"]]], `a is ${stateOf(w, "a")} with holders ${[...(w.tasks.get("a")?.whoHas ?? [])]}`);
    w.validateState();
  });
});
