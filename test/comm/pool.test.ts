// The connection pool over real listeners: idle connections are reused,
// the limit holds with callers waiting in order, closed connections leave.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { commPool, ConnectionPool } from "../../src/comm/pool.js";
import { Rpc } from "../../src/comm/rpc.js";
import { connect, listen, type TcpComm, type TcpListener } from "../../src/comm/tcp.js";
import { ClosedError, InvalidArgumentError } from "../../src/core/errors.js";

let a: TcpListener;
let b: TcpListener;
const serverSide: TcpComm[] = [];

before(async () => {
  a = await listen({ port: 0 });
  b = await listen({ port: 0 });
  for (const l of [a, b]) {
    l.onConnection((comm) => {
      serverSide.push(comm);
      new Rpc(comm, { where: () => l.address });
    });
  }
});
after(async () => {
  await a.close();
  await b.close();
});

/** The listener's end of a client connection (it is handed over once its own handshake is done). */
async function serverSideOf(client: TcpComm): Promise<TcpComm> {
  for (let i = 0; i < 10_000; i++) {
    const s = serverSide.find((c) => c.peerAddress === client.localAddress);
    if (s !== undefined) return s;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`the listener never handed over the connection from ${client.localAddress}`);
}

test("an idle connection is reused instead of opening another", async () => {
  const pool = commPool();
  const first = await pool.acquire(a.address);
  pool.release(first);
  assert.equal(pool.idle, 1);
  const second = await pool.acquire(a.address);
  assert.equal(second, first);
  assert.equal(pool.open, 1);
  assert.equal(pool.active, 1);
  const other = await pool.acquire(a.address);
  assert.notEqual(other, first, "a connection in use is not shared");
  assert.equal(pool.open, 2);
  pool.release(second);
  pool.release(other);
  await pool.close();
  assert.equal(pool.open, 0);
});

test("at the limit, callers wait in order and get a released connection", async () => {
  const pool = commPool({ limit: 2 });
  const c1 = await pool.acquire(a.address);
  const c2 = await pool.acquire(a.address);
  const order: string[] = [];
  const w1 = pool.acquire(a.address).then((c) => (order.push("w1"), c));
  const w2 = pool.acquire(a.address).then((c) => (order.push("w2"), c));
  assert.equal(pool.waiting, 2);
  assert.equal(pool.open, 2);
  pool.release(c2);
  assert.equal(await w1, c2);
  pool.release(c1);
  assert.equal(await w2, c1);
  assert.deepStrictEqual(order, ["w1", "w2"]);
  assert.equal(pool.open, 2, "the limit held");
  await pool.close();
});

test("at the limit, an idle connection to another address is closed to make room", async () => {
  const pool = commPool({ limit: 1 });
  const ca = await pool.acquire(a.address);
  pool.release(ca);
  const cb = await pool.acquire(b.address);
  assert.notEqual(cb, ca);
  assert.ok(ca.isClosed, "the idle connection to a was evicted");
  assert.match((await ca.closed).reason, /evicted/);
  assert.equal(pool.open, 1);
  // b is in use and the limit is 1: a caller for a waits until b's connection is released.
  const wa = pool.acquire(a.address);
  assert.equal(pool.waiting, 1);
  pool.release(cb);
  const ca2 = await wa;
  assert.equal(ca2.peerAddress, a.address);
  assert.ok(cb.isClosed);
  await pool.close();
});

test("closed connections leave the pool, in use or idle, and free their place", async () => {
  const pool = commPool({ limit: 1 });
  const c = await pool.acquire(a.address);
  const waiter = pool.acquire(b.address);
  await c.close("gone");
  const cb = await waiter; // the closed connection freed its place
  assert.equal(cb.peerAddress, b.address);
  pool.release(c); // releasing a closed connection is harmless
  assert.equal(pool.open, 1);
  pool.release(cb);
  assert.equal(pool.idle, 1);
  // The server side drops the idle connection: the pool forgets it.
  await (await serverSideOf(cb)).close("server restarts");
  await cb.closed;
  await new Promise((r) => setImmediate(r));
  assert.equal(pool.open, 0);
  assert.equal(pool.idle, 0);
  const fresh = await pool.acquire(b.address);
  assert.notEqual(fresh, cb);
  await pool.close();
});

test("a failed open frees its place and reaches only its caller", async () => {
  const probe = await listen({ port: 0 });
  const dead = probe.address;
  await probe.close();
  const pool = commPool({ limit: 1, connect: { timeoutMs: 50 } });
  await assert.rejects(pool.acquire(dead), /Could not connect/);
  assert.equal(pool.open, 0);
  const ok = await pool.acquire(a.address);
  pool.release(ok);
  await pool.close();
});

test("close() closes everything and fails waiting callers; the pool refuses afterwards", async () => {
  const pool = commPool({ limit: 1 });
  const c = await pool.acquire(a.address);
  const waiterFails = assert.rejects(pool.acquire(a.address), ClosedError);
  await pool.close();
  await waiterFails;
  assert.ok(c.isClosed);
  await assert.rejects(pool.acquire(a.address), ClosedError);
  assert.throws(() => commPool({ limit: 0 }), InvalidArgumentError);
});

test("a pool of Rpc endpoints: use() acquires, runs and releases", async () => {
  const pool = new ConnectionPool<Rpc>({ open: async (address) => new Rpc(await connect(address)), limit: 4 });
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.use(i % 2 === 0 ? a.address : b.address, (rpc) => rpc.request("where"))));
  answers.forEach((x, i) => assert.equal(x, i % 2 === 0 ? a.address : b.address));
  assert.ok(pool.open <= 4);
  assert.equal(pool.active, 0);
  await pool.close();
});
