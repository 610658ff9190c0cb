/**
 * Dask's nanny-and-restart acceptance scenarios (reference §5.2, 5 and
 * 10–13), with nannies in this process running worker processes on
 * loopback. Covered elsewhere:
 * - 10 (`test_nanny_process_failure`): test/cli/cluster.test.ts ("a killed
 *   worker is restarted": new pid, new address, registered afresh) and
 *   worker-failure.test.ts scenario 2 (the worker calls process.exit).
 *   dask-ts workers have no local directory to clean up.
 * `client.restart()` on the local clusters `Client.connect()` starts:
 * test/network/client.test.ts.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";

import { CancelledError, InvalidArgumentError, KilledWorkerError } from "../../../src/core/errors.js";
import { delayed } from "../../../src/index.js";
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

  it("12 test_repeated_restarts: three restarts in a row each bring back both workers, as fresh processes", async () => {
    const c = await TestCluster.start({});
    try {
      const nannies = [c.nanny("r0"), c.nanny("r1")];
      await c.client.waitForWorkers(2);
      for (let round = 0; round < 3; round++) {
        const pids = nannies.map((n) => n.pid);
        const held = c.client.map(inc, [1, 2, 3]);
        await c.client.gather(held);
        assert.equal(await c.client.restart(), 2);
        assert.equal(c.server.workerAddresses.length, 2);
        assert.ok(nannies.every((n, i) => n.pid !== undefined && n.pid !== pids[i]), `round ${round}: fresh processes`);
        assert.deepEqual(held.map((f) => f.status), ["cancelled", "cancelled", "cancelled"]);
        await assert.rejects(held[0]!.result(), CancelledError);
        assert.equal(c.server.shell.state.tasks.size, 0);
        assert.equal(await c.client.submit(inc, round).result(), round + 1);
      }
    } finally {
      await c.close();
    }
  });

  it("12 test_restart_during_computation: a restart in the middle of a computation cancels it and leaves the scheduler with no tasks", async () => {
    const c = await TestCluster.start({ workers: 1 });
    try {
      c.nanny("q0");
      await c.client.waitForWorkers(2);
      const slow = Array.from({ length: 6 }, (_, i) => c.client.submitWith({ pure: false }, slowInc, i, 5_000));
      // Its outcome is taken at once: it fails while the restart is awaited.
      const computing = delayed(slowInc)(1, 5_000).compute({ scheduler: c.client }).then(() => undefined, (e: unknown) => e);
      await until(() => [...c.server.shell.state.tasks.values()].some((t) => t.state === "processing"), "work is running");
      // The --no-nanny worker leaves for good; the nannied one comes back.
      assert.equal(await c.client.restart({ timeoutMs: 20_000 }), 1);
      assert.ok((await computing) instanceof CancelledError);
      assert.ok(slow.every((f) => f.status === "cancelled"));
      assert.equal(c.server.shell.state.tasks.size, 0);
      assert.equal(await c.client.submit(inc, 41).result(), 42);
      await assert.rejects(c.client.restart({ timeoutMs: -1 }), InvalidArgumentError);
      await assert.rejects(c.client.restart({ timeoutMs: Infinity }), InvalidArgumentError); // a timer that long fires at once
      await assert.rejects(c.client.restart({ wait: true } as never), /Unknown restart option "wait"/);
    } finally {
      await c.close();
    }
  });

  it("a worker process whose event loop never comes back is killed by its nanny and restarted", async () => {
    const c = await TestCluster.start({});
    const log: string[] = [];
    try {
      const n = c.nanny("stuck0", { livenessTimeoutMs: 1_500, log: (l) => log.push(l) });
      const address = await c.registered("stuck0");
      const pid = n.pid!;
      const from = c.log.length;
      // Blocks that worker process's own event loop (client.run runs there, not on the task thread) for a minute.
      void c.client.run(blockIfPid, pid, 60_000).catch(() => undefined);
      const again = await c.registered("stuck0", from);
      assert.notEqual(again, address);
      assert.notEqual(n.pid, pid);
      assert.match(log.join("\n"), /worker stuck0 \(pid \d+\) has not responded for \d+ s; killing it/);
      assert.equal(processExists(pid), false);
      assert.equal(await c.client.submit(inc, 1).result(), 2);
    } finally {
      await c.close();
    }
  });
});
