/**
 * Retries, worker restrictions and resources through a Client, on a network
 * cluster of two workers, one of which offers a GPU. The scheduler checks
 * its invariants after every stimulus.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { Client, NetworkWorker, SchedulerServer } from "../../src/distributed.js";
import { InvalidArgumentError, TaskError } from "../../src/core/errors.js";

let server: SchedulerServer;
let cpu: NetworkWorker;
let gpu: NetworkWorker;
let client: Client;
before(async () => {
  server = await SchedulerServer.start({ port: 0, scheduler: { validate: true } });
  cpu = await NetworkWorker.start({ scheduler: server.address, name: "cpu", nthreads: 2 });
  gpu = await NetworkWorker.start({ scheduler: server.address, name: "gpu", nthreads: 2, resources: { GPU: 1 } });
  client = await Client.connect(server.address, { setAsDefault: false });
  await client.waitForWorkers(2);
});
after(async () => {
  await client.close();
  await Promise.all([cpu.close(), gpu.close()]);
  await server.close();
});

const holder = (key: string): string[] => [...(server.shell.state.tasks.get(key)?.whoHas ?? [])].map((w) => w.address);

/** Fails until it has been called `n` times on this worker thread (a counter in the thread's global scope). */
const flaky = (name: string, n: number): number => {
  const g = globalThis as unknown as Record<string, number>;
  g[name] = (g[name] ?? 0) + 1;
  if (g[name]! < n) throw new Error(`attempt ${g[name]} of ${name} fails`);
  return g[name]!;
};

describe("network cluster: retries, restrictions, resources", () => {
  it("retries run a failing task again; without enough of them it fails", async () => {
    const ok = client.submitWith({ retries: 2, workers: [cpu.address] }, flaky, "a", 3);
    assert.equal(await ok.result(), 3);
    const bad = client.submitWith({ retries: 1, workers: [cpu.address] }, flaky, "b", 5);
    const err = await bad.exception();
    assert.ok(err instanceof TaskError);
    assert.match(err.message, /attempt 2 of b fails/);
  });

  it("worker restrictions place tasks on the named workers only", async () => {
    const fs = client.map((x: number) => x * 2, [1, 2, 3, 4, 5, 6], { workers: [gpu.address] });
    assert.deepEqual(await client.gather(fs), [2, 4, 6, 8, 10, 12]);
    for (const f of fs) assert.deepEqual(holder(f.key), [gpu.address]);
  });

  it("tasks needing a resource run where it is, never more at once than it has", async () => {
    const t0 = Date.now();
    const nap = async (x: number): Promise<number> => {
      await new Promise((r) => setTimeout(r, 150));
      return x;
    };
    const fs = [1, 2, 3].map((x) => client.submitWith({ resources: { GPU: 1 }, pure: false }, nap, x));
    assert.deepEqual(await client.gather(fs), [1, 2, 3]);
    // One GPU: the three naps ran one after another on the GPU worker, though it has two threads.
    assert.ok(Date.now() - t0 >= 430, `took ${Date.now() - t0} ms`);
    for (const f of fs) assert.deepEqual(holder(f.key), [gpu.address]);
  });

  it("bad options are refused", () => {
    assert.throws(() => client.submitWith({ retries: -1 }, (x: number) => x, 1), InvalidArgumentError);
    assert.throws(() => client.submitWith({ workers: [] }, (x: number) => x, 1), InvalidArgumentError);
    assert.throws(() => client.submitWith({ resources: { GPU: 0 } }, (x: number) => x, 1), InvalidArgumentError);
  });
});
