// Persisted values are claims: each persist holds its keys until its handle
// goes, two persists of one key are two claims, and nothing is left behind.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { delayed } from "../../src/index.js";
import { LocalCluster } from "../../src/distributed.js";

let cluster: LocalCluster;
before(async () => {
  cluster = await LocalCluster.start({ workers: 1 });
});
after(() => cluster.close());

test("releasing one of two claims on a key keeps it for the other; releasing both forgets it", async () => {
  const x = delayed((n: number) => n * 2, { pure: true })(21);
  const a = await x.persist({ scheduler: cluster });
  const b = await x.persist({ scheduler: cluster });
  const [claimA, claimB] = [a, b].map((d) => (d as unknown as Record<symbol, { claim?: string }>)[Object.getOwnPropertySymbols(d).find((s) => String(s).includes("held"))!]!.claim);
  assert.notEqual(claimA, claimB);
  cluster.release([x.key], claimA);
  assert.ok(cluster.holds(x.key), "b's claim keeps it");
  assert.equal(await delayed((v: number) => v + 1)(b).compute({ scheduler: cluster }), 43);
  cluster.release([x.key], claimB);
  assert.equal(cluster.holds(x.key), false);
  const state = cluster.schedulerState;
  assert.equal(state.tasks.size, 0, "the scheduler forgot everything");
  assert.equal([...state.clients.keys()].filter((c) => c.startsWith("persist")).length, 0, "no persist client is left");
});
