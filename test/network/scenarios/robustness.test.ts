/**
 * Dask's scheduler-robustness acceptance scenarios (reference §5.2, 37–40),
 * against worker processes on loopback and a scheduler that checks its
 * invariants after every stimulus. Covered elsewhere:
 * - 38 `test_worker_death_timeout` (a worker that cannot reach the
 *   scheduler gives up): test/cli/cluster.test.ts, "an unreachable
 *   scheduler: the worker exits non-zero within the connect timeout".
 * - 40 `test_close_gracefully` for idle workers: test/network/failure.test.ts,
 *   "graceful retirement"; the busy case is here.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";

import { Client } from "../../../src/client/client.js";
import { ClosedError, InvalidArgumentError, NoValidWorkerError } from "../../../src/core/errors.js";
import { SchedulerServer } from "../../../src/scheduler/server.js";
import { CliProcess, killAll } from "../../helpers/cli.js";
import { TestCluster, until } from "../../helpers/network.js";
import { blockIfPid, inc, lines, logged, scratchDir } from "./tasks.js";

const path = scratchDir("robust");
after(killAll);

describe("scheduler robustness scenarios", () => {
  it("37 test_no_workers: with no workers a task waits in no-worker and runs once a worker joins", async () => {
    const c = await TestCluster.start();
    try {
      const fs = c.client.map(inc, Array.from({ length: 20 }, (_, i) => i));
      await until(() => fs.every((f) => c.server.shell.state.tasks.get(f.key)?.state === "no-worker"), "every task waits for a worker");
      await c.worker("late");
      assert.deepEqual(await c.client.gather(fs), Array.from({ length: 20 }, (_, i) => i + 1));
    } finally {
      await c.close();
    }
  });

  it("37 test_no_workers_timeout_bad_restrictions: with noWorkersTimeoutMs, a task no connected worker may run fails with NoValidWorkerError; busy workers do not count", async () => {
    const c = await TestCluster.start({ workers: 1, workerArgs: ["--resources", "GPU=1"], noWorkersTimeoutMs: 150 });
    try {
      const nowhere = await c.client.submitWith({ workers: ["tcp://127.0.0.1:1"] }, inc, 1).exception();
      assert.ok(nowhere instanceof NoValidWorkerError, String(nowhere));
      assert.deepEqual([nowhere.workers, nowhere.connectedWorkers, nowhere.timeoutMs], [["tcp://127.0.0.1:1"], 1, 150]);
      assert.match(nowhere.message, /may run only on tcp:\/\/127\.0\.0\.1:1, and none of the 1 connected workers is one of those/);
      const tpu = await c.client.submitWith({ resources: { TPU: 1 } }, inc, 2).exception();
      assert.ok(tpu instanceof NoValidWorkerError && tpu.resources[0] === "TPU=1", String(tpu));
      // The one GPU is busy with the first task for longer than the timeout: the second waits, and runs.
      const log = path("37.log");
      const gpu = [1, 2].map((i) => c.client.submitWith({ resources: { GPU: 1 } }, logged, i, `gpu-${i}`, log, 300));
      assert.deepEqual(await c.client.gather(gpu), [1, 2]);
    } finally {
      await c.close();
    }
    const empty = await TestCluster.start({ noWorkersTimeoutMs: 100 });
    try {
      const err = await empty.client.submit(inc, 1).exception();
      assert.ok(err instanceof NoValidWorkerError && err.connectedWorkers === 0 && /no worker is connected/.test(err.message), String(err));
    } finally {
      await empty.close();
    }
  });

  it("37: a bad noWorkersTimeoutMs is refused without leaving the port listening", async () => {
    const probe = await SchedulerServer.start({ port: 0 });
    const port = Number(new URL(probe.address).port);
    await probe.close();
    await assert.rejects(SchedulerServer.start({ port, noWorkersTimeoutMs: -1 }), InvalidArgumentError);
    // The refused scheduler must not hold the port (nor keep the process alive with it).
    const again = await SchedulerServer.start({ port });
    await again.close();
  });

  it("38 test_heartbeat_missing: a worker the scheduler removed as silent closes itself once it can", async () => {
    const c = await TestCluster.start({ workers: 1, workerTimeoutMs: 400 });
    try {
      const w = c.workers[0]!;
      const from = c.log.length;
      void c.client.run(blockIfPid, w.proc.pid, 1_000).catch(() => undefined);
      await c.logLine(/^worker w0 at \S+ removed: silent for \d+ ms$/, from);
      // Unblocked, it reads that it was removed and leaves (status 1, so a supervisor may restart it).
      assert.equal((await w.proc.exit()).code, 1, w.proc.output);
      assert.match(w.proc.lines.stderr.join("\n"), /stopping: removed by the scheduler: silent for \d+ ms/);
      assert.equal(c.server.workerAddresses.length, 0);
    } finally {
      await c.close();
    }
  });

  it("39 test_reconnect: the scheduler process is killed; futures fail, the client is connecting, then running on the restarted scheduler", async () => {
    const first = new CliProcess(["scheduler", "--port", "0"]);
    const [, address, port] = await first.line(/^scheduler at (tcp:\/\/127\.0\.0\.1:(\d+))$/);
    const worker = new CliProcess(["worker", address!, "--no-nanny", "--name", "old"]);
    const client = await Client.connect(address!, { setAsDefault: false, reconnectTimeoutMs: 20_000 });
    try {
      assert.equal(client.status, "running");
      await client.waitForWorkers(1);
      const done = client.submit(inc, 1);
      assert.equal(await done.result(), 2);
      const pending = client.submit(logged, 1, "p", path("39.log"), 60_000);
      await until(() => lines(path("39.log")).length === 1, "the task is running");
      first.kill("SIGKILL");
      assert.ok((await pending.exception()) instanceof ClosedError);
      assert.equal(done.status, "lost");
      assert.equal(client.status, "connecting");
      assert.throws(() => client.submit(inc, 2), ClosedError, "no new work while connecting");
      await worker.exit(); // its scheduler is gone
      const second = new CliProcess(["scheduler", "--port", port!]);
      await second.line(/^scheduler at /);
      new CliProcess(["worker", address!, "--no-nanny", "--name", "new"]);
      await until(() => client.status === "running", "the client reconnected", 15_000);
      await client.waitForWorkers(1);
      assert.equal(await client.submit(inc, 41).result(), 42);
    } finally {
      await client.close();
      assert.equal(client.status, "closed");
      killAll();
    }
  });

  it("40 test_close_gracefully: retiring a busy worker moves its results without recomputing them and reruns its running tasks elsewhere", async () => {
    // allowedFailures 1: a retirement counted as a death would fail the moved tasks.
    const c = await TestCluster.start({ workers: 2, scheduler: { allowedFailures: 1 } });
    try {
      const log = path("40.log");
      const held = Array.from({ length: 10 }, (_, i) => c.client.submit(logged, i, `held-${i}`, log, 0));
      await c.client.gather(held);
      const [a, b] = c.workers;
      assert.ok(held.some((f) => c.holders(f.key).includes(a!.address)), "a holds some results");
      const slow = Array.from({ length: 4 }, (_, i) => c.client.submit(logged, i, `slow-${i}`, log, 150));
      await until(() => [...c.server.shell.state.workers.get(a!.address)!.processing].length > 0 && lines(log).some((l) => l.startsWith("slow")), "a is running a slow task");
      assert.deepEqual(await c.client.retireWorkers([a!.address]), [a!.address]);
      for (const f of held) assert.deepEqual(c.holders(f.key), [b!.address], `${f.key} moved`);
      assert.deepEqual(await c.client.gather(held), Array.from({ length: 10 }, (_, i) => i));
      assert.deepEqual(await c.client.gather(slow), [0, 1, 2, 3]);
      assert.equal(lines(log).filter((l) => l.startsWith("held")).length, 10, "no held result was recomputed");
    } finally {
      await c.close();
    }
  });
});
