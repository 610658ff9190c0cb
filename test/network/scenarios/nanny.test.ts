/**
 * Dask's nanny-and-restart acceptance scenarios (reference §5.2, 5 and
 * 10–13), with nannies in this process running worker processes on
 * loopback. Covered elsewhere:
 * - 10 (`test_nanny_process_failure`): test/cli/cluster.test.ts ("a killed
 *   worker is restarted": new pid, new address, registered afresh) and
 *   worker-failure.test.ts scenario 2 (the worker calls process.exit).
 *   dask-ts workers have no local directory to clean up.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";

import { KilledWorkerError } from "../../../src/core/errors.js";
import { Nanny } from "../../../src/worker/nanny.js";
import { CliProcess, killAll, processExists } from "../../helpers/cli.js";
import { TestCluster, until } from "../../helpers/network.js";
import { blockIfPid, inc, slowInc } from "./tasks.js";

after(killAll);


describe("nanny and restart scenarios", () => {
  it("5 test_worker_ttl_restarts_worker: a worker whose event loop is blocked is removed, its task fails with KilledWorkerError, and its nanny restarts it", async () => {
    const c = await TestCluster.start({ workerTimeoutMs: 400, scheduler: { allowedFailures: 1 } });
    const log: string[] = [];
    try {
      const n = c.nanny("n0", { log: (l) => log.push(l) });
      const address = await c.registered("n0");
      const f = c.client.submit(slowInc, 1, 3_000);
      await until(() => c.server.shell.state.tasks.get(f.key)?.state === "processing", "the task is running");
      const pid = n.pid!;
      const from = c.log.length;
      void c.client.run(blockIfPid, pid, 1_000).catch(() => undefined); // answered by nobody: the worker is removed meanwhile
      const err = await f.exception();
      assert.ok(err instanceof KilledWorkerError, String(err));
      assert.equal(err.lastWorker, address);
      await c.logLine(/^worker n0 at \S+ removed: silent for \d+ ms$/, from);
      // Once unblocked, the old process hears it was removed and leaves; its nanny starts a fresh one.
      const again = await c.registered("n0", from);
      assert.notEqual(again, address);
      assert.notEqual(n.pid, pid);
      assert.equal(processExists(pid), false);
      assert.match(log.join("\n"), /worker n0 \(pid \d+\) was removed by the scheduler \(it stopped answering\); restarting it/);
      assert.equal(await c.client.submit(inc, 1).result(), 2);
    } finally {
      await c.close();
    }
  });

  it("11 test_restart_memory: a worker out of its memory limit is restarted, saying so; after allowedFailures the task fails with KilledWorkerError", async () => {
    const c = await TestCluster.start({ scheduler: { allowedFailures: 2 } });
    const log: string[] = [];
    try {
      c.nanny("m0", { workerArgs: ["--memory-limit", "48MiB"], log: (l) => log.push(l) });
      await c.registered("m0");
      const hog = (): number => {
        const keep: number[][] = [];
        for (;;) keep.push(new Array<number>(100_000).fill(1));
      };
      const err = await c.client.submit(hog).exception();
      assert.ok(err instanceof KilledWorkerError, String(err));
      assert.equal(err.allowedFailures, 2);
      // The scheduler hears of the second death (the connection drops) before the nanny does (the process exits).
      const restarts = (): number => log.filter((l) => /worker m0 \(pid \d+\) ran out of memory \(its --memory-limit\); restarting it/.test(l)).length;
      await until(() => restarts() === 2, `two restarts for memory:\n${log.join("\n")}`);
      await c.client.waitForWorkers(1);
      assert.equal(await c.client.submit(inc, 41).result(), 42);
    } finally {
      await c.close();
    }
  });

  it("11 test_nanny_terminate: a worker that ignores SIGTERM is killed when its nanny stops", async () => {
    const c = await TestCluster.start();
    const log: string[] = [];
    try {
      const n = c.nanny("t0", { stopTimeoutMs: 300, log: (l) => log.push(l) });
      await c.registered("t0");
      const pid = n.pid!;
      const stubborn = (): number => {
        process.removeAllListeners("SIGTERM");
        process.on("SIGTERM", () => undefined);
        return process.pid;
      };
      assert.deepEqual(Object.values(await c.client.run(stubborn)), [pid]);
      assert.deepEqual(await n.close(), { kind: "stopped" });
      assert.equal(processExists(pid), false);
      assert.match(log.join("\n"), /worker t0 \(pid \d+\) did not stop within 0.3 s; killing it/);
    } finally {
      await c.close();
    }
  });

  it("13 test_scheduler_crash_doesnt_restart: when the scheduler dies, the nanny stops its worker instead of restarting it", async () => {
    const scheduler = new CliProcess(["scheduler", "--port", "0"]);
    const [, address] = await scheduler.line(/^scheduler at (tcp:\/\/\S+)$/);
    const log: string[] = [];
    const nanny = Nanny.start({ scheduler: address!, name: "c0", backoffMs: 10, log: (l) => log.push(l) });
    try {
      await scheduler.line(/worker c0 registered/, { stream: "stderr" });
      const pid = nanny.pid!;
      scheduler.kill("SIGKILL"); // a crash: no goodbye, the connections just drop
      assert.deepEqual(await nanny.finished, { kind: "scheduler-gone" });
      assert.equal(processExists(pid), false);
      assert.equal(nanny.pid, undefined, "no new worker process");
      assert.doesNotMatch(log.join("\n"), /restarting/);
    } finally {
      await nanny.close();
    }
  });
});
