/**
 * A network cluster under failure, with workers in processes of their own
 * on loopback: a worker killed mid-computation, a worker that stops
 * answering, a task that kills every worker it runs on, garbage sent to the
 * scheduler's port, a client that leaves, and a scheduler that goes away.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { connect as netConnect } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { Client, SchedulerServer } from "../../src/distributed.js";
import { ClosedError, KilledWorkerError } from "../../src/core/errors.js";

const workerScript = fileURLToPath(new URL("../fixtures/network-worker.js", import.meta.url));
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill("SIGKILL");
});

/** Start a worker process; resolves once it has registered. */
async function startWorker(address: string, name: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [workerScript, address, name], { stdio: ["ignore", "pipe", "inherit"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.on("line", (l) => l.startsWith("ready ") && resolve());
    child.once("exit", (code) => reject(new Error(`worker ${name} exited with ${code} before it was ready`)));
  });
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
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
