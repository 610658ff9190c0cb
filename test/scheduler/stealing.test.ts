/**
 * Work stealing in the state machines alone: which tasks a balance round
 * moves, the victim's answer, and every race around it (the task finished,
 * the thief left, the run was replaced). Every machine validates its
 * invariants after each stimulus; the simulated cluster also steals under
 * shuffled deliveries and a worker's death.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import type { Key } from "../../src/core/graph.js";
import type { SchedulerInstruction } from "../../src/scheduler/state.js";
import { WorkerState } from "../../src/worker/state.js";
import { Cluster, SchedulerDriver, add, call, computeTasks, inc, prio, sum, toWorkers, treeReduction } from "../helpers/machines.js";

const scatterTo = (d: SchedulerDriver, key: Key, worker: string, nbytes = 8) =>
  d.handle({ type: "scatter", client: "c1", keys: [key], values: [1], nbytes: [nbytes], broadcast: false, workers: [worker], stimulusId: d.sid("scatter") });
const balance = (d: SchedulerDriver) => d.handle({ type: "balance", stimulusId: d.sid("balance") });
const stealRequests = (out: readonly SchedulerInstruction[]) =>
  toWorkers(out)
    .filter((i) => i.msg.op === "steal-request")
    .map((i) => ({ worker: i.worker, key: (i.msg as { key: Key }).key, runId: (i.msg as { runId: number }).runId }));
const answer = (d: SchedulerDriver, r: { worker: string; key: Key; runId: number }, stolen: boolean) =>
  d.handle({ type: "worker-message", worker: r.worker, msg: { op: "steal-response", key: r.key, runId: r.runId, stolen, stimulusId: d.sid("steal-response") }, stimulusId: d.sid("steal-response") });

/** Two one-thread workers, `n` tasks that all read data only w1 holds, so placement puts them all on w1. */
function pileOnW1(n: number, opts: { nbytes?: number; workers?: string[] } = {}): SchedulerDriver {
  const d = new SchedulerDriver();
  d.addWorker("w1");
  d.addWorker("w2");
  scatterTo(d, "data", "w1", opts.nbytes);
  const tasks = Array.from({ length: n }, (_, i) => [`t[${i}]`, call(add, "data", i)] as const);
  d.handle({ type: "update-graph", client: "c1", tasks, keys: tasks.map(([k]) => k), deliver: false, ...(opts.workers ? { workers: opts.workers } : {}), stimulusId: d.sid("update-graph") });
  assert.equal(d.processingOn("w1").length, n, "placement follows the data");
  return d;
}

describe("work stealing: the scheduler", () => {
  it("moves the tasks that run last from the overloaded worker until the loads are even", () => {
    const d = pileOnW1(10);
    const reqs = stealRequests(balance(d));
    // Unknown durations count 0.5 s each: 5 s on w1 against 0 on w2 evens out at five each.
    assert.deepEqual(reqs.map((r) => r.key), ["t[9]", "t[8]", "t[7]", "t[6]", "t[5]"]);
    assert.ok(reqs.every((r) => r.worker === "w1"));
    assert.deepEqual(stealRequests(balance(d)), [], "no second request while the first are unanswered");
    for (const r of reqs) {
      const out = answer(d, r, true);
      const sent = computeTasks(out);
      assert.deepEqual(sent.map((m) => [m.key, m.worker]), [[r.key, "w2"]]);
      assert.ok(sent[0]!.runId !== r.runId, "the thief runs it under a new run id");
    }
    assert.equal(d.processingOn("w1").length, 5);
    assert.equal(d.processingOn("w2").length, 5);
    assert.deepEqual(stealRequests(balance(d)), [], "balanced: nothing more to move");
  });

  it("a refused steal leaves the task where it is, and its result counts", () => {
    const d = pileOnW1(3);
    const [r] = stealRequests(balance(d));
    assert.ok(r !== undefined);
    assert.deepEqual(computeTasks(answer(d, r, false)), []);
    assert.ok(d.processingOn("w1").includes(r.key));
    d.finish(r.key);
    assert.equal(d.stateOf(r.key), "memory");
  });

  it("a task that finishes before the answer arrives stays finished; the late answer changes nothing", () => {
    const d = pileOnW1(3);
    const [r] = stealRequests(balance(d));
    d.finish(r!.key);
    assert.equal(d.stateOf(r!.key), "memory");
    const out = answer(d, r!, true);
    assert.deepEqual(toWorkers(out), []);
    assert.equal(d.stateOf(r!.key), "memory");
  });

  it("a task released while its steal is pending: the answer places nothing", () => {
    const d = pileOnW1(3);
    const [r] = stealRequests(balance(d));
    d.release("c1", [r!.key]);
    assert.equal(d.stateOf(r!.key), "forgotten");
    assert.deepEqual(computeTasks(answer(d, r!, true)), []);
    assert.deepEqual(stealRequests(balance(d)).map((q) => q.key).includes(r!.key), false);
  });

  it("a thief that left before the answer: the task is placed afresh", () => {
    const d = pileOnW1(4);
    const reqs = stealRequests(balance(d));
    d.removeWorker("w2");
    const out = answer(d, reqs[0]!, true);
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]), [[reqs[0]!.key, "w1"]]);
  });

  it("a victim that dies with steals pending: its tasks go elsewhere as usual", () => {
    const d = pileOnW1(4);
    stealRequests(balance(d));
    const out = d.removeWorker("w1");
    assert.equal(d.stateOf("data"), "erred", "the scattered input is lost with it");
    assert.deepEqual(computeTasks(out), []);
    assert.deepEqual(d.processingOn("w2"), []);
  });

  it("fast tasks next to large data are never moved; slow ones with small inputs are", () => {
    const fast = pileOnW1(20, { nbytes: 8_000_000 });
    // Once the group is known to take 10 µs, moving 8 MB (8 ms) for it never pays.
    fast.finish("t[0]", { duration: 1e-5 });
    assert.deepEqual(stealRequests(balance(fast)), []);
    const slow = pileOnW1(20, { nbytes: 100 });
    slow.finish("t[0]", { duration: 1 });
    assert.ok(stealRequests(balance(slow)).length >= 8);
  });

  it("restrictions and resources hold: a thief that may not run the task does not get it", () => {
    const restricted = pileOnW1(6, { workers: ["w1"] });
    assert.deepEqual(stealRequests(balance(restricted)), []);

    const d = new SchedulerDriver();
    d.handle({ type: "add-worker", address: "gpu", nthreads: 1, resources: { GPU: 4 }, stimulusId: d.sid("add-worker") });
    d.addWorker("cpu", 1);
    const tasks = Array.from({ length: 4 }, (_, i) => [`g[${i}]`, call(inc, i)] as const);
    d.handle({ type: "update-graph", client: "c1", tasks, keys: tasks.map(([k]) => k), deliver: false, resources: { GPU: 1 }, stimulusId: d.sid("update-graph") });
    assert.equal(d.processingOn("gpu").length, 4);
    assert.deepEqual(stealRequests(balance(d)), []);
  });

  it("root tasks holding queue slots are left to the queue", () => {
    const d = new SchedulerDriver();
    d.addWorker("w1", 2);
    d.addWorker("w2", 2);
    const tasks = Array.from({ length: 40 }, (_, i) => [`leaf[${i}]`, call(inc, i)] as const);
    d.handle({ type: "update-graph", client: "c1", tasks, keys: tasks.map(([k]) => k), deliver: false, stimulusId: d.sid("update-graph") });
    d.removeWorker("w2");
    d.addWorker("w3", 2);
    assert.deepEqual(stealRequests(balance(d)), []);
  });

  it("workStealing: false turns it off", () => {
    const d = new SchedulerDriver({ workStealing: false });
    d.addWorker("w1");
    d.addWorker("w2");
    scatterTo(d, "data", "w1");
    d.submit("c1", Array.from({ length: 6 }, (_, i) => [`t[${i}]`, call(add, "data", i)] as const), ["t[5]"], false);
    assert.deepEqual(stealRequests(balance(d)), []);
  });
});

describe("work stealing: the worker", () => {
  const compute = (w: WorkerState, key: Key, runId: number) =>
    w.handle({ type: "compute-task", msg: { op: "compute-task", key, fn: inc, args: [{ k: "v", v: 1 }], priority: prio(runId), runId, deliver: false, stimulusId: `c-${key}` }, stimulusId: `c-${key}` });
  const steal = (w: WorkerState, key: Key, runId: number) => {
    const out = w.handle({ type: "steal-request", key, runId, stimulusId: `s-${key}` });
    const sent = out.flatMap((i) => (i.type === "send" && i.msg.op === "steal-response" ? [i.msg] : []));
    assert.equal(sent.length, 1, "a steal request is always answered");
    return sent[0]!.stolen;
  };

  it("gives up a task that has not started, and forgets it", () => {
    const w = new WorkerState("w1", 1, true);
    compute(w, "a", 1);
    compute(w, "b", 2);
    assert.equal(w.tasks.get("b")!.state, "ready");
    assert.equal(steal(w, "b", 2), true);
    assert.equal(w.tasks.has("b"), false);
  });

  it("refuses a task that is executing or done, a run it no longer has, and a key it does not know", () => {
    const w = new WorkerState("w1", 1, true);
    compute(w, "a", 1);
    assert.equal(w.tasks.get("a")!.state, "executing");
    assert.equal(steal(w, "a", 1), false);
    assert.equal(w.tasks.get("a")!.state, "executing");
    compute(w, "b", 2);
    assert.equal(steal(w, "b", 1), false, "another run of b");
    assert.equal(steal(w, "nope", 7), false);
    w.handle({ type: "execute-success", key: "a", runId: 1, nbytes: 8, duration: 0.1, stimulusId: "done-a" });
    assert.equal(steal(w, "a", 1), false, "a finished run stays");
  });
});

describe("work stealing: simulated cluster", () => {
  it("tree reductions with steals under shuffled deliveries and a death are still right", () => {
    const { graph, root } = treeReduction(300);
    for (let seed = 1; seed <= 12; seed++) {
      const c = new Cluster({
        workers: [1, 2, 1],
        seed,
        balanceEvery: 7,
        // Long tasks: worth stealing.
        duration: () => 0.5,
        validateEveryStep: seed <= 3,
        onStep: (cl, step) => {
          if (seed % 3 === 0 && step === 400) cl.killWorker("w2");
        },
      });
      c.submit("c1", graph, [root]);
      c.run();
      assert.equal(c.client("c1").values.get(root), (300 * 301) / 2, `seed ${seed}`);
      c.assertClean();
    }
  });

  it("steals happen there: work piled on one worker spreads", () => {
    const c = new Cluster({ workers: [1, 1, 1], balanceEvery: 3, duration: () => 1 });
    c.toScheduler({ type: "update-graph", client: "c0", tasks: [["data", call(inc, -1)]], keys: ["data"], deliver: false, workers: ["w0"], stimulusId: "data" });
    c.run();
    const tasks = Array.from({ length: 30 }, (_, i) => [`t[${i}]`, call(add, "data", i)] as const);
    c.submitTasks("c1", [...tasks, ["total", call(sum, ...tasks.map(([k]) => k))]], ["total"]);
    c.run();
    assert.equal(c.client("c1").values.get("total"), (29 * 30) / 2);
    assert.equal(c.scheduler.tasks.get("data")!.whoHas.size >= 1, true);
    const ran = new Map<string, number>();
    for (const ins of c.schedulerOut) if (ins.to === "worker" && ins.msg.op === "compute-task" && ins.msg.key.startsWith("t[")) ran.set(ins.worker, (ran.get(ins.worker) ?? 0) + 1);
    assert.ok((ran.get("w1") ?? 0) > 0 && (ran.get("w2") ?? 0) > 0, `tasks were sent to ${JSON.stringify([...ran])}`);
  });
});
