/**
 * A network cluster under failure, with workers in processes of their own
 * on loopback: a worker killed mid-computation, a worker that stops
 * answering, a task that kills every worker it runs on, garbage sent to the
 * scheduler's port, a client that leaves, and a scheduler that goes away;
 * scattered data, which is never recomputed: placed, broadcast, and lost.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { connect as netConnect } from "node:net";

import { Client, SchedulerServer } from "../../src/distributed.js";
import { ClosedError, InvalidArgumentError, KilledWorkerError, LostDataError, SerializeError } from "../../src/core/errors.js";
import { exited, killWorkers, startWorker as startWorkerProcess } from "../helpers/workers.js";
import { until } from "../helpers/network.js";

after(killWorkers);
/** Each worker process's address, as it registered. */
const addressOf = new Map<ChildProcess, string>();

/** Start a worker process; resolves once it has registered. */
async function startWorker(address: string, name: string): Promise<ChildProcess> {
  const w = await startWorkerProcess(address, name);
  addressOf.set(w.child, w.address);
  return w.child;
}

async function cluster(nworkers: number, workerTimeoutMs = 10_000): Promise<{ server: SchedulerServer; client: Client; workers: ChildProcess[]; close(): Promise<void> }> {
  const server = await SchedulerServer.start({ port: 0, workerTimeoutMs, scheduler: { validate: true } });
  const workers = await Promise.all(Array.from({ length: nworkers }, (_, i) => startWorker(server.address, `w${i}`)));
  const client = await Client.connect(server.address, { setAsDefault: false });
  await client.waitForWorkers(nworkers);
  return {
    server,
    client,
    workers,
    async close() {
      await client.close();
      await server.close();
      for (const w of workers) w.kill("SIGKILL");
    },
  };
}

/** An async task that takes `ms` (so work is still running when a worker is killed). */
const slowInc = async (x: number, ms: number): Promise<number> => {
  await new Promise((r) => setTimeout(r, ms));
  return x + 1;
};

describe("network cluster failures", () => {
  it("a worker killed mid-computation: its work is redone elsewhere and the results are right", async () => {
    const c = await cluster(2);
    try {
      const futures = c.client.map((x: number) => x, Array.from({ length: 40 }, (_, i) => i));
      const incs = futures.map((f) => c.client.submit(slowInc, f, 50));
      const total = c.client.submit((xs: number[]) => xs.reduce((a, b) => a + b, 0), incs);
      await futures[0]!.result();
      c.workers[0]!.kill("SIGKILL");
      assert.equal(await total.result(), 820);
      await c.client.waitForWorkers(1);
      assert.equal(c.server.workerAddresses.length, 1);
    } finally {
      await c.close();
    }
  });

  it("a worker that stops answering is removed after the timeout and its tasks rerun", async () => {
    const c = await cluster(2, 1_000);
    try {
      const futures = Array.from({ length: 20 }, (_, i) => c.client.submit(slowInc, i, 30));
      await futures[0]!.result();
      c.workers[1]!.kill("SIGSTOP");
      const values = await c.client.gather(futures);
      assert.deepEqual(values, Array.from({ length: 20 }, (_, i) => i + 1));
      assert.equal(c.server.workerAddresses.length, 1);
    } finally {
      c.workers[1]!.kill("SIGCONT");
      await c.close();
    }
  });

  it("a task that kills every worker it runs on fails with KilledWorkerError after three", async () => {
    const c = await cluster(3);
    try {
      const f = c.client.submit(() => process.exit(7));
      const err = await f.exception();
      assert.ok(err instanceof KilledWorkerError, String(err));
      assert.equal(err.key, f.key);
      assert.match(err.lastWorker, /^tcp:\/\/127\.0\.0\.1:\d+$/, "it names the last worker that died (scenario 6)");
      await Promise.all(c.workers.map(exited));
    } finally {
      await c.close();
    }
  });

  it("garbage on the scheduler's port closes that connection only", async () => {
    const c = await cluster(1);
    try {
      const sock = netConnect(Number(c.server.address.split(":").pop()), "127.0.0.1");
      await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
      sock.resume(); // read what the server says, so its close reaches us
      sock.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(10)));
      await new Promise<void>((resolve) => sock.once("close", () => resolve()));
      const f = c.client.submit((x: number) => x * 2, 21);
      assert.equal(await f.result(), 42);
    } finally {
      await c.close();
    }
  });

  it("a client that leaves releases its keys; the scheduler forgets them", async () => {
    const c = await cluster(1);
    try {
      const other = await Client.connect(c.server.address, { setAsDefault: false });
      const fs = other.map((x: number) => x + 1, [1, 2, 3]);
      assert.deepEqual(await other.gather(fs), [2, 3, 4]);
      assert.ok(c.server.shell.state.tasks.size >= 3);
      await other.close();
      // The scheduler hears of the close asynchronously: wait for it to forget.
      for (let i = 0; i < 200 && c.server.shell.state.tasks.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(c.server.shell.state.tasks.size, 0);
    } finally {
      await c.close();
    }
  });

  it("when the scheduler goes away, futures fail with ClosedError and workers exit", async () => {
    const c = await cluster(2);
    const pending = c.client.submit(slowInc, 1, 60_000);
    await c.server.close();
    const err = await pending.exception();
    assert.ok(err instanceof ClosedError, String(err));
    assert.deepEqual(await Promise.all(c.workers.map(exited)), [0, 0]);
    await c.client.close();
  });
});

describe("a client whose scheduler restarts", () => {
  it("fails its old futures clearly, reconnects, and works on the new scheduler", async () => {
    const first = await SchedulerServer.start({ port: 0 });
    const port = Number(first.address.split(":").pop());
    const w1 = await startWorker(first.address, "w-old");
    const client = await Client.connect(first.address, { setAsDefault: false, reconnectTimeoutMs: 20_000 });
    try {
      await client.waitForWorkers(1);
      const done = client.submit((x: number) => x + 1, 1);
      assert.equal(await done.result(), 2);
      const pending = client.submit(slowInc, 1, 60_000);
      const oldId = client.id;
      await first.close();
      const err = await pending.exception();
      assert.ok(err instanceof ClosedError, String(err));
      assert.equal(done.status, "lost", "results held by the old scheduler are gone too");
      await exited(w1);
      // A new scheduler on the same address, with a worker: the client finds it by itself.
      const second = await SchedulerServer.start({ port });
      const w2 = await startWorker(second.address, "w-new");
      try {
        await client.waitForWorkers(1);
        assert.notEqual(client.id, oldId);
        assert.equal(await client.submit((x: number) => x * 3, 14).result(), 42);
      } finally {
        await second.close();
        await exited(w2);
      }
    } finally {
      await client.close();
    }
  });
});

describe("graceful retirement", () => {
  it("copies what only the retiring worker holds to the others before it leaves", async () => {
    const c = await cluster(2);
    try {
      const fs = c.client.map((x: number) => x * 10, Array.from({ length: 20 }, (_, i) => i));
      await c.client.gather(fs);
      const addresses = c.server.workerAddresses;
      const leaving = addresses[0]!;
      const holders = (k: string): string[] => [...(c.server.shell.state.tasks.get(k)?.whoHas ?? [])].map((w) => w.address);
      assert.ok(fs.some((f) => holders(f.key).includes(leaving)), "some results live on the worker that leaves");
      assert.deepEqual(await c.client.retireWorkers([leaving]), [leaving]);
      assert.deepEqual(c.server.workerAddresses, [addresses[1]]);
      for (const f of fs) assert.deepEqual(holders(f.key), [addresses[1]], `${f.key} moved, not lost`);
      assert.deepEqual(await c.client.gather(fs), Array.from({ length: 20 }, (_, i) => i * 10));
      assert.ok((await Promise.all(c.workers.map((w) => Promise.race([exited(w), new Promise((r) => setTimeout(() => r("running"), 200))])))).includes(0), "the retired worker process exited");
      await assert.rejects(c.client.retireWorkers([addresses[1]!]), /Cannot retire every worker/);
    } finally {
      await c.close();
    }
  });
});

describe("scattered data", () => {
  const holders = (server: SchedulerServer, key: string): string[] => [...(server.shell.state.tasks.get(key)?.whoHas ?? [])].map((w) => w.address).sort();

  it("goes to one worker each, spread by bytes; the scheduler keeps no copy", async () => {
    const c = await cluster(2);
    try {
      const [a, b] = await c.client.scatter([new Float64Array(1000).fill(1), new Float64Array(1000).fill(2)]);
      assert.equal(a!.status, "finished");
      const places = [holders(c.server, a!.key), holders(c.server, b!.key)];
      assert.deepEqual(places.map((p) => p.length), [1, 1]);
      assert.notDeepEqual(places[0], places[1], "two equal values land on different workers");
      assert.equal(c.server.shell.state.tasks.get(a!.key)!.run, undefined, "data, not a computation");
      const sum = c.client.submit((x: Float64Array, y: Float64Array) => x[0]! + y[999]!, a!, b!);
      assert.equal(await sum.result(), 3);
      assert.deepEqual([...(await b!.result()).subarray(0, 2)], [2, 2]);
    } finally {
      await c.close();
    }
  });

  it("broadcast puts a copy on every worker (or every one named), and a copy survives a worker's death", async () => {
    const c = await cluster(3);
    try {
      const [table] = await c.client.scatter([{ x: 41 }], { broadcast: true });
      assert.deepEqual(holders(c.server, table!.key), [...c.server.workerAddresses].sort());
      const two = c.workers.slice(0, 2).map((w) => addressOf.get(w)!);
      const [pair] = await c.client.scatter([{ y: 1 }], { broadcast: true, workers: two });
      assert.deepEqual(holders(c.server, pair!.key), [...two].sort());
      const [one] = await c.client.scatter(["only here"], { workers: [two[1]!] });
      assert.deepEqual(holders(c.server, one!.key), [two[1]]);
      c.workers[0]!.kill("SIGKILL");
      await exited(c.workers[0]!);
      const total = c.client.submit((t: { x: number }, p: { y: number }) => t.x + p.y, table!, pair!);
      assert.equal(await total.result(), 42);
      assert.equal(table!.status, "finished");
    } finally {
      await c.close();
    }
  });

  it("lost with the only worker holding it: its future and its dependents fail with LostDataError; scattering again brings it back", async () => {
    const c = await cluster(2);
    try {
      const [value] = await c.client.scatter([{ n: 1 }], { workers: [addressOf.get(c.workers[0]!)!] });
      const blocker = c.client.submitWith({ workers: [addressOf.get(c.workers[1]!)!] }, slowInc, 0, 1_000);
      // Waits for `blocker` too, so it is most likely still waiting for its inputs when the value is
      // lost (if not, it is fetching it: the same error either way). The blocker ends soon after,
      // freeing the one thread left for the last task below.
      const dependent = c.client.submit((v: { n: number }, _b: number) => v.n, value!, blocker);
      c.workers[0]!.kill("SIGKILL");
      // The dependent hears of the loss with the value: the value's own future has changed by then.
      const depErr = await dependent.exception();
      assert.ok(depErr instanceof LostDataError, String(depErr));
      assert.equal(dependent.status, "error");
      assert.equal(value!.status, "lost");
      const err = await value!.exception();
      assert.ok(err instanceof LostDataError, String(err));
      assert.equal(err.key, value!.key);
      assert.equal(err.lastWorker, addressOf.get(c.workers[0]!));
      assert.match(err.message, /Scatter it again/);
      await assert.rejects(value!.result(), LostDataError);
      const [again] = await c.client.scatter([{ n: 1 }]);
      assert.equal(again!.key, value!.key);
      assert.deepEqual(await again!.result(), { n: 1 });
      assert.equal(await c.client.submit((v: { n: number }) => v.n + 1, again!).result(), 2);
    } finally {
      await c.close();
    }
  });

  it("waits for a worker when there is none, and refuses bad options", async () => {
    const server = await SchedulerServer.start({ port: 0, scheduler: { validate: true } });
    const client = await Client.connect(server.address, { setAsDefault: false });
    try {
      const pending = client.scatter([7]);
      let landed = false;
      void pending.then(() => (landed = true));
      // A round trip behind the scatter: the scheduler has seen it, and placed nothing.
      assert.deepEqual(await client.run(() => 0), {});
      assert.equal(landed, false);
      assert.equal(server.shell.state.tasks.size, 0);
      const w = await startWorker(server.address, "late");
      const [seven] = await pending;
      assert.equal(await seven!.result(), 7);
      assert.deepEqual(holders(server, seven!.key), [addressOf.get(w)]);
      await assert.rejects(client.scatter([1], { broadcast: "yes" as unknown as boolean }), InvalidArgumentError);
      await assert.rejects(client.scatter([1], { hash: false } as never), /Unknown scatter option "hash"/);
      await assert.rejects(client.scatter([1], { workers: [] }), InvalidArgumentError);
      await assert.rejects(client.scatter([1], { workers: ["tcp://127.0.0.1:1"] }), (e: unknown) => e instanceof InvalidArgumentError && /No worker at tcp:\/\/127.0.0.1:1/.test(e.message));
      await assert.rejects(client.scatter("abc" as unknown as string[]), InvalidArgumentError);
      assert.deepEqual(await client.scatter([]), []);
      // A value that cannot be sent is named as the caller wrote it, and leaves nothing pending.
      await assert.rejects(client.scatter([1, { f: Symbol("s") }]), (e: unknown) => e instanceof SerializeError && /values\[1\]/.test(e.path));
      assert.equal(await (await client.scatter([8]))[0]!.result(), 8);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("a scatter waiting for a worker is dropped, values and all, when its client leaves", async () => {
    const server = await SchedulerServer.start({ port: 0, scheduler: { validate: true } });
    const waiting = () => (server as unknown as { workerJoined: unknown[] }).workerJoined.length;
    try {
      const client = await Client.connect(server.address, { setAsDefault: false, reconnect: false });
      const pending = client.scatter([new Float64Array(1000)]);
      pending.catch(() => undefined);
      assert.deepEqual(await client.run(() => 0), {});
      assert.equal(waiting(), 1, "the scatter waits for a worker");
      await client.close();
      await assert.rejects(pending, ClosedError);
      // No worker may ever join: the departed client's values must not stay in the scheduler until one does.
      await until(() => waiting() === 0, "the departed client's scatter is dropped", 2_000);
    } finally {
      await server.close();
    }
  });
});
