// Request/response over a real TCP connection: replies matched by id,
// errors rebuilt as their own classes, unknown ops close the connection.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Rpc, type RpcHandler } from "../../src/comm/rpc.js";
import { connect, listen, type TcpListener } from "../../src/comm/tcp.js";
import { CommClosedError, MissingKeyError, ProtocolError, SerializeError } from "../../src/core/errors.js";
import { nextClose } from "../helpers/comm.js";

const handlers: Record<string, RpcHandler> = {
  add: (args) => {
    const [a, b] = args as [number, number];
    return a + b;
  },
  later: async (args) => {
    await new Promise((r) => setImmediate(r));
    return { echoed: args };
  },
  data: (n) => new Float64Array(n as number).fill(1.5),
  nothing: () => undefined,
  throws: () => {
    throw new TypeError("bad argument");
  },
  rejects: () => Promise.reject(new MissingKeyError("x", "y")),
  unsendable: () => ({ fn: () => 1 }),
  whoami: (_args, ctx) => ctx.peer?.name,
  callBack: async (_args, ctx) => `client says ${String(await ctx.rpc.request("hello"))}`,
  hang: () => new Promise(() => undefined),
};

let listener: TcpListener;

before(async () => {
  listener = await listen({ port: 0, role: "server" });
  listener.onConnection((comm) => new Rpc(comm, handlers));
});
after(() => listener.close());

test("requests get their own replies, however many are in flight", async () => {
  const rpc = new Rpc(await connect(listener.address, { name: "caller" }));
  assert.equal(await rpc.request("add", [1, 2]), 3);
  const replies = await Promise.all(Array.from({ length: 2000 }, (_, i) => (i % 2 === 0 ? rpc.request("add", [i, 1]) : rpc.request("later", i))));
  replies.forEach((r, i) => assert.deepStrictEqual(r, i % 2 === 0 ? i + 1 : { echoed: i }));
  assert.deepStrictEqual(await rpc.request("data", 3), new Float64Array([1.5, 1.5, 1.5]));
  assert.equal(await rpc.request("nothing"), undefined);
  assert.equal(await rpc.request("whoami"), "caller");
  assert.equal(rpc.pending, 0);
  await rpc.close();
});

test("errors cross as their own classes: thrown, rejected, and values that cannot be sent", async () => {
  const rpc = new Rpc(await connect(listener.address));
  await assert.rejects(rpc.request("throws"), (e: unknown) => e instanceof TypeError && e.message === "bad argument");
  await assert.rejects(rpc.request("rejects"), (e: unknown) => e instanceof MissingKeyError && e.key === "x" && e.referencedBy === "y");
  await assert.rejects(rpc.request("unsendable"), (e: unknown) => e instanceof SerializeError && e.path === ".fn" && /in the reply of unsendable/.test(e.message));
  // Arguments that cannot be sent fail at the caller, and the connection is fine.
  await assert.rejects(rpc.request("add", [1, Symbol("x")]), (e: unknown) => e instanceof SerializeError && e.path === "[1]" && /in the arguments of add/.test(e.message));
  assert.equal(await rpc.request("add", [2, 2]), 4);
  await rpc.close();
});

test("both ends can serve: a handler may call back the peer that asked", async () => {
  const rpc = new Rpc(await connect(listener.address), { hello: () => "hi" });
  assert.equal(await rpc.request("callBack"), "client says hi");
  await rpc.close();
});

test("an unknown op closes the connection with a logged reason; the caller learns which op", async () => {
  const comm = await connect(listener.address);
  const rpc = new Rpc(comm);
  const serverClose = nextClose((i) => i.peer === comm.localAddress);
  const hanging = rpc.request("hang");
  await assert.rejects(rpc.request("no-such-op", 1), (e: unknown) => {
    assert.ok(e instanceof CommClosedError, String(e));
    assert.match(e.reason, /the peer closed the connection: unknown op "no-such-op"/);
    return true;
  });
  await assert.rejects(hanging, CommClosedError, "every pending request fails with the close");
  const info = await serverClose;
  assert.equal(info.reason, 'unknown op "no-such-op"');
  assert.ok(info.error instanceof ProtocolError);
  // An op named like an Object.prototype member is unknown too.
  const rpc2 = new Rpc(await connect(listener.address));
  await assert.rejects(rpc2.request("toString"), /unknown op "toString"/);
  // The server still serves other connections.
  const rpc3 = new Rpc(await connect(listener.address));
  assert.equal(await rpc3.request("add", [20, 22]), 42);
  await rpc3.close();
});

test("a message that is neither request nor reply closes the connection", async () => {
  const comm = await connect(listener.address);
  new Rpc(comm);
  comm.send({ what: "is this" });
  const info = await comm.closed;
  assert.match(info.reason, /neither an rpc request nor a reply/);
});

test("a request can be abandoned with an AbortSignal; its late reply is ignored", async () => {
  const rpc = new Rpc(await connect(listener.address));
  const ac = new AbortController();
  const p = rpc.request("hang", undefined, { signal: ac.signal });
  ac.abort(new Error("gave up"));
  await assert.rejects(p, /gave up/);
  assert.equal(rpc.pending, 0);
  await assert.rejects(rpc.request("add", [1, 1], { signal: ac.signal }), /gave up/);
  assert.equal(await rpc.request("add", [1, 1]), 2);
  await rpc.close();
  await assert.rejects(rpc.request("add", [1, 1]), CommClosedError);
});
