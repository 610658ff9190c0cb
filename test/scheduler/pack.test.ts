// Packing message batches into columns must be invisible: what comes out is
// what went in, in order, whatever the mix of packable and other messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { packBatch, unpackBatch } from "../../src/scheduler/pack.js";
import type { ComputeTaskMsg, TaskFinishedMsg, TasksFinishedMsg } from "../../src/scheduler/messages.js";

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
  // Compute-tasks come back as they were; the run of task-finished stays one tasks-finished message.
  const got = unpackBatch<{ op: string }>(wire);
  assert.equal(got.filter((m) => m.op === "tasks-finished").length, 1);
  assert.deepEqual(got.flatMap(expandFinished), batch);
});

/** A tasks-finished message as the task-finished messages it stands for. */
function expandFinished(m: { op: string }): unknown[] {
  if (m.op !== "tasks-finished") return [m];
  const p = m as TasksFinishedMsg;
  return p.keys.map((key, i): TaskFinishedMsg => ({ op: "task-finished", key, runId: p.runIds[i]!, nbytes: p.nbytes[i]!, duration: p.durations[i]!, delivered: false, stimulusId: p.stimulusIds[i]! }));
}

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

test("a task with a long list of references sends them as indices into its inputs, and they come back the same", () => {
  const keys = Array.from({ length: 40 }, (_, i) => `inc-${i}`);
  const refs = keys.map((key) => ({ k: "r" as const, key }));
  // Out of input order, a repeat, and a short list that stays as it is.
  const items = [...refs.slice(20), ...refs.slice(0, 20), refs[3]!];
  const wide: ComputeTaskMsg = {
    ...compute(0),
    key: "sum-0",
    args: [{ k: "a", items }, { k: "a", items: refs.slice(0, 2) }, { k: "v", v: [1, 2] }],
    inputs: { keys, workers: ["w1", "w2"], who: keys.map((_, i) => i % 2), nbytes: keys.map(() => 8) },
  };
  const packed = packBatch([wide, compute(1)]);
  assert.equal((packed[0] as { op: string }).op, "packed:compute-wide");
  assert.deepEqual(unpackBatch(structuredClone(packed)), [wide, compute(1)]);
  // A reference that is not among the inputs leaves the list as it is.
  const odd: ComputeTaskMsg = { ...wide, args: [{ k: "a", items: [...refs, { k: "r", key: "elsewhere" }] }] };
  assert.deepEqual(packBatch([odd]), [odd]);
});

test("the receiver's own key strings replace a wide task's input keys, in its inputs and its references alike", () => {
  const keys = Array.from({ length: 20 }, (_, i) => `inc-${i}`);
  const wide: ComputeTaskMsg = {
    ...compute(0),
    key: "sum-0",
    args: [{ k: "a", items: keys.map((key) => ({ k: "r" as const, key })) }],
    inputs: { keys, workers: ["w1"], who: keys.map(() => 0), nbytes: keys.map(() => 8) },
  };
  const [got] = unpackBatch<ComputeTaskMsg>(structuredClone(packBatch([wide])), (k) => k.toUpperCase());
  assert.deepEqual(got!.inputs!.keys, keys.map((k) => k.toUpperCase()));
  assert.deepEqual(got!.args, [{ k: "a", items: keys.map((k) => ({ k: "r", key: k.toUpperCase() })) }]);
});
