// Work stealing on the embedded cluster: slow tasks that all read one input
// are placed where the input is, and balance rounds move the ones not yet
// started to the idle worker thread. The stimulus channel shows the moves.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import diagnostics_channel from "node:diagnostics_channel";
import { delayed, compute } from "../../src/index.js";
import { LocalCluster } from "../../src/distributed.js";
import type { SchedulerEvent } from "../../src/scheduler/state.js";

const slowRead = async (xs: number[], i: number): Promise<number> => {
  await new Promise((r) => setTimeout(r, 40));
  return xs[0]! + i;
};

let stolen = 0;
const listener = (m: unknown): void => {
  const ev = m as SchedulerEvent;
  if (ev.type === "worker-message" && ev.msg.op === "steal-response" && ev.msg.stolen) stolen++;
};
const clusters: LocalCluster[] = [];
before(() => diagnostics_channel.subscribe("dask-ts:scheduler:stimulus", listener));
after(async () => {
  diagnostics_channel.unsubscribe("dask-ts:scheduler:stimulus", listener);
  await Promise.all(clusters.map((c) => c.close()));
});

async function run(workStealing: boolean): Promise<{ total: number; moved: number }> {
  const cluster = await LocalCluster.start({ workers: 2, validate: true, scheduler: { workStealing } });
  clusters.push(cluster);
  const data = delayed(() => [100])();
  const reads = Array.from({ length: 16 }, (_, i) => delayed(slowRead)(data, i));
  const before = stolen;
  const [parts] = await compute(reads, { scheduler: cluster, optimize: false });
  const total = parts.reduce((a, b) => a + b, 0);
  return { total, moved: stolen - before };
}

test("slow tasks piled on the worker holding their input are stolen by the idle one; the results are right", async () => {
  const { total, moved } = await run(true);
  assert.equal(total, 16 * 100 + 120);
  assert.ok(moved >= 1, `expected steals, saw ${moved}`);
});

test("with workStealing: false nothing moves", async () => {
  const { total, moved } = await run(false);
  assert.equal(total, 16 * 100 + 120);
  assert.equal(moved, 0);
});
