/**
 * Dask's worker-failure acceptance scenarios (reference §5.2, 1–9), against
 * worker processes on loopback and a scheduler that checks its invariants
 * after every stimulus. Scenarios already covered elsewhere:
 * - 4 (`test_worker_time_to_live`): test/network/failure.test.ts, "a worker
 *   that stops answering is removed after the timeout and its tasks rerun";
 * - 6 (`test_bad_tasks_fail`): test/network/failure.test.ts, "a task that
 *   kills every worker it runs on fails with KilledWorkerError after three";
 * - 7 (`test_lose_scattered_data` / `test_partially_lose_scattered_data`):
 *   test/network/failure.test.ts, "scattered data": lost with its only
 *   holder (LostDataError, status `lost`), kept by a surviving copy.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";

import { ClosedError } from "../../../src/core/errors.js";
import { NetworkWorker } from "../../../src/worker/process.js";
import { killAll } from "../../helpers/cli.js";
import { TestCluster, countFinished, until } from "../../helpers/network.js";
import { rng } from "../../helpers/random.js";
import { blockIfPid, exitIfPid, inc, range, slowAdd, slowInc, sum } from "./tasks.js";

after(killAll);


describe("worker failure scenarios", () => {
  it("1 test_submit_after_failed_worker: results lost with a closed worker are recomputed for a later task", async () => {
    const c = await TestCluster.start({ workers: 2 });
    try {
      const L = c.client.map(inc, range(10));
      await c.client.gather(L);
      const [a, b] = c.workers;
      assert.ok(L.some((f) => c.holders(f.key).includes(a!.address)), "the closing worker holds some results");
      a!.proc.kill("SIGTERM");
      assert.equal((await a!.proc.exit()).code, 0);
      await until(() => c.server.workerAddresses.length === 1, "the scheduler removed the closed worker");
      assert.equal(await c.client.submit(sum, L).result(), 55);
      for (const f of L) assert.deepEqual(c.holders(f.key), [b!.address], `${f.key} recomputed on the survivor`);
    } finally {
      await c.close();
    }
  });

  it("2 test_broken_worker_during_computation: a nanny's worker dies twice during a 256-leaf tree reduction; the sum is right", async () => {
    const c = await TestCluster.start({ scheduler: { allowedFailures: 100 } });
    const finished = countFinished();
    try {
      const n0 = c.nanny("n0", { workerArgs: ["--validate"] });
      c.nanny("n1", { workerArgs: ["--validate"] });
      await c.client.waitForWorkers(2);
      let level = c.client.map(inc, range(256));
      while (level.length > 1) {
        const next = [];
        for (let i = 0; i < level.length; i += 2) next.push(c.client.submit(slowAdd, level[i]!, level[i + 1]!, 5));
        for (const f of level) f.release(); // only the total is held, as in Dask's test
        level = next;
      }
      const total = level[0]!;
      for (let kill = 1; kill <= 2; kill++) {
        const from = c.log.length;
        await until(() => finished.count >= 100 * kill, `${100 * kill} results reported`);
        assert.equal(total.status, "pending", "killed mid-computation");
        const pid = n0.pid!;
        await c.client.run(exitIfPid, pid).catch(() => undefined); // the dying worker never answers
        await c.logLine(/^worker n0 at \S+ removed: its connection closed/, from);
        await c.registered("n0", from); // the nanny started a new process, which registered afresh
        assert.notEqual(n0.pid, pid);
      }
      assert.equal(await total.result(), (256 * 257) / 2);
    } finally {
      finished.stop();
      await c.close();
    }
  });

  it("3 test_worker_who_has_clears_after_failed_connection: the holder of 20 inputs dies; the dependent completes and the dead address is purged", async () => {
    const c = await TestCluster.start({ workers: 2, workerArgs: ["--validate"] });
    const a = await NetworkWorker.start({ scheduler: c.server.address, name: "a", validate: true });
    try {
      await c.client.waitForWorkers(3);
      const fs = range(20).map((i) => c.client.submitWith({ key: `f${i}` }, slowInc, i, 10));
      await c.client.gather(fs);
      const first = c.client.submitWith({ workers: [a.address] }, sum, fs);
      assert.equal(await first.result(), 210);
      // The process holding most inputs (not a) exits.
      const held = (w: string): number => fs.filter((f) => c.holders(f.key).includes(w)).length;
      const victim = c.workers.reduce((x, y) => (held(x.address) >= held(y.address) ? x : y));
      assert.ok(held(victim.address) > 0);
      await c.client.run(exitIfPid, victim.proc.pid).catch(() => undefined);
      await until(() => c.server.workerAddresses.length === 2, "the dead worker is removed");
      const again = c.client.submitWith({ workers: [a.address] }, (xs: number[]) => xs.reduce((s, x) => s + x, 1000), fs);
      assert.equal(await again.result(), 1210);
      for (const ts of c.server.shell.state.tasks.values()) {
        assert.ok(![...ts.whoHas].some((w) => w.address === victim.address), `${ts.key} still lists the dead worker`);
      }
      // a keeps exactly what the scheduler says it holds: no stale inputs or transfers.
      const { tasks } = await a.snapshot();
      const mine = [...c.server.shell.state.tasks.values()].filter((ts) => [...ts.whoHas].some((w) => w.address === a.address)).map((ts) => ts.key);
      assert.deepEqual([...tasks.keys()].sort(), mine.sort());
      assert.ok([...tasks.values()].every((s) => s === "memory"));
      assert.ok(mine.includes(first.key) && mine.includes(again.key));
    } finally {
      await c.close();
      await a.close();
    }
  });

  describe("8: a worker's task table ends up empty", () => {
    /** x on process `n`, y = x + 1 on the in-process worker `a`; `n` blocks its event loop, so a's fetch of x hangs. */
    async function stuckFetch(c: TestCluster, a: NetworkWorker) {
      const n = c.workers[0]!;
      const x = c.client.submitWith({ key: "x", workers: [n.address] }, inc, 1);
      await x.result();
      const blocked = c.client.run(blockIfPid, n.proc.pid, 800).catch(() => undefined);
      await until(() => c.server.workerAddresses.length === 2, "both workers"); // (a run reached n: it is blocked now or soon)
      const y = c.client.submitWith({ key: "y", workers: [a.address] }, inc, x);
      const snap = async (): Promise<string | undefined> => (await a.snapshot()).tasks.get("x");
      const deadline = Date.now() + 5_000;
      while ((await snap()) !== "flight") {
        assert.ok(Date.now() < deadline, "a never started fetching x");
        await new Promise((r) => setTimeout(r, 5));
      }
      return { n, x, y, blocked };
    }

    async function emptied(a: NetworkWorker): Promise<void> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { tasks, data } = await a.snapshot();
        if (tasks.size === 0 && data.length === 0) return;
        assert.ok(Date.now() < deadline, `a still knows ${JSON.stringify([...tasks])}, holds ${JSON.stringify(data)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }

    it("8 test_missing_released_zombie_tasks: the peer a fetch waits on dies, everything is released", async () => {
      const c = await TestCluster.start({ workers: 1, workerArgs: ["--validate"] });
      const a = await NetworkWorker.start({ scheduler: c.server.address, name: "a", validate: true });
      try {
        await c.client.waitForWorkers(2);
        const { n, x, y } = await stuckFetch(c, a);
        n.proc.kill("SIGKILL");
        await until(() => c.server.workerAddresses.length === 1, "the dead worker is removed");
        x.release();
        y.release();
        await until(() => c.server.shell.state.tasks.size === 0, "the scheduler forgot x and y");
        await emptied(a);
      } finally {
        await c.close();
        await a.close();
      }
    });

    it("8 test_forget_data_not_supposed_to_have: a fetch that completes after its task was released leaves nothing behind", async () => {
      const c = await TestCluster.start({ workers: 1, workerArgs: ["--validate"] });
      const a = await NetworkWorker.start({ scheduler: c.server.address, name: "a", validate: true });
      try {
        await c.client.waitForWorkers(2);
        const { x, y, blocked } = await stuckFetch(c, a);
        y.release();
        x.release();
        await until(() => c.server.shell.state.tasks.size === 0, "the scheduler forgot x and y");
        await blocked; // n answers the fetch now, after the release
        await emptied(a);
        assert.equal(await c.client.submit(inc, 41).result(), 42, "both workers still work");
      } finally {
        await c.close();
        await a.close();
      }
    });
  });

  it("snapshot() asked of a worker that stops before its thread answers rejects with ClosedError instead of hanging", async () => {
    const c = await TestCluster.start();
    const a = await NetworkWorker.start({ scheduler: c.server.address, name: "a" });
    try {
      const snap = a.snapshot().then(() => "resolved", (e: unknown) => e);
      await a.close();
      const settled = await Promise.race([snap, new Promise((r) => setTimeout(() => r("pending"), 2_000))]);
      assert.ok(settled === "resolved" || settled instanceof ClosedError, String(settled));
      await assert.rejects(a.snapshot(), ClosedError);
    } finally {
      await a.close();
      await c.close();
    }
  });

  it("9 test_stress_scatter_death (without scatter): 7 worker deaths in the middle of a graph; state valid at every step", async () => {
    const c = await TestCluster.start({ scheduler: { allowedFailures: 1_000 } });
    const finished = countFinished();
    const random = rng(9);
    try {
      const nannies = ["s0", "s1", "s2"].map((name) => c.nanny(name, { workerArgs: ["--validate"], maxRestarts: 10 }));
      await c.client.waitForWorkers(3);
      const leaves = c.client.map((i: number) => i * 2, range(120));
      const mids = range(60).map((i) => c.client.submit(slowAdd, leaves[2 * i]!, leaves[2 * i + 1]!, 30));
      const total = c.client.submit(sum, mids);
      for (const f of [...leaves, ...mids]) f.release();
      // Kill a registered worker (chosen at random) every few results; its nanny brings it back.
      const up = new Set(nannies);
      let kills = 0;
      while (kills < 7 && !total.done()) {
        const target = finished.count + 2 + Math.floor(random() * 6);
        await until(() => (finished.count >= target && up.size > 0) || total.done(), "progress, and a worker up");
        if (total.done()) break;
        const victim = [...up][Math.floor(random() * up.size)]!;
        up.delete(victim);
        const from = c.log.length;
        process.kill(victim.pid!, "SIGKILL");
        kills++;
        void c.registered(victim.name, from).then(() => up.add(victim), () => undefined);
      }
      assert.equal(kills, 7, "every death happened mid-graph");
      assert.equal(await total.result(), 2 * ((119 * 120) / 2));
      total.release();
      await until(() => c.server.shell.state.tasks.size === 0, "the scheduler forgot everything");
    } finally {
      finished.stop();
      await c.close();
    }
  });
});
