/**
 * Runs the conformance suite against every scheduler: `sync`, an embedded
 * LocalCluster of two worker threads with state-machine validation on, and a
 * LocalCluster of one worker. A scheduler with known bugs lists them in its
 * target's `knownBugs`; those tests then run as `todo`.
 *
 * Then the cluster's lifecycle: closing, and — in fresh processes, where
 * nothing else holds the event loop open — that a program computing on a
 * cluster neither exits before its results arrive nor stays alive after.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { Client, LocalCluster, NetworkWorker, SchedulerServer } from "../../src/distributed.js";
import { syncScheduler } from "../../src/index.js";
import { ClosedError } from "../../src/core/errors.js";
import { lit, task, type Graph } from "../../src/core/graph.js";
import { describeChild, distributedUrl, libraryUrl, runEvalScript, runModuleScript } from "../fixtures/child.js";
import { conformanceSuite, inc, never } from "./suite.js";

conformanceSuite({ name: "sync", scheduler: () => syncScheduler });

describe("LocalCluster, 2 workers, validate", () => {
  let cluster: LocalCluster | undefined;
  before(async () => {
    cluster = await LocalCluster.start({ workers: 2, validate: true });
  });
  after(() => cluster?.close());
  it("starts two workers", () => assert.equal(cluster!.workers.length, 2));
  conformanceSuite({ name: "LocalCluster(workers: 2, validate)", scheduler: () => cluster! });
});

describe("LocalCluster, 1 worker", () => {
  let cluster: LocalCluster | undefined;
  before(async () => {
    cluster = await LocalCluster.start({ workers: 1 });
  });
  after(() => cluster?.close());
  it("starts one worker", () => assert.equal(cluster!.workers.length, 1));
  conformanceSuite({ name: "LocalCluster(workers: 1)", scheduler: () => cluster! });
});

describe("network cluster: scheduler server, 2 workers over TCP, a Client", () => {
  let server: SchedulerServer | undefined;
  let workers: NetworkWorker[] = [];
  let client: Client | undefined;
  before(async () => {
    server = await SchedulerServer.start({ port: 0, scheduler: { validate: true } });
    workers = await Promise.all([0, 1].map((i) => NetworkWorker.start({ scheduler: server!.address, name: `w${i}` })));
    client = await Client.connect(server.address, { setAsDefault: false });
    await client.waitForWorkers(2);
  });
  after(async () => {
    await client?.close();
    await Promise.all(workers.map((w) => w.close()));
    await server?.close();
  });
  it("has two workers", () => assert.equal(client!.workers, 2));
  conformanceSuite({ name: "Client(network, 2 workers)", scheduler: () => client!, sharedMemory: false });
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

describe("LocalCluster lifecycle, in a fresh process", { concurrency: true }, () => {
  // Each script computes on a cluster with nothing else keeping its process
  // alive, prints the result, closes the cluster and exits. The cluster must
  // keep the process alive while a result is on its way (and let it exit after).
  const header = `import { task, lit, ref } from ${JSON.stringify(libraryUrl)};
import { LocalCluster } from ${JSON.stringify(distributedUrl)};
const inc = { kind: "source", source: "(x) => x + 1", name: "inc" };
const cluster = await LocalCluster.start({ workers: 2 });`;

  async function expectOutput(body: string, expected: string, runner = runModuleScript): Promise<void> {
    const r = await runner(`${header}\n${body}\nawait cluster.close();\n`, { timeoutMs: 20_000 });
    assert.equal(r.code, 0, describeChild(r));
    assert.equal(r.stdout.trim(), expected, describeChild(r));
  }

  it("a program that computes and closes its cluster exits with the result printed", async () => {
    await expectOutput(`console.log(JSON.stringify(await cluster.compute(new Map([["x", task(inc, [lit(1)])]]), ["x"])));`, "[2]");
  });

  it("a program run with node --input-type=module -e can use a LocalCluster", async () => {
    // Worker threads must not inherit --input-type (they would die at start-up).
    await expectOutput(`console.log(JSON.stringify(await cluster.compute(new Map([["x", task(inc, [lit(1)])]]), ["x"])));`, "[2]", runEvalScript);
  });

  it("the process stays alive while requested intermediates are gathered", async () => {
    // `t` is requested and also an input of `b`: its value is gathered after the computation finishes.
    const body = `const g = new Map([["x", task(inc, [lit(1)])], ["t", task(inc, [ref("x")])], ["b", { kind: "alias", target: "t" }]]);
const out = [];
for (let i = 0; i < 5; i++) out.push(await cluster.compute(g, ["b", "t"]));
console.log(JSON.stringify(out));`;
    await expectOutput(body, JSON.stringify(Array.from({ length: 5 }, () => [3, 3])));
  });

  it("the process stays alive during gather() of a persisted key", async () => {
    const body = `await cluster.persist(new Map([["x", task(inc, [lit(1)])]]), ["x"]);
console.log(JSON.stringify(await cluster.gather(["x"])));`;
    await expectOutput(body, "[2]");
  });
});
