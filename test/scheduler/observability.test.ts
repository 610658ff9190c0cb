// Every scheduler stimulus is published on a diagnostics channel, with a
// stimulus id, so progress bars and dashboards can subscribe without hooks.
import { test } from "node:test";
import assert from "node:assert/strict";
import diagnostics_channel from "node:diagnostics_channel";
import { delayed } from "../../src/index.js";
import { LocalCluster } from "../../src/distributed.js";
import type { SchedulerEvent } from "../../src/scheduler/state.js";

test("stimuli of a computation appear on dask-ts:scheduler:stimulus", async () => {
  const seen: SchedulerEvent[] = [];
  const listener = (msg: unknown): void => {
    seen.push(msg as SchedulerEvent);
  };
  diagnostics_channel.subscribe("dask-ts:scheduler:stimulus", listener);
  const cluster = await LocalCluster.start({ workers: 1 });
  try {
    const inc = delayed((x: number) => x + 1);
    assert.equal(await inc(inc(1)).compute({ scheduler: cluster }), 3);
  } finally {
    diagnostics_channel.unsubscribe("dask-ts:scheduler:stimulus", listener);
    await cluster.close();
  }
  const types = new Set(seen.map((e) => e.type));
  for (const t of ["add-worker", "add-client", "update-graph", "worker-message", "remove-client"]) assert.ok(types.has(t as SchedulerEvent["type"]), `saw ${t}`);
  for (const e of seen) assert.ok(typeof e.stimulusId === "string" && e.stimulusId.length > 0, `stimulus id on ${e.type}`);
  const finished = seen.filter((e) => e.type === "worker-message" && e.msg.op === "task-finished");
  assert.equal(finished.length, 1, "the inner inc and the outer inc are fused into one task");
});
