/**
 * Values of any size between worker processes (issue 9): 300 MB, 2 GiB and
 * 3 GB inputs fetched from one worker process by another over one
 * connection; send failures that become typed errors instead of hangs
 * (lowered `maxValueBytes`); a peer connection cut mid-fetch; a peer that
 * goes silent past the fetch timeout. Cluster tests start worker processes
 * on loopback (test/helpers/network.ts); the error tests run workers in
 * this process, where their options can be lowered.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import diagnostics_channel from "node:diagnostics_channel";
import { Client, NetworkWorker, SchedulerServer } from "../../src/distributed.js";
import type { SchedulerEvent } from "../../src/scheduler/state.js";
import { TestCluster, until } from "../helpers/network.js";

/** `missing-data` reports from workers, as the scheduler takes them in: what a failed fetch ends in. */
const missing: { key: string; errant: string }[] = [];
const onStimulus = (m: unknown): void => {
  const ev = m as SchedulerEvent;
  if (ev.type === "worker-message" && ev.msg.op === "missing-data") missing.push({ key: ev.msg.key, errant: ev.msg.errantWorker });
};
diagnostics_channel.subscribe("dask-ts:scheduler:stimulus", onStimulus);
after(() => diagnostics_channel.unsubscribe("dask-ts:scheduler:stimulus", onStimulus));

/** A Float64Array of `bytes` bytes (a multiple of 8) with a checkable pattern every 4 KiB. */
const make = (bytes: number): Float64Array => {
  const x = new Float64Array(bytes / 8);
  for (let i = 0; i < x.length; i += 512) x[i] = i;
  x[x.length - 1] = -1;
  return x;
};
/** Checks the pattern on the worker that fetched it: only a small answer travels back. */
const check = (x: Float64Array): string => {
  for (let i = 0; i < x.length - 1; i += 512) if (x[i] !== i) return `element ${i} is ${x[i]}`;
  return x[x.length - 1] === -1 ? `ok ${x.byteLength}` : "last element wrong";
};

/**
 * The multi-GiB cases cost about a minute each on a small VM where touching
 * fresh memory is slow (the value is made, copied from the task thread to
 * the relay, received, and checked): they run with DASK_TS_BIG_TESTS=1.
 */
const SIZES = process.env["DASK_TS_BIG_TESTS"] === "1" ? [300e6, 2 ** 31, 3e9] : [300e6];

describe("big values between worker processes", { timeout: 600_000 }, () => {
  let c: TestCluster;
  before(async () => {
    // Handing a multi-GiB value from the task thread to the relay blocks the relay's event loop for seconds
    // (structured clone), heartbeats included: a generous timeout keeps the scheduler from removing it meanwhile.
    c = await TestCluster.start({ workers: 2, workerTimeoutMs: 300_000 });
  });
  after(() => c?.close());

  for (const bytes of SIZES) {
    it(`a ${bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(bytes === 2 ** 31 ? 0 : 1)} GiB` : `${bytes / 1e6} MB`} input made on one worker is fetched by the other over one connection`, async () => {
      const [w0, w1] = c.workers.map((w) => w.address);
      const x = c.client.submitWith({ workers: [w0!], pure: false }, make, bytes);
      const y = c.client.submitWith({ workers: [w1!] }, check, x);
      const t0 = performance.now();
      assert.equal(await y.result(), `ok ${bytes}`);
      console.log(`# ${bytes} bytes: made, fetched and checked in ${Math.round(performance.now() - t0)} ms`);
      x.release();
      y.release();
    });
  }
});

describe("send failures are typed errors, never hangs", () => {
  let server: SchedulerServer;
  let small: NetworkWorker;
  let client: Client;
  before(async () => {
    server = await SchedulerServer.start({ port: 0, scheduler: { validate: true } });
    small = await NetworkWorker.start({ scheduler: server.address, name: "small", maxValueBytes: 1 << 20 });
    client = await Client.connect(server.address, { setAsDefault: false });
    await client.waitForWorkers(1);
  });
  after(async () => {
    await client?.close();
    await small?.close();
    await server?.close();
  });

  const isTooLarge = (e: unknown): boolean => {
    const err = e as { code?: string; cause?: { code?: string } };
    return err.code === "DASK_ERR_MESSAGE_TOO_LARGE" || err.cause?.code === "DASK_ERR_MESSAGE_TOO_LARGE";
  };

  it("a result over the connection's maxValueBytes fails its task with MessageTooLargeError", async () => {
    await assert.rejects(client.submit((n: number) => new Uint8Array(n), 2 << 20).result(), isTooLarge);
    assert.equal(await client.submit((n: number) => n + 1, 1).result(), 2, "the worker carries on");
  });

  it("a client.run answer over it is an error reply", async () => {
    await assert.rejects(client.run(() => new Uint8Array(2 << 20)), isTooLarge);
  });

  it("a held value over it, fetched by a peer, fails the task that needed it", async () => {
    const big = await NetworkWorker.start({ scheduler: server.address, name: "big" });
    try {
      await client.waitForWorkers(2);
      const x = client.submitWith({ workers: [big.address], pure: false }, (n: number) => new Uint8Array(n), 2 << 20);
      await until(() => server.shell.state.tasks.get(x.key)?.state === "memory", "x is computed");
      const y = client.submitWith({ workers: [small.address] }, (a: Uint8Array) => a.length, x);
      await assert.rejects(y.result(), isTooLarge);
    } finally {
      await big.close();
    }
  });
});

describe("failed fetches", { timeout: 120_000 }, () => {
  it("a peer connection cut while a 256 MiB input streams: the fetch fails at once and the graph still finishes", async () => {
    // The hook cuts w1's first peer connection after 32 MB have arrived (see process.ts).
    process.env["DASK_TS_TEST_CUT_FETCH_BYTES"] = String(32e6);
    const c = await TestCluster.start({ workers: 0 });
    try {
      const w0 = await c.worker("w0");
      const w1 = await c.worker("w1");
      delete process.env["DASK_TS_TEST_CUT_FETCH_BYTES"];
      await c.client.waitForWorkers(2);
      const from = missing.length;
      const x = c.client.submitWith({ workers: [w0.address], pure: false }, make, 2 ** 28);
      const y = c.client.submitWith({ workers: [w1.address] }, check, x);
      assert.equal(await y.result(), `ok ${2 ** 28}`);
      assert.ok(
        missing.slice(from).some((m) => m.key === x.key && m.errant === w0.address),
        "the cut fetch reached the thread as a failure, which reported the input missing from w0",
      );
    } finally {
      delete process.env["DASK_TS_TEST_CUT_FETCH_BYTES"];
      await c.close();
    }
  });

  it("a peer that goes silent (stopped) past --fetch-timeout: the fetch fails while it is still stopped", async () => {
    const c = await TestCluster.start({ workers: 0, workerTimeoutMs: 60_000 });
    try {
      const w0 = await c.worker("w0");
      const w1 = await c.worker("w1", ["--fetch-timeout", "500ms"]);
      await c.client.waitForWorkers(2);
      // A first fetch opens the connection from w1 to w0.
      const a = c.client.submitWith({ workers: [w0.address], pure: false }, (n: number) => n, 1);
      assert.equal(await c.client.submitWith({ workers: [w1.address] }, (v: number) => v + 1, a).result(), 2);
      const b = c.client.submitWith({ workers: [w0.address], pure: false }, (n: number) => n, 41);
      await until(() => c.server.shell.state.tasks.get(b.key)?.state === "memory", "b is computed");
      const from = missing.length;
      process.kill(w0.proc.pid, "SIGSTOP");
      try {
        const y = c.client.submitWith({ workers: [w1.address] }, (v: number) => v + 1, b);
        await until(() => missing.slice(from).some((m) => m.key === b.key && m.errant === w0.address), "w1's fetch from the stopped w0 failed", 15_000);
        process.kill(w0.proc.pid, "SIGCONT");
        assert.equal(await y.result(), 42);
      } finally {
        process.kill(w0.proc.pid, "SIGCONT");
      }
    } finally {
      await c.close();
    }
  });
});
