/**
 * Retries, worker restrictions and resources in the scheduler state machine,
 * driven alone with every invariant checked after every stimulus (including
 * that a worker never runs tasks holding more of a resource than it offers).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import { SchedulerDriver, call, computeTasks, inc, toClients } from "../helpers/machines.js";

function driver(): SchedulerDriver {
  return new SchedulerDriver();
}

describe("SchedulerState: retries", () => {
  it("a task that throws is run again while it has retries, then errs", () => {
    const d = driver();
    d.addWorker("w1", 1);
    d.handle({ type: "update-graph", client: "c", tasks: [["t", call(inc, 1)]], keys: ["t"], deliver: false, retries: 2, stimulusId: "ug" });
    for (let attempt = 0; attempt < 2; attempt++) {
      const out = d.fail("t");
      assert.deepEqual(computeTasks(out).map((m) => m.key), ["t"], `attempt ${attempt + 2} is sent`);
      assert.equal(toClients(out).length, 0, "the client hears nothing yet");
    }
    const out = d.fail("t");
    assert.deepEqual(computeTasks(out), []);
    assert.equal(d.stateOf("t"), "erred");
    assert.deepEqual(toClients(out).map((m) => m.msg.op), ["task-erred"]);
  });

  it("a retry that succeeds is an ordinary result", () => {
    const d = driver();
    d.addWorker("w1", 1);
    d.handle({ type: "update-graph", client: "c", tasks: [["t", call(inc, 1)]], keys: ["t"], deliver: false, retries: 1, stimulusId: "ug" });
    d.fail("t");
    const out = d.finish("t");
    assert.equal(d.stateOf("t"), "memory");
    assert.deepEqual(toClients(out).map((m) => m.msg.op), ["key-in-memory"]);
  });
});

describe("SchedulerState: worker restrictions", () => {
  it("restricted tasks run only on the named workers, and wait when none is there", () => {
    const d = driver();
    d.addWorker("w1", 1);
    let out = d.handle({ type: "update-graph", client: "c", tasks: [["t", call(inc, 1)]], keys: ["t"], deliver: false, workers: ["w2"], stimulusId: "ug" });
    assert.deepEqual(computeTasks(out), []);
    assert.equal(d.stateOf("t"), "no-worker");
    out = d.addWorker("w2", 1);
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]), [["t", "w2"]]);
    out = d.removeWorker("w2");
    assert.equal(d.stateOf("t"), "no-worker", "w1 is not allowed, so it waits again");
  });
});

describe("SchedulerState: resources", () => {
  it("tasks needing a resource run where it is, one lease at a time, and the next starts when one finishes", () => {
    const d = driver();
    d.addWorker("cpu", 4);
    d.handle({ type: "add-worker", address: "gpu", nthreads: 4, resources: { GPU: 1 }, stimulusId: "add-gpu" });
    const tasks = [0, 1, 2].map((i) => [`g${i}`, call(inc, i)] as const);
    let out = d.handle({ type: "update-graph", client: "c", tasks, keys: tasks.map(([k]) => k), deliver: false, resources: { GPU: 1 }, stimulusId: "ug" });
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]), [["g0", "gpu"]], "one GPU: one task at a time");
    assert.equal(d.stateOf("g1"), "no-worker");
    out = d.finish("g0");
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]), [["g1", "gpu"]]);
    out = d.fail("g1");
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]), [["g2", "gpu"]], "an error frees the lease too");
    d.finish("g2");
  });

  it("a worker that dies gives its leases back with it; tasks wait for another that has the resource", () => {
    const d = driver();
    d.handle({ type: "add-worker", address: "gpu1", nthreads: 1, resources: { GPU: 1 }, stimulusId: "a1" });
    d.handle({ type: "update-graph", client: "c", tasks: [["g", call(inc, 1)]], keys: ["g"], deliver: false, resources: { GPU: 1 }, stimulusId: "ug" });
    d.removeWorker("gpu1");
    assert.equal(d.stateOf("g"), "no-worker");
    const out = d.handle({ type: "add-worker", address: "gpu2", nthreads: 1, resources: { GPU: 2 }, stimulusId: "a2" });
    assert.deepEqual(computeTasks(out).map((m) => [m.key, m.worker]), [["g", "gpu2"]]);
  });
});
