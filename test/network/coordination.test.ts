/**
 * Coordination primitives: the scheduler's tables on their own (waiter
 * order, timeouts on a manual clock, lock ownership, leases given back when
 * a client leaves, what is kept and dropped), then end to end on a network
 * cluster with several clients (a scheduler and one in-process worker on
 * loopback).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { Client, Event, Future, Lock, NetworkWorker, Queue, SchedulerServer, Semaphore, Variable } from "../../src/distributed.js";
import {
  DatasetTable,
  EventTable,
  LockTable,
  QueueTable,
  SemaphoreTable,
  VariableTable,
  sharedKeys,
  type Timers,
  type ValueHooks,
} from "../../src/scheduler/coordination.js";
import { packShared, unpackShared } from "../../src/client/shared-value.js";
import type { FutureOwner } from "../../src/client/future.js";
import { ClosedError, DatasetExistsError, InvalidArgumentError, MissingKeyError, NoClientError, NotHeldError, TimeoutError, UnknownNameError } from "../../src/core/errors.js";

/** A clock that moves only when told. */
class ManualClock implements Timers {
  private now = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  start(ms: number, fn: () => void): () => void {
    const t = { at: this.now + ms, fn, live: true };
    this.timers.push(t);
    return () => {
      t.live = false;
    };
  }
  /** Move time on, firing due timers in order of their deadline. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.live && t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      due.live = false;
      this.now = due.at;
      due.fn();
    }
    this.now = until;
    this.timers = this.timers.filter((t) => t.live);
  }
  get pending(): number {
    return this.timers.filter((t) => t.live).length;
  }
}

/** Settles in a microtask or two, or not at all: what a promise has done so far. */
async function state<T>(p: Promise<T>): Promise<{ done: false } | { done: true; value: T } | { done: true; error: unknown }> {
  let out: { done: false } | { done: true; value: T } | { done: true; error: unknown } = { done: false };
  p.then(
    (value) => (out = { done: true, value }),
    (error: unknown) => (out = { done: true, error }),
  );
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return out;
}

/** Wait (bounded) until the scheduler has caught up with something that happened on another connection. */
async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for a condition");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Records hook calls. */
function recorder(): { hooks: ValueHooks; log: string[] } {
  const log: string[] = [];
  return {
    log,
    hooks: {
      handOver: (v, client, name) => log.push(`give ${String(v)} to ${client} from ${name}`),
      dropped: (v, name) => log.push(`drop ${String(v)} from ${name}`),
    },
  };
}

describe("coordination tables (no sockets)", () => {
  it("queue: items in order, waiting gets served in arrival order", async () => {
    const { hooks, log } = recorder();
    const q = new QueueTable({ hooks });
    const g1 = q.get("q", undefined, "c1");
    const g2 = q.get("q", undefined, "c2");
    const g3 = q.get("q", undefined, "c3", { batch: 2 });
    await q.put("q", undefined, "p", "a");
    await q.put("q", undefined, "p", "b");
    await q.put("q", undefined, "p", "c");
    assert.equal(await g1, "a");
    assert.equal(await g2, "b");
    assert.equal((await state(g3)).done, false, "a batch of 2 waits for its second item");
    await q.put("q", undefined, "p", "d");
    assert.deepEqual(await g3, ["c", "d"]);
    assert.deepEqual(log, ["give a to c1 from q", "drop a from q", "give b to c2 from q", "drop b from q", "give c to c3 from q", "drop c from q", "give d to c3 from q", "drop d from q"]);
    await q.put("q", undefined, "p", 1);
    await q.put("q", undefined, "p", 2);
    assert.equal(q.qsize("q"), 2);
    assert.deepEqual(await q.get("q", undefined, "c1", { batch: "all" }), [1, 2]);
    assert.deepEqual(await q.get("q", undefined, "c1", { batch: "all" }), []);
  });

  it("queue: a get behind a waiting batch waits its turn", async () => {
    const q = new QueueTable();
    const big = q.get("q", undefined, "c1", { batch: 2 });
    const small = q.get("q", undefined, "c2");
    await q.put("q", undefined, "p", "x");
    assert.equal((await state(small)).done, false, "no overtaking the batch at the head");
    await q.put("q", undefined, "p", "y");
    await q.put("q", undefined, "p", "z");
    assert.deepEqual(await big, ["x", "y"]);
    assert.equal(await small, "z");
  });

  it("queue: maxsize makes puts wait, admitted in order as room opens", async () => {
    const { hooks, log } = recorder();
    const q = new QueueTable({ hooks });
    await q.put("q", 1, "p1", "a");
    const p2 = q.put("q", 1, "p2", "b");
    const p3 = q.put("q", 1, "p3", "c");
    assert.equal((await state(p2)).done, false);
    assert.equal(q.qsize("q"), 1);
    assert.equal(await q.get("q", undefined, "c"), "a");
    await p2;
    assert.equal((await state(p3)).done, false);
    assert.equal(await q.get("q", 1, "c"), "b");
    await p3;
    assert.equal(await q.get("q", 1, "c"), "c");
    assert.deepEqual(log, ["give a to c from q", "drop a from q", "give b to c from q", "drop b from q", "give c to c from q", "drop c from q"]);
    assert.throws(() => q.get("q", 1, "c", { batch: 2, timeoutMs: 0 }), InvalidArgumentError, "a batch larger than maxsize could never be served");
  });

  it("queue: timeouts reject with TimeoutError naming the queue, and a timed-out put is dropped", async () => {
    const clock = new ManualClock();
    const { hooks, log } = recorder();
    const q = new QueueTable({ timers: clock, hooks });
    const g = q.get("jobs", undefined, "c", { timeoutMs: 50 });
    clock.advance(49);
    assert.equal((await state(g)).done, false);
    clock.advance(1);
    await assert.rejects(g, (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 50 && /Queue "jobs"/.test(e.operation) && /50 ms/.test(e.message));
    await assert.rejects(q.get("jobs", undefined, "c", { timeoutMs: 0 }), TimeoutError);
    await q.put("full", 1, "p", "a");
    const p = q.put("full", 1, "p", "b", 10);
    clock.advance(10);
    await assert.rejects(p, (e: unknown) => e instanceof TimeoutError && /put into Queue "full"/.test(e.operation));
    assert.deepEqual(log, ["drop b from full"]);
    assert.equal(q.qsize("full"), 1);
    assert.equal(clock.pending, 0);
  });

  it("queue: a departed client's gets and puts are withdrawn, so nothing is handed to it", async () => {
    const { hooks, log } = recorder();
    const q = new QueueTable({ hooks });
    const gone = q.get("q", undefined, "gone");
    const stays = q.get("q", undefined, "stays");
    q.clientLeft("gone");
    await assert.rejects(gone, ClosedError);
    await q.put("q", undefined, "p", "v");
    assert.equal(await stays, "v");
    assert.deepEqual(log, ["give v to stays from q", "drop v from q"]);
    await q.put("b", 1, "p", 1);
    const blocked = q.put("b", 1, "gone", 2);
    q.clientLeft("gone");
    await assert.rejects(blocked, ClosedError);
    assert.equal(q.qsize("b"), 1);
  });

  it("queue: maxsize is fixed while the queue lives, and forgotten with it", async () => {
    const q = new QueueTable();
    await q.put("q", 2, "p", 1);
    assert.throws(() => q.put("q", 3, "p", 2), (e: unknown) => e instanceof InvalidArgumentError && e.argument === "maxsize");
    await q.put("q", undefined, "p", 2); // a handle without maxsize does not care
    await q.get("q", undefined, "c", { batch: "all" });
    await q.put("q", 3, "p", 1); // empty and idle: forgotten, so a new maxsize is fine
  });

  it("variable: get waits until set; replace and delete drop the old value", async () => {
    const clock = new ManualClock();
    const { hooks, log } = recorder();
    const vars = new VariableTable({ timers: clock, hooks });
    const waiting = vars.get("x", "c1");
    const timed = vars.get("x", "c2", 100);
    clock.advance(100);
    await assert.rejects(timed, (e: unknown) => e instanceof TimeoutError && /Variable "x"/.test(e.operation));
    vars.set("x", 1);
    assert.equal(await waiting, 1);
    assert.equal(await vars.get("x", "c3"), 1);
    vars.set("x", 2);
    vars.delete("x");
    assert.deepEqual(log, ["give 1 to c1 from x", "give 1 to c3 from x", "drop 1 from x", "drop 2 from x"]);
    assert.throws(() => vars.delete("x"), (e: unknown) => e instanceof UnknownNameError && e.kind === "variable" && e.unknownName === "x");
    assert.throws(() => vars.delete("never"), UnknownNameError);
  });

  it("lock: one owner at a time, waiters in order, only the holder releases", async () => {
    const clock = new ManualClock();
    const locks = new LockTable({ timers: clock });
    const a = { client: "c1", instance: "a" };
    const a2 = { client: "c1", instance: "a2" };
    const b = { client: "c2", instance: "b" };
    const c = { client: "c3", instance: "c" };
    assert.equal(await locks.acquire("L", a), true);
    assert.equal(await locks.acquire("L", a2, { blocking: false }), false, "another lock object of the same client is another owner");
    const wb = locks.acquire("L", b);
    const wc = locks.acquire("L", c);
    const timed = locks.acquire("L", { client: "c4", instance: "d" }, { timeoutMs: 20 });
    clock.advance(20);
    assert.equal(await timed, false);
    assert.throws(() => locks.release("L", b), (e: unknown) => e instanceof NotHeldError && e.kind === "lock" && e.heldName === "L");
    assert.throws(() => locks.release("L", a2), NotHeldError);
    locks.release("L", a);
    assert.equal(await wb, true);
    assert.equal((await state(wc)).done, false);
    assert.deepEqual(locks.holder("L"), b);
    locks.release("L", b);
    assert.equal(await wc, true);
    locks.release("L", c);
    assert.equal(locks.locked("L"), false);
    assert.throws(() => locks.release("L", c), NotHeldError, "released twice");
    assert.throws(() => locks.acquire("L", a, { blocking: false, timeoutMs: 5 }), InvalidArgumentError);
  });

  it("lock: a departed client's lock goes to the next waiter, and its waits are withdrawn", async () => {
    const locks = new LockTable();
    await locks.acquire("L", { client: "c1", instance: "a" });
    const gone = locks.acquire("L", { client: "c9", instance: "z" });
    const next = locks.acquire("L", { client: "c2", instance: "b" });
    locks.clientLeft("c9");
    assert.equal(await gone, false);
    locks.clientLeft("c1");
    assert.equal(await next, true);
    assert.deepEqual(locks.holder("L"), { client: "c2", instance: "b" });
  });

  it("event: wait until set, false on timeout, clear makes waits wait again", async () => {
    const clock = new ManualClock();
    const events = new EventTable({ timers: clock });
    const w1 = events.wait("e", "c1");
    const w2 = events.wait("e", "c2", 30);
    clock.advance(30);
    assert.equal(await w2, false);
    assert.equal(events.isSet("e"), false);
    events.set("e");
    assert.equal(await w1, true);
    assert.equal(await events.wait("e", "c3"), true);
    events.clear("e");
    assert.equal(await events.wait("e", "c3", 0), false);
  });

  it("semaphore: at most maxLeases, waiters in order, a departed client's leases come back", async () => {
    const clock = new ManualClock();
    const sems = new SemaphoreTable({ timers: clock });
    const a = { client: "c1", instance: "a" };
    const b = { client: "c2", instance: "b" };
    assert.equal(await sems.acquire("S", 2, a), true);
    assert.equal(await sems.acquire("S", 2, a), true, "one owner may hold several leases");
    assert.equal(sems.value("S", 2), 2);
    const wb = sems.acquire("S", 2, b);
    const wt = sems.acquire("S", 2, { client: "c3", instance: "c" }, 5);
    clock.advance(5);
    assert.equal(await wt, false);
    assert.throws(() => sems.release("S", 2, b), (e: unknown) => e instanceof NotHeldError && e.kind === "semaphore");
    sems.clientLeft("c1");
    assert.equal(await wb, true);
    assert.equal(sems.value("S", 2), 1);
    assert.throws(() => sems.acquire("S", 3, b), (e: unknown) => e instanceof InvalidArgumentError && e.argument === "maxLeases");
    assert.throws(() => sems.acquire("T", 0, b), (e: unknown) => e instanceof InvalidArgumentError && e.argument === "maxLeases");
    sems.release("S", 2, b);
    assert.equal(sems.value("S", 2), 0);
  });

  it("datasets: publish once (or override), get now or wait, list, unpublish", async () => {
    const clock = new ManualClock();
    const { hooks, log } = recorder();
    const ds = new DatasetTable({ timers: clock, hooks });
    assert.throws(() => ds.get("d", "c1"), (e: unknown) => e instanceof UnknownNameError && e.kind === "dataset");
    const waiting = ds.get("d", "c1", 1000);
    const late = ds.get("never", "c1", 10);
    clock.advance(10);
    await assert.rejects(late, (e: unknown) => e instanceof TimeoutError && /dataset "never"/.test(e.operation));
    ds.publish("d", "v1");
    assert.equal(await waiting, "v1");
    assert.throws(() => ds.publish("d", "v2"), (e: unknown) => e instanceof DatasetExistsError && e.dataset === "d");
    ds.publish("d", "v2", true);
    ds.publish("e", "w");
    assert.deepEqual(ds.list(), ["d", "e"]);
    ds.unpublish("d");
    assert.throws(() => ds.unpublish("d"), UnknownNameError);
    assert.deepEqual(ds.list(), ["e"]);
    assert.deepEqual(log, ["give v1 to c1 from d", "drop v1 from d", "drop v2 from d"]);
  });

  it("bad input is refused with typed errors", () => {
    const q = new QueueTable();
    const vars = new VariableTable();
    const events = new EventTable();
    for (const t of [-1, Number.NaN, "5" as unknown as number]) {
      assert.throws(() => q.get("q", undefined, "c", { timeoutMs: t }), (e: unknown) => e instanceof InvalidArgumentError && e.argument === "timeoutMs");
      assert.throws(() => vars.get("v", "c", t), InvalidArgumentError);
      assert.throws(() => events.wait("e", "c", t), InvalidArgumentError);
    }
    assert.throws(() => q.put("", undefined, "c", 1), (e: unknown) => e instanceof InvalidArgumentError && e.argument === "name");
    assert.throws(() => q.put("q", 0, "c", 1), (e: unknown) => e instanceof InvalidArgumentError && e.argument === "maxsize");
    assert.throws(() => q.get("q", undefined, "c", { batch: 0 }), (e: unknown) => e instanceof InvalidArgumentError && e.argument === "batch");
    assert.throws(() => sharedKeys({ value: 1, futures: [[0]] }), InvalidArgumentError);
    assert.throws(() => sharedKeys("not shared"), InvalidArgumentError);
  });

  it("futures in values: packed as keys with their places, unpacked as futures, the original untouched", () => {
    const owner: FutureOwner = {
      statusOf: () => "finished",
      wait: async () => {},
      errorOf: () => undefined,
      gatherOne: async () => undefined,
      cancel: async () => {},
      retry: async () => {},
      retain: () => {},
      releaseRef: () => {},
    };
    const f = new Future("inc-1", owner);
    const g = new Future("inc-2", owner);
    const original = { a: [1, f], m: new Map<string, unknown>([["x", g], ["y", 2]]), t: new Float64Array([1]) };
    const sv = packShared(original, () => {});
    assert.ok(original.a[1] === f && original.m.get("x") === g, "the caller's value is not changed");
    assert.deepEqual(sharedKeys(sv), ["inc-1", "inc-2"]);
    assert.equal((sv.value as { t: unknown }).t, original.t, "untouched parts are shared, not copied");
    const back = unpackShared(structuredClone(sv), (k) => new Future(k, owner)) as typeof original;
    assert.ok(back.a[1] instanceof Future && (back.a[1] as Future).key === "inc-1");
    assert.equal((back.m.get("x") as Future).key, "inc-2");
    assert.deepEqual(sharedKeys(packShared(f, () => {})), ["inc-1"]);
    assert.throws(() => packShared(new Set([f]), () => {}), InvalidArgumentError);
    assert.throws(() => packShared(new Map([[f, 1]]), () => {}), InvalidArgumentError);
  });
});

describe("coordination on a network cluster", { timeout: 20_000 }, () => {
  let server: SchedulerServer;
  let worker: NetworkWorker;
  let a: Client;
  let b: Client;

  before(async () => {
    server = await SchedulerServer.start({ port: 0 });
    worker = await NetworkWorker.start({ scheduler: server.address, name: "w0", nthreads: 1 });
    a = await Client.connect(server.address, { name: "a" }); // the default client while open
    b = await Client.connect(server.address, { name: "b", setAsDefault: false });
    await a.waitForWorkers(1);
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await worker?.close();
    await server?.close();
  });

  const other = (name: string): Promise<Client> => Client.connect(server.address, { name, setAsDefault: false });

  it("a lock held by one client blocks another until released", async () => {
    const la = new Lock("shared"); // through the default client, a
    const lb = new Lock("shared", { client: b });
    assert.equal(la.client, a);
    assert.equal(await la.acquire(), true);
    assert.equal(await lb.acquire({ blocking: false }), false);
    assert.equal(await lb.acquire({ timeoutMs: 20 }), false);
    const waiting = lb.acquire();
    assert.equal(await lb.locked(), true); // a round trip behind the acquire on b's connection
    assert.equal((await state(waiting)).done, false);
    await la.release();
    assert.equal(await waiting, true);
    await assert.rejects(la.release(), NotHeldError);
    await lb.release();
    assert.equal(await la.locked(), false);
  });

  it("a lock is released when its client disconnects, and await using releases it too", async () => {
    const c = await other("c");
    const lc = new Lock("door", { client: c });
    assert.equal(await lc.acquire(), true);
    const lb = new Lock("door", { client: b });
    const waiting = lb.acquire();
    await c.close();
    assert.equal(await waiting, true);
    await lb.release();
    {
      await using held = await Lock.hold("door", { client: b });
      assert.equal(await held.locked(), true);
      await assert.rejects(Lock.hold("door", { client: a, timeoutMs: 0 }), (e: unknown) => e instanceof TimeoutError && /Lock "door"/.test(e.operation));
    }
    assert.equal(await new Lock("door", { client: a }).locked(), false);
  });

  it("a queue passes values between clients, typed arrays and futures included", async () => {
    const qa = new Queue<unknown>("pipe");
    const qb = new Queue<unknown>("pipe", { client: b });
    const waiting = qb.get();
    await qa.put({ n: 1, xs: new Float64Array([1.5, 2.5]), when: new Date(0), big: 2n ** 70n, m: new Map([["k", new Set([1])]]) });
    assert.deepEqual(await waiting, { n: 1, xs: new Float64Array([1.5, 2.5]), when: new Date(0), big: 2n ** 70n, m: new Map([["k", new Set([1])]]) });

    const f = a.submit((x: number) => x * 10, 4);
    await qa.put(f);
    f.release(); // the queue keeps the key alive
    const fb = (await qb.get()) as Future<number>;
    assert.ok(fb instanceof Future);
    assert.equal(await fb.result(), 40);
    fb.release();

    await qa.put("x");
    await qa.put("y");
    assert.equal(await qb.qsize(), 2);
    assert.deepEqual(await qb.get({ batch: true }), ["x", "y"]);
    await assert.rejects(qb.get({ timeoutMs: 20 }), (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 20);
  });

  it("a bounded queue makes put wait, and a put can time out", async () => {
    const qa = new Queue<number>("bounded", { maxsize: 1 });
    const qb = new Queue<number>("bounded", { client: b, maxsize: 1 });
    await qa.put(1);
    await assert.rejects(qa.put(2, { timeoutMs: 0 }), TimeoutError);
    const second = qa.put(3);
    assert.equal(await qb.get(), 1);
    await second;
    assert.equal(await qb.get(), 3);
  });

  it("an event wakes a waiter in another client", async () => {
    const ea = new Event("go");
    const eb = new Event("go", { client: b });
    assert.equal(await eb.wait({ timeoutMs: 20 }), false);
    const waiting = eb.wait();
    await ea.set();
    assert.equal(await waiting, true);
    assert.equal(await eb.isSet(), true);
    await ea.clear();
    assert.equal(await eb.isSet(), false);
  });

  it("a variable's get waits until another client sets it", async () => {
    const va = new Variable<{ step: number }>("progress");
    const vb = new Variable<{ step: number }>("progress", { client: b });
    await assert.rejects(vb.get({ timeoutMs: 0 }), (e: unknown) => e instanceof TimeoutError && /Variable "progress"/.test(e.operation));
    const waiting = vb.get();
    await va.set({ step: 1 });
    assert.deepEqual(await waiting, { step: 1 });
    await va.set({ step: 2 });
    assert.deepEqual(await vb.get(), { step: 2 });
    await vb.delete();
    await assert.rejects(vb.delete(), (e: unknown) => e instanceof UnknownNameError && e.kind === "variable");
  });

  it("a semaphore's leases are shared across clients and returned when a client leaves", async () => {
    const c = await other("c2");
    const sc = new Semaphore({ name: "pool", maxLeases: 2, client: c });
    const sb = new Semaphore({ name: "pool", maxLeases: 2, client: b });
    assert.equal(await sc.acquire(), true);
    assert.equal(await sc.acquire(), true);
    assert.equal(await sb.getValue(), 2);
    assert.equal(await sb.acquire({ timeoutMs: 0 }), false);
    const waiting = sb.acquire();
    await c.close();
    assert.equal(await waiting, true);
    assert.equal(await sb.getValue(), 1);
    await assert.rejects(new Semaphore({ name: "pool", maxLeases: 3, client: b }).acquire(), (e: unknown) => e instanceof InvalidArgumentError && e.argument === "maxLeases");
    await sb.release();
    await assert.rejects(sb.release(), NotHeldError);
  });

  it("datasets are shared between clients, and their futures outlive the publisher's", async () => {
    const c = await other("publisher");
    const f = c.submit((x: number) => x + 1, 41);
    await c.publishDataset("answer", { f, note: "the answer" });
    await assert.rejects(c.publishDataset("answer", 1), (e: unknown) => e instanceof DatasetExistsError && e.dataset === "answer");
    await c.close(); // the publisher leaves; the dataset keeps the key
    await until(() => !server.shell.state.clients.has(c.id));
    assert.ok(server.shell.state.tasks.has(f.key));
    assert.deepEqual(await b.listDatasets(), ["answer"]);
    const got = await b.getDataset<{ f: Future<number>; note: string }>("answer");
    assert.equal(got.note, "the answer");
    assert.equal(await got.f.result(), 42);
    await b.unpublishDataset("answer");
    assert.ok(server.shell.state.tasks.has(f.key), "b's future still holds it");
    got.f.release();
    await b.listDatasets(); // a round trip after the release
    assert.ok(!server.shell.state.tasks.has(f.key), "nobody wants it any more: forgotten");

    const waiting = a.getDataset("later", { timeoutMs: 10_000 });
    await b.publishDataset("later", [1, 2]);
    assert.deepEqual(await waiting, [1, 2]);
    await b.publishDataset("later", [3], { override: true });
    assert.deepEqual(await a.getDataset("later"), [3]);
    await a.unpublishDataset("later");
    await assert.rejects(a.getDataset("later"), UnknownNameError);
    await assert.rejects(a.unpublishDataset("later"), (e: unknown) => e instanceof UnknownNameError && e.kind === "dataset");
    await assert.rejects(a.getDataset("never", { timeoutMs: 10 }), TimeoutError);
  });

  it("a future published and released in the same breath is kept", async () => {
    const f = a.submit((x: number) => x - 1, 10);
    const published = a.publishDataset("quick", f);
    f.release();
    await published;
    const g = await b.getDataset<Future<number>>("quick");
    assert.equal(await g.result(), 9);
    await b.unpublishDataset("quick");
  });

  it("bad input gets typed errors", async () => {
    const qa = new Queue("bad");
    await assert.rejects(qa.get({ timeoutMs: -1 }), (e: unknown) => e instanceof InvalidArgumentError && e.argument === "timeoutMs");
    await assert.rejects(new Variable("bad").get({ timeoutMs: Number.NaN }), InvalidArgumentError);
    await assert.rejects(new Event("bad").wait({ timeoutMs: -5 }), InvalidArgumentError);
    await assert.rejects(new Lock("bad").acquire({ timeoutMs: 5, blocking: false }), InvalidArgumentError);
    assert.throws(() => new Semaphore({ maxLeases: 0 }), (e: unknown) => e instanceof InvalidArgumentError && e.argument === "maxLeases");
    assert.throws(() => new Queue("q", { maxsize: 0 }), InvalidArgumentError);
    assert.throws(() => new Queue(""), InvalidArgumentError);
    await assert.rejects(a.getDataset("x", { timeoutMs: -1 }), InvalidArgumentError);
    await assert.rejects(b.request("lock", { op: "acquire", name: "x" }), (e: unknown) => e instanceof InvalidArgumentError && e.argument === "instance");
    await assert.rejects(b.request("queue", { op: "teleport", name: "x" }), InvalidArgumentError);
    await assert.rejects(b.request("dataset", { op: "publish", name: "x", value: 5 }), InvalidArgumentError, "a value not in the shared form");
    await assert.rejects(b.request("dataset", { op: "publish", name: "x", value: { value: "no-such-key", futures: [[]] } }), MissingKeyError);
    assert.deepEqual(await b.listDatasets(), []);
    const f = a.submit((x: number) => x, 1);
    await assert.rejects(new Queue("q", { client: b }).put(f), InvalidArgumentError, "a future of another client");
    f.release();
    assert.ok(typeof new Queue().name === "string" && new Queue().name !== new Queue().name, "unnamed queues get random names");
  });

  it("without a client there is a clear error", async () => {
    const c = await Client.connect(server.address, { name: "default" });
    assert.equal(new Event().client, c);
    await c.close();
    assert.equal(new Event().client, a, "closing restores the previous default");
  });
});

describe("no client", () => {
  it("a primitive made with no client open is a NoClientError", () => {
    assert.throws(() => new Queue("q"), (e: unknown) => e instanceof NoClientError && e.what === "Queue");
    assert.throws(() => new Lock(), NoClientError);
  });
});
