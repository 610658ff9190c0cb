// Packing message batches into columns must be invisible: what comes out is
// what went in, in order, whatever the mix of packable and other messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { packBatch, unpackBatch } from "../../src/scheduler/pack.js";
import type { ComputeTaskMsg, TaskFinishedMsg } from "../../src/scheduler/messages.js";

const inc = { kind: "source", source: "(x) => x + 1", name: "inc" } as const;
const dbl = { kind: "global", path: "Math.abs" } as const;

function compute(i: number, fn: ComputeTaskMsg["fn"] = inc): ComputeTaskMsg {
  return { op: "compute-task", key: `inc-${i}`, fn, args: [{ k: "v", v: i }], priority: [0, 2, i], runId: 100 + i, deliver: i % 3 === 0, stimulusId: "update-graph-1" };
}
function finished(i: number): TaskFinishedMsg {
  return { op: "task-finished", key: `inc-${i}`, runId: 100 + i, nbytes: 8 + i, duration: i * 1e-6, delivered: false, stimulusId: `exec-${i}` };
}

test("a mixed batch survives packing and structured clone unchanged", () => {
  const batch = [
    ...Array.from({ length: 20 }, (_, i) => compute(i, i % 2 ? inc : dbl)),
    { op: "free-keys", keys: ["a", "b"], stimulusId: "s" },
    // a task with dependencies and a multi-argument task are not packed the same way
    { ...compute(50), inputs: { keys: ["x"], workers: ["w1"], who: [0], nbytes: [8] } },
    { ...compute(51), args: [{ k: "r", key: "x" }, { k: "v", v: { nested: [1, 2] } }] },
    ...Array.from({ length: 3 }, (_, i) => compute(60 + i)),
    ...Array.from({ length: 12 }, (_, i) => finished(i)),
    { op: "task-finished", key: "out", runId: 7, nbytes: 3, duration: 0, delivered: true, value: new Float64Array([1, 2]), stimulusId: "x" },
  ];
  const packed = packBatch(batch);
  assert.ok(packed.length < batch.length, "long runs were packed");
  assert.ok(packed.some((m) => (m as { op: string }).op.startsWith("packed:")));
  const wire = structuredClone(packed);
  assert.deepEqual(unpackBatch(wire), batch);
});

test("short runs and batches with nothing to pack pass through as they are", () => {
  const batch = [compute(1), compute(2), finished(3)];
  const packed = packBatch(batch);
  assert.deepEqual(packed, batch);
  assert.equal(unpackBatch(packed), packed);
});

test("functions shared by many tasks are sent once", () => {
  const batch = Array.from({ length: 100 }, (_, i) => compute(i));
  const [p] = packBatch(batch) as [{ fns: unknown[] }];
  assert.equal(p.fns.length, 1);
});
