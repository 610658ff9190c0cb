/**
 * Dask's cancellation acceptance scenarios (reference §5.2, 25–28), against
 * worker processes on loopback and a scheduler that checks its invariants
 * after every stimulus. Tasks signal through files in a temporary directory
 * (they run in other processes), so the tests wait on events, not on time.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";

import { Client } from "../../../src/client/client.js";
import type { Future } from "../../../src/client/future.js";
import { Variable } from "../../../src/client/primitives.js";
import { NetworkWorker } from "../../../src/worker/process.js";
import { CancelledError } from "../../../src/core/errors.js";
import { killAll } from "../../helpers/cli.js";
import { TestCluster, until } from "../../helpers/network.js";
import { inc, lines, logged, scratchDir } from "./tasks.js";

const path = scratchDir("cancel");
after(killAll);

/**
 * Appends a line to `log` when it starts, then waits until the file `go`
 * exists (polling), then returns x + 1: a run the test can see start and
 * let finish.
 */
const gated = async (x: number, log: string, go: string): Promise<number> => {
  const fs = await import("node:fs");
  fs.appendFileSync(log, `${x}\n`);
  while (!fs.existsSync(go)) await new Promise((r) => setTimeout(r, 5));
  return x + 1;
};


describe("cancellation scenarios", () => {
  it("25 test_cancel: cancelling x cancels its dependent y too; the scheduler forgets both", async () => {
    const c = await TestCluster.start({ workers: 1 });
    try {
      const log = path("25.log");
      const x = c.client.submit(gated, 1, log, path("25.go"));
      const y = c.client.submit(inc, x);
      await until(() => lines(log).length === 1, "x started");
      await x.cancel();
      assert.equal(x.status, "cancelled");
      assert.equal(y.status, "cancelled", "the dependent is cancelled with it");
      await assert.rejects(y.result(), CancelledError);
      await until(() => c.server.shell.state.tasks.size === 0, "the scheduler forgot x and y");
      writeFileSync(path("25.go"), ""); // let the abandoned run end
      assert.equal(await c.client.submit(inc, 41).result(), 42);
    } finally {
      await c.close();
    }
  });

  it("26 test_cancel_multi_client: a cancel in one client leaves another client's future of the same key computable; force cancels it for both", async () => {
    const c = await TestCluster.start({ workers: 1 });
    const other = await Client.connect(c.server.address, { setAsDefault: false });
    try {
      const go = path("26.go");
      const mine = c.client.submit(gated, 10, path("26.log"), go);
      const theirs = other.submit(gated, 10, path("26.log"), go);
      assert.equal(mine.key, theirs.key, "the same key, shared");
      await mine.cancel();
      assert.equal(mine.status, "cancelled");
      writeFileSync(go, "");
      assert.equal(await theirs.result(), 11);
      assert.equal(theirs.status, "finished");

      // force: the other client's future of the key is cancelled as well.
      const log = path("26-force.log");
      const a = c.client.submit(gated, 20, log, path("26-force.go"));
      const b = other.submit(gated, 20, log, path("26-force.go"));
      await until(() => lines(log).length === 1, "the shared task started");
      await a.cancel({ force: true });
      await until(() => b.status === "cancelled", "the other client's future is cancelled");
      await assert.rejects(b.result(), CancelledError);
      await until(() => !c.server.shell.state.tasks.has(a.key), "the scheduler forgot the key");
      writeFileSync(path("26-force.go"), "");
    } finally {
      await other.close();
      await c.close();
    }
  });

  it("26: a future force-cancelled while a Variable holds it comes out of the Variable cancelled; fire-and-forget of a cancelled future is a no-op", async () => {
    const c = await TestCluster.start({ workers: 1 });
    try {
      const f = c.client.submit(inc, 100);
      assert.equal(await f.result(), 101);
      const v = new Variable<Future<number>>("26-held", { client: c.client });
      await v.set(f);
      await f.cancel({ force: true });
      assert.equal(c.server.shell.state.tasks.has(f.key), false, "forced: the Variable's hold goes too");
      const got = await v.get();
      await assert.rejects(got.result(), CancelledError);
      assert.equal(got.status, "cancelled");
      // Nothing is left to keep computing: the scheduler must not take it for a broken message and drop the client.
      c.client.fireAndForget(f);
      assert.equal(await c.client.submit(inc, 41).result(), 42);
      assert.equal(c.client.status, "running");
    } finally {
      await c.close();
    }
  });

  it("27 test_abort_execution_release / _add_as_dependency: a future released while it runs is cancelled on the worker; wanted again, the run under way is reused", async () => {
    // An in-process worker (still TCP and a task thread), so the test can see its task's state.
    const c = await TestCluster.start();
    const w = await NetworkWorker.start({ scheduler: c.server.address, name: "a", validate: true });
    try {
      await c.client.waitForWorkers(1);
      const log = path("27.log");
      const go = path("27.go");
      const stateOf = async (key: string): Promise<string | undefined> => (await w.snapshot()).tasks.get(key);
      const reach = async (key: string, state: string): Promise<void> => {
        const deadline = Date.now() + 10_000;
        while ((await stateOf(key)) !== state) {
          assert.ok(Date.now() < deadline, `${key} never became ${state} on the worker`);
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      let f = c.client.submit(gated, 5, log, go);
      const key = f.key;
      await until(() => lines(log).length === 1, "the task started");
      f.release();
      await reach(key, "cancelled");
      // Wanted again while the worker still runs it (same key), also as the input of another task.
      f = c.client.submit(gated, 5, log, go);
      const g = c.client.submit(inc, f);
      await reach(key, "executing");
      writeFileSync(go, "");
      assert.equal(await f.result(), 6);
      assert.equal(await g.result(), 7);
      assert.deepEqual(lines(log), ["5"], "it ran once");
    } finally {
      await c.close();
      await w.close();
    }
  });

  it("28 test_stop_doing_unnecessary_work: dropping 1,000 futures stops the work", async () => {
    const c = await TestCluster.start({ workers: 1 });
    try {
      const log = path("28.log");
      const fs = Array.from({ length: 1_000 }, (_, i) => c.client.submit(logged, i, String(i), log, 5));
      await until(() => lines(log).length >= 10, "some tasks ran");
      for (const f of fs) f.release();
      await until(() => c.server.shell.state.tasks.size === 0, "the scheduler forgot them all");
      const ran = lines(log).length;
      assert.ok(ran < 100, `${ran} of 1,000 tasks ran`);
    } finally {
      await c.close();
    }
  });

  it("28 test_fire_and_forget_err: an erred fire-and-forget task is forgotten", async () => {
    const c = await TestCluster.start({ workers: 1 });
    try {
      const f = c.client.submit((x: number) => {
        throw new Error(`no ${x}`);
      }, 1);
      const key = f.key;
      c.client.fireAndForget(f);
      f.release();
      await until(() => !c.server.shell.state.tasks.has(key), "the erred task is forgotten", 1_000);
    } finally {
      await c.close();
    }
  });
});
