/**
 * Runs the conformance suite against every scheduler: `sync`, an embedded
 * LocalCluster of two worker threads with state-machine validation on, and a
 * LocalCluster of one worker. Behaviours a scheduler is known to get wrong
 * are listed per target and run as `todo` (see the bug descriptions).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { LocalCluster } from "../../src/distributed.js";
import { syncScheduler } from "../../src/index.js";
import { ClosedError } from "../../src/core/errors.js";
import { lit, task, type Graph } from "../../src/core/graph.js";
import { conformanceSuite, inc, never } from "./suite.js";

const BUG_FUSED_ERROR_KEY =
  "with fusion on (the default), TaskError.key names the fused downstream task instead of the task that threw";
const BUG_CLUSTER_MISSING_DEP =
  "LocalCluster: a reference to a key outside the graph throws InvalidTransitionError ('This is a bug in dask-ts') instead of MissingKeyError";
const BUG_CLUSTER_MISSING_REQUESTED = "LocalCluster: a requested key not in the graph throws InvalidArgumentError, not MissingKeyError";
const BUG_CLUSTER_POISONED =
  "LocalCluster: a graph rejected for a missing dependency leaves its tasks in the scheduler state; a later graph reusing the key fails with 'input ... is not on worker'";
const BUG_CLUSTER_CYCLE = "LocalCluster: a cyclic graph is never validated; compute() hangs forever";
const BUG_CLUSTER_CONCURRENT =
  "LocalCluster: when one compute() asks for x as its output and a concurrent one needs x as an input, x is delivered and forgotten; the second computation hangs";

const clusterBugs = {
  "a failing delayed call rejects with TaskError naming that call (default optimization)": BUG_FUSED_ERROR_KEY,
  "a reference to a key that is not in the graph rejects with MissingKeyError": BUG_CLUSTER_MISSING_DEP,
  "a requested key that is not in the graph rejects with MissingKeyError": BUG_CLUSTER_MISSING_REQUESTED,
  "a graph rejected as invalid leaves the scheduler usable with the same keys": BUG_CLUSTER_POISONED,
  "a cycle rejects with CycleError naming its keys": BUG_CLUSTER_CYCLE,
  "a task depending on itself rejects with CycleError": BUG_CLUSTER_CYCLE,
  "concurrent computations sharing a key both finish": BUG_CLUSTER_CONCURRENT,
};

conformanceSuite({
  name: "sync",
  scheduler: () => syncScheduler,
  knownBugs: {
    "a failing delayed call rejects with TaskError naming that call (default optimization)": BUG_FUSED_ERROR_KEY,
    "a requested key that is not in the graph rejects with MissingKeyError":
      "sync: a requested key not in the graph resolves to undefined instead of rejecting",
  },
});

describe("LocalCluster, 2 workers, validate", () => {
  let cluster: LocalCluster | undefined;
  before(async () => {
    cluster = await LocalCluster.start({ workers: 2, validate: true });
  });
  after(() => cluster?.close());
  it("starts two workers", () => assert.equal(cluster!.workers.length, 2));
  conformanceSuite({ name: "LocalCluster(workers: 2, validate)", scheduler: () => cluster!, knownBugs: clusterBugs });
});

describe("LocalCluster, 1 worker", () => {
  let cluster: LocalCluster | undefined;
  before(async () => {
    cluster = await LocalCluster.start({ workers: 1 });
  });
  after(() => cluster?.close());
  it("starts one worker", () => assert.equal(cluster!.workers.length, 1));
  conformanceSuite({ name: "LocalCluster(workers: 1)", scheduler: () => cluster!, knownBugs: clusterBugs });
});

describe("LocalCluster lifecycle", () => {
  it("close() fails pending computations with ClosedError, and later ones too", async () => {
    const cluster = await LocalCluster.start({ workers: 1 });
    const graph: Graph = new Map([["pending", task(never, [])]]);
    const pending = cluster.compute(graph, ["pending"]);
    const closed = cluster.close();
    await assert.rejects(pending, ClosedError);
    await closed;
    assert.deepEqual(cluster.workers, []);
    await assert.rejects(async () => cluster.compute(new Map([["x", task(inc, [lit(1)])]]), ["x"]), (err) => {
      assert.ok(err instanceof ClosedError);
      assert.equal(err.code, "DASK_ERR_CLOSED");
      return true;
    });
  });
});
