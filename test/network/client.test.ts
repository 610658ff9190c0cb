/**
 * The futures API of `Client` on a network cluster started by
 * `Client.connect()` itself: submit, map, gather, scatter, cancel, errors,
 * asCompleted, wait, fireAndForget, run, being the default scheduler of
 * collections while open, and the bad paths.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { Client, Future, asCompleted, wait } from "../../src/distributed.js";
import * as db from "../../src/bag.js";
import { delayed } from "../../src/index.js";
import { CancelledError, ClosedError, ClosureError, InvalidArgumentError, TaskError } from "../../src/core/errors.js";

let client: Client;
before(async () => {
  client = await Client.connect({ workers: 2, processes: false });
});
after(async () => {
  await client?.close();
});

const inc = (x: number): number => x + 1;
const sleepThen = async (x: number, ms: number): Promise<number> => {
  await new Promise((r) => setTimeout(r, ms));
  return x;
};

describe("Client futures", () => {
  it("submit, map and gather; futures as arguments, also inside arrays and objects", async () => {
    const a = client.submit(inc, 1);
    assert.ok(a instanceof Future);
    assert.equal(await a.result(), 2);
    const fs = client.map(inc, [1, 2, 3]);
    assert.deepEqual(await client.gather(fs), [2, 3, 4]);
    const total = client.submit((xs: number[]) => xs.reduce((s, x) => s + x, 0), fs);
    assert.equal(await total.result(), 9);
    const obj = client.submit((o: { a: number; b: number[] }) => o.a + o.b.length, { a: a as unknown as number, b: fs as unknown as number[] });
    assert.equal(await obj.result(), 5);
    assert.equal(a.status, "finished");
    assert.ok(a.done());
  });

  it("pure submits share a key; pure: false and explicit keys do not", async () => {
    assert.equal(client.submit(inc, 41).key, client.submit(inc, 41).key);
    assert.notEqual(client.submitWith({ pure: false }, inc, 41).key, client.submitWith({ pure: false }, inc, 41).key);
    const named = client.submitWith({ key: "the-answer" }, inc, 41);
    assert.equal(named.key, "the-answer");
    assert.equal(await named.result(), 42);
    const keyed = client.map(inc, [1, 2], { keys: ["k-one", "k-two"] });
    assert.deepEqual(keyed.map((f) => f.key), ["k-one", "k-two"]);
  });

  it("scatter puts values on the cluster; typed arrays survive", async () => {
    const [table, arr] = await client.scatter([{ a: 1, b: 2 }, new Float64Array([1.5, 2.5])] as const);
    const sum = client.submit((t: { a: number; b: number }, xs: Float64Array) => t.a + t.b + xs[0]! + xs[1]!, table as Future<{ a: number; b: number }>, arr as Future<Float64Array>);
    assert.equal(await sum.result(), 7);
    const back = await (arr as Future<Float64Array>).result();
    assert.ok(back instanceof Float64Array);
  });

  it("a failing task: exception(), result() rejects with TaskError, dependents fail too", async () => {
    const bad = client.submit((x: number) => {
      throw new RangeError(`bad ${x}`);
    }, 3);
    const err = await bad.exception();
    assert.ok(err instanceof TaskError);
    assert.match(err.message, /RangeError: bad 3/);
    assert.equal(bad.status, "error");
    await assert.rejects(bad.result(), TaskError);
    const after = client.submit(inc, bad);
    await assert.rejects(after.result(), /bad 3/);
  });

  it("cancel: the future rejects with CancelledError", async () => {
    const slow = client.submitWith({ pure: false }, sleepThen, 1, 500);
    await slow.cancel();
    assert.equal(slow.status, "cancelled");
    await assert.rejects(slow.result(), CancelledError);
    // A task that needs a cancelled future could never run: refused at submit.
    assert.throws(() => client.submit((x: number) => x + 1, slow), (e: unknown) => e instanceof CancelledError && e.key === slow.key);
  });

  it("asCompleted yields futures in the order they finish", async () => {
    const done = client.submit(inc, 99);
    await done.result();
    const fs = [300, 10].map((ms) => client.submitWith({ pure: false }, sleepThen, ms, ms));
    const order: number[] = [];
    for await (const f of asCompleted([...fs, done])) order.push(await f.result());
    assert.deepEqual(order, [100, 10, 300]);
  });

  it("wait: all, the first, and a timeout", async () => {
    const quick = client.submitWith({ pure: false }, sleepThen, 1, 5);
    const slow = client.submitWith({ pure: false }, sleepThen, 2, 1_000);
    const first = await wait([quick, slow], { returnWhen: "FIRST_COMPLETED" });
    assert.deepEqual(first.done, [quick]);
    const timed = await wait([quick, slow], { timeoutMs: 50 });
    assert.deepEqual(timed.notDone, [slow]);
    await slow.cancel();
    const all = await wait([quick, slow]);
    assert.equal(all.done.length, 2);
    await assert.rejects(wait([quick], { timeoutMs: -1 }), InvalidArgumentError);
  });

  it("fireAndForget keeps a task running after its future is released", async () => {
    const state = (client as unknown as { owned: { server: { shell: { state: { tasks: Map<string, unknown> } } } } }).owned.server.shell.state;
    const f = client.submitWith({ pure: false }, sleepThen, 5, 300);
    const key = f.key;
    client.fireAndForget(f);
    f.release();
    // Released by this client, still wanted until it finishes...
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(state.tasks.has(key), "the task is still there");
    for (let i = 0; i < 1_000 && state.tasks.has(key); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(!state.tasks.has(key), "and forgotten once done");
  });

  it("run calls a function in every worker process", async () => {
    const pids = await client.run(() => process.pid);
    assert.equal(Object.keys(pids).length, 2);
    for (const [address, pid] of Object.entries(pids)) {
      assert.match(address, /^tcp:\/\//);
      assert.equal(typeof pid, "number");
    }
    const sums = await client.run((a: number, b: number) => a + b, 2, 3);
    assert.deepEqual(Object.values(sums), [5, 5]);
    await assert.rejects(
      client.run(() => {
        throw new Error("nope");
      }),
      /nope/,
    );
  });

  it("while open it is the default scheduler of collections", async () => {
    const add = delayed((x: number, y: number) => x + y);
    assert.equal(await add(1, 2).compute(), 3);
    assert.equal(await db.fromSequence([1, 2, 3, 4], { npartitions: 2 }).map((x) => x * 10).sum().compute(), 100);
    const kept = await delayed((x: number) => x * 2)(21).persist();
    assert.equal(await delayed((x: number) => x + 0)(kept).compute(), 42);
  });

  it("bad input is refused before anything is sent", () => {
    const k = 3;
    assert.throws(() => client.submit((x: number) => x * k, 1), ClosureError);
    assert.throws(() => client.submitWith({ prioirty: 1 } as never, inc, 1), /Unknown submit option "prioirty"/);
    assert.throws(() => client.map(inc, [1, 2], { keys: ["only-one"] }), InvalidArgumentError);
    assert.throws(() => client.submit(42 as unknown as () => number), InvalidArgumentError);
  });

  it("a closed client refuses work with ClosedError", async () => {
    const other = await Client.connect(client.address, { setAsDefault: false });
    const f = other.submit(inc, 1);
    assert.equal(await f.result(), 2);
    await other.close();
    assert.throws(() => other.submit(inc, 2), ClosedError);
    await assert.rejects(other.gather([f]), ClosedError);
  });
});

describe("Client.connect() with worker processes", () => {
  it("starts a scheduler here and worker processes, and closes them", async () => {
    const local = await Client.connect({ workers: 2, setAsDefault: false });
    try {
      assert.equal(local.workers, 2);
      const pids = await local.run(() => process.pid);
      assert.equal(Object.keys(pids).length, 2);
      for (const pid of Object.values(pids)) assert.notEqual(pid, process.pid);
      assert.deepEqual(await local.gather(local.map((x: number) => x * x, [1, 2, 3])), [1, 4, 9]);
      // restart: fresh worker processes (their nannies start them), every future cancelled.
      const held = local.submit((x: number) => x + 1, 1);
      await held.result();
      assert.equal(await local.restart(), 2);
      assert.equal(held.status, "cancelled");
      const fresh = await local.run(() => process.pid);
      assert.equal(Object.keys(fresh).length, 2);
      for (const pid of Object.values(fresh)) assert.ok(!Object.values(pids).includes(pid), "every worker is a new process");
      assert.equal(await local.submit((x: number) => x * 3, 14).result(), 42);
    } finally {
      await local.close();
    }
  });
});

describe("Client.connect() with workers in this process", () => {
  it("restart replaces each worker with a fresh one", async () => {
    const local = await Client.connect({ workers: 2, processes: false, setAsDefault: false });
    try {
      const before = Object.keys(await local.run(() => 0)).sort();
      assert.equal(await local.restart(), 2);
      const after = Object.keys(await local.run(() => 0)).sort();
      assert.equal(after.length, 2);
      assert.ok(after.every((a) => !before.includes(a)), "new workers, at new addresses");
      assert.equal(await local.submit((x: number) => x + 1, 1).result(), 2);
    } finally {
      await local.close();
    }
  });
});
