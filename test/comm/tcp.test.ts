// The TCP comm over real sockets on 127.0.0.1: round trips, batching and
// ordering, the handshake, bad input from raw sockets (the listener must
// keep serving), connect retries and timeouts, backpressure.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { ENVELOPE, prelude, writeEnvelope } from "../../src/comm/frames.js";
import { encodeFrames } from "../../src/serialize/wire.js";
import {
  connect,
  formatAddress,
  listen,
  parseAddress,
  PROTOCOL_VERSION,
  type CommEvent,
  type TcpComm,
  type TcpListener,
} from "../../src/comm/tcp.js";
import {
  CommClosedError,
  ConnectTimeoutError,
  InvalidAddressError,
  MessageTooLargeError,
  ProtocolVersionError,
  SerializeError,
} from "../../src/core/errors.js";
import { addressOf, envelopesUntilClosed, goodbyeReason, nextClose, rawSocket, sendHello, turns } from "../helpers/comm.js";

/** An echo server: every batch is sent back, message by message. */
let echo: TcpListener;

before(async () => {
  echo = await listen({ port: 0, role: "echo", name: "echo-server" });
  echo.onConnection((comm) => comm.onMessages((batch) => batch.forEach((m) => comm.send(m))));
});
after(() => echo.close());

/** Send `msgs` in one turn and collect as many messages back. */
function exchange(comm: TcpComm, msgs: readonly unknown[]): Promise<{ got: unknown[]; batches: number }> {
  return new Promise((resolve) => {
    const got: unknown[] = [];
    let batches = 0;
    comm.onMessages((batch) => {
      batches++;
      got.push(...batch);
      if (got.length >= msgs.length) resolve({ got, batches });
    });
    for (const m of msgs) comm.send(m);
  });
}

test("addresses: tcp://host:port with IPv4, bracketed IPv6 and host names; clear errors otherwise", () => {
  assert.deepStrictEqual(parseAddress("tcp://127.0.0.1:8786"), { host: "127.0.0.1", port: 8786 });
  assert.deepStrictEqual(parseAddress("tcp://[::1]:0"), { host: "::1", port: 0 });
  assert.deepStrictEqual(parseAddress("scheduler.example:65535"), { host: "scheduler.example", port: 65535 });
  assert.deepStrictEqual(parseAddress("TCP://localhost:1"), { host: "localhost", port: 1 });
  assert.equal(formatAddress("::1", 5), "tcp://[::1]:5");
  assert.equal(formatAddress("10.0.0.1", 5), "tcp://10.0.0.1:5");
  const bad: [string, RegExp][] = [
    ["tcp://127.0.0.1", /no port/],
    ["tcp://127.0.0.1:", /port ""/],
    ["tcp://127.0.0.1:65536", /port "65536"/],
    ["tcp://127.0.0.1:-1", /port "-1"/],
    ["tcp://:8786", /no host/],
    ["tcp://::1:8786", /IPv6 address must be written in brackets/],
    ["tcp://[::1:8786", /closing bracket/],
    ["tcp://[nothost]:8786", /not an IPv6 address/],
    ["tls://127.0.0.1:8786", /scheme tls:\/\/ is not supported/],
    ["tcp://bad_host!:8786", /not an IP address or a host name/],
    ["tcp://host:80/path", /port "80\/path"/],
  ];
  for (const [address, reason] of bad) {
    assert.throws(
      () => parseAddress(address),
      (e: unknown) => e instanceof InvalidAddressError && e.address === address && reason.test(e.message),
      address,
    );
  }
});

test("IPv6 loopback and host names connect too", async (t) => {
  const { port } = parseAddress(echo.address);
  const byName = await connect(`tcp://localhost:${port}`);
  assert.deepStrictEqual((await exchange(byName, [{ via: "localhost" }])).got, [{ via: "localhost" }]);
  await byName.close();
  let v6: TcpListener;
  try {
    v6 = await listen({ host: "::1", port: 0 });
  } catch (e) {
    t.skip(`no IPv6 loopback here (${(e as Error).message})`);
    return;
  }
  assert.match(v6.address, /^tcp:\/\/\[::1\]:\d+$/);
  v6.onConnection((c) => c.onMessages((batch) => batch.forEach((m) => c.send(m))));
  const comm = await connect(v6.address);
  assert.equal(comm.peerAddress, v6.address);
  assert.deepStrictEqual((await exchange(comm, [{ via: "::1" }])).got, [{ via: "::1" }]);
  await comm.close();
  await v6.close();
});

test("the handshake tells each end who the other is", async () => {
  const comm = await connect(echo.address, { role: "client", name: "c1" });
  assert.deepStrictEqual(await comm.ready, { address: echo.address, name: "echo-server", role: "echo", version: PROTOCOL_VERSION });
  assert.equal(comm.peerAddress, echo.address);
  await comm.close();
});

test("every kind of value round-trips over a socket", async () => {
  const comm = await connect(echo.address);
  const msgs = [
    { op: "plain", a: undefined, b: null, c: -0, d: NaN, e: [Infinity, -Infinity], s: "✓ 𝄞" },
    { op: "big", n: 2n ** 100n, d: new Date(12345), r: /x+/y, err: new RangeError("r") },
    { op: "maps", m: new Map<unknown, unknown>([[1, new Set([new Float32Array([1.5])])], ["k", new Map([[null, new BigUint64Array([7n])]])]]) },
    { op: "buffers", f64: new Float64Array([1, -0, 3]), u8: new Uint8Array([255]), ab: new ArrayBuffer(3), dv: new DataView(new ArrayBuffer(9), 1, 4), buf: Buffer.from("b") },
  ];
  const { got } = await exchange(comm, msgs);
  assert.deepStrictEqual(got, msgs);
  const plain = got[0] as { c: number };
  assert.ok(Object.is(plain.c, -0));
  const b = got[3] as { f64: Float64Array; buf: Buffer };
  assert.ok(b.f64 instanceof Float64Array && Buffer.isBuffer(b.buf));
  await comm.close();
});

test("a 64 MiB Float64Array crosses intact, into memory of its own", async () => {
  const comm = await connect(echo.address);
  const n = 8 * 2 ** 20;
  const data = new Float64Array(n);
  for (let i = 0; i < n; i += 4099) data[i] = i;
  data[n - 1] = -1;
  const { got } = await exchange(comm, [{ op: "data", data }]);
  const back = (got[0] as { data: Float64Array }).data;
  assert.ok(back instanceof Float64Array);
  assert.equal(back.length, n);
  assert.equal(back.byteOffset, 0);
  assert.equal(back.buffer.byteLength, n * 8, "the received array owns exactly its bytes");
  assert.notEqual(back.buffer, data.buffer);
  assert.deepStrictEqual(back, data);
  await comm.close();
});

test("100,000 small messages sent in one turn arrive in order, in a few batches", async () => {
  const comm = await connect(echo.address);
  const msgs = Array.from({ length: 100_000 }, (_, i) => ({ op: "task-finished", key: `inc-${i}`, runId: i, nbytes: 8, duration: 1e-6 }));
  const { got, batches } = await exchange(comm, msgs);
  assert.equal(got.length, msgs.length);
  got.forEach((m, i) => assert.equal((m as { runId: number }).runId, i));
  assert.ok(batches <= 10, `${batches} batches`);
  await comm.close();
});

test("a batch over the limits is split into several envelopes, in order", async () => {
  const small = await listen({ port: 0, maxMessageBytes: 64 * 1024 });
  small.onConnection((c) => c.onMessages((batch) => batch.forEach((m) => c.send(m))));
  const comm = await connect(small.address);
  const msgs = Array.from({ length: 300 }, (_, i) => ({ i, pad: new Uint8Array(1000).fill(i % 256) }));
  const { got, batches } = await exchange(comm, msgs);
  assert.deepStrictEqual(got, msgs);
  assert.ok(batches >= 5, `${batches} batches`);
  // A buffer over the peer's envelope limit streams in parts instead of being refused.
  const big = new Uint8Array(100 * 1024).map((_, i) => i % 251);
  assert.deepStrictEqual((await exchange(comm, [{ big }])).got, [{ big }]);
  // A header over it cannot stream: refused at send(), and the comm goes on.
  assert.throws(() => comm.send({ text: "x".repeat(100 * 1024) }), (e: unknown) => e instanceof MessageTooLargeError && e.maxBytes === 64 * 1024 && e.limit === "maxMessageBytes");
  assert.throws(() => comm.send({ f: () => 1 }), SerializeError);
  const again = await exchange(comm, [{ still: "fine" }]);
  assert.deepStrictEqual(again.got, [{ still: "fine" }]);
  await comm.close();
  await small.close();
});

test("close tells the peer why; both ends see the reason; send afterwards throws CommClosedError", async () => {
  const listener = await listen({ port: 0 });
  const serverSide = new Promise<TcpComm>((resolve) => listener.onConnection(resolve));
  const comm = await connect(listener.address);
  const server = await serverSide;
  const received = new Promise<unknown[]>((resolve) => server.onMessages(resolve));
  comm.send({ last: "words" });
  await comm.close("shutting down for the test");
  assert.deepStrictEqual(await received, [{ last: "words" }], "queued messages are flushed before the goodbye");
  const mine = await comm.closed;
  assert.equal(mine.byPeer, false);
  assert.equal(mine.reason, "shutting down for the test");
  const theirs = await server.closed;
  assert.equal(theirs.byPeer, true);
  assert.equal(theirs.reason, "the peer closed the connection: shutting down for the test");
  assert.throws(() => comm.send({}), (e: unknown) => e instanceof CommClosedError && /shutting down/.test(e.message));
  await assert.rejects(comm.drained(), CommClosedError);
  await listener.close();
});

test("a peer of another protocol version: the connecting side rejects with both versions, the listener logs it", async () => {
  // A fake server that speaks version 999.
  const fake = createServer((s) => {
    s.on("error", () => undefined);
    s.on("data", () => undefined);
    sendHello(s, 999);
  });
  await new Promise<void>((r) => fake.listen(0, "127.0.0.1", r));
  const port = (fake.address() as { port: number }).port;
  const events: CommEvent[] = [];
  await assert.rejects(connect(`tcp://127.0.0.1:${port}`, { log: (e) => events.push(e) }), (e: unknown) => {
    assert.ok(e instanceof ProtocolVersionError, String(e));
    assert.equal(e.localVersion, PROTOCOL_VERSION);
    assert.equal(e.peerVersion, 999);
    assert.match(e.message, /version 999.*version 2/);
    return true;
  });
  const close = events.find((e) => e.kind === "close");
  assert.ok(close?.kind === "close" && /protocol version mismatch: this side speaks version 2, the peer speaks version 999/.test(close.reason));
  assert.ok(!events.some((e) => e.kind === "connect-retry"), "a version mismatch is not retried");
  fake.close();

  // A raw client claiming version 999 to a real listener.
  const s = await rawSocket(echo.address);
  const closed = nextClose((i) => i.peer === addressOf(s));
  const envelopes = envelopesUntilClosed(s);
  sendHello(s, 999);
  const info = await closed;
  assert.match(info.reason, /protocol version mismatch.*speaks version 999/);
  assert.ok(info.error instanceof ProtocolVersionError);
  assert.match(goodbyeReason(await envelopes) ?? "", /version mismatch/, "the peer is told why");
});

/** Bad input from raw sockets: each is closed with a published reason and the listener serves on. */
const badInputs: { what: string; send: (s: Socket) => void; reason: RegExp }[] = [
  { what: "HTTP", send: (s) => s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), reason: /protocol error: an envelope announces \d+ frames/ },
  { what: "random garbage", send: (s) => s.write(Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 0, 0, 0, 9, 9, 9, 9])), reason: /protocol error/ },
  {
    what: "a batch before the handshake",
    send: (s) => writeEnvelope(s, ENVELOPE.BATCH, encodeFrames([{ op: "x" }])),
    reason: /first message was not a handshake/,
  },
  {
    what: "a handshake that is not ours",
    send: (s) => writeEnvelope(s, ENVELOPE.HELLO, encodeFrames({ protocol: "other", version: 1 })),
    reason: /not a dask-ts handshake/,
  },
  {
    what: "an absurd frame count",
    send: (s) => {
      sendHello(s);
      const b = Buffer.alloc(8);
      b.writeUInt32LE(0xffffffff, 0);
      b.writeUInt32LE(ENVELOPE.BATCH, 4);
      s.write(b);
    },
    reason: /announces 4294967295 frames/,
  },
  {
    what: "an oversized envelope",
    send: (s) => {
      sendHello(s);
      s.write(prelude(ENVELOPE.BATCH, [new Uint8Array(10), { byteLength: 2 ** 40 } as unknown as Uint8Array]));
    },
    reason: /over the limit of 268435456 bytes/,
  },
  {
    what: "a malformed msgpack header",
    send: (s) => {
      sendHello(s);
      writeEnvelope(s, ENVELOPE.BATCH, [new Uint8Array([0x93, 0xc1, 0xc1, 0xc1])]);
    },
    reason: /malformed message header/,
  },
  {
    what: "a header that is not a batch",
    send: (s) => {
      sendHello(s);
      writeEnvelope(s, ENVELOPE.BATCH, encodeFrames({ not: "a list" }));
    },
    reason: /not an array of messages/,
  },
  {
    what: "a buffer reference to a missing frame",
    send: (s) => {
      sendHello(s);
      writeEnvelope(s, ENVELOPE.BATCH, [new Uint8Array([0x91, 0xd7, 1, 12, 0, 0, 0, 0, 0, 0, 5])]);
    },
    reason: /refers to frame 5/,
  },
  {
    what: "a second handshake",
    send: (s) => {
      sendHello(s);
      sendHello(s);
    },
    reason: /a second handshake/,
  },
];

for (const bad of badInputs) {
  test(`bad input (${bad.what}) closes that connection with a logged reason; the listener keeps serving`, async () => {
    const s = await rawSocket(echo.address);
    const closed = nextClose((i) => i.peer === addressOf(s));
    const envelopes = envelopesUntilClosed(s);
    bad.send(s);
    const info = await closed;
    assert.match(info.reason, bad.reason);
    assert.equal(info.byPeer, false);
    assert.ok(info.error instanceof Error);
    assert.equal(info.local, echo.address);
    await envelopes; // the listener ends the connection (or drops it after the grace period)
    const comm = await connect(echo.address);
    assert.deepStrictEqual((await exchange(comm, [{ op: "still-serving" }])).got, [{ op: "still-serving" }]);
    await comm.close();
  });
}

test("a truncated envelope followed by a hang-up is a close, not a crash", async () => {
  const s = await rawSocket(echo.address);
  const closed = nextClose((i) => i.peer === addressOf(s));
  sendHello(s);
  s.write(prelude(ENVELOPE.BATCH, [new Uint8Array(100)]));
  s.end(Buffer.alloc(10));
  const info = await closed;
  assert.match(info.reason, /hung up/);
  assert.equal(info.byPeer, true);
});

test("a peer that never sends its handshake is dropped after handshakeTimeoutMs", async () => {
  const listener = await listen({ port: 0, handshakeTimeoutMs: 100 });
  listener.onConnection(() => assert.fail("no connection should be handed over"));
  const s = await rawSocket(listener.address);
  s.on("data", () => undefined);
  const info = await nextClose((i) => i.peer === addressOf(s));
  assert.match(info.reason, /no handshake within 100 ms/);
  s.destroy();
  await listener.close();
});

test("a message handler that throws closes its connection with the reason, and nothing else", async () => {
  const listener = await listen({ port: 0 });
  listener.onConnection((c) =>
    c.onMessages(() => {
      throw new Error("handler bug");
    }),
  );
  const comm = await connect(listener.address);
  comm.send({ op: "boom" });
  const mine = await comm.closed;
  assert.equal(mine.reason, "the peer closed the connection: a message handler threw: handler bug");
  await listener.close();
});

test("connect retries until a listener appears on the port", async () => {
  // Find a free port, then listen on it only once the first attempt has failed.
  const probe = await listen({ port: 0 });
  const { port } = parseAddress(probe.address);
  await probe.close();
  let late: Promise<TcpListener> | undefined;
  const retries: CommEvent[] = [];
  const comm = await connect(`tcp://127.0.0.1:${port}`, {
    timeoutMs: 20_000,
    log: (e) => {
      if (e.kind !== "connect-retry") return;
      retries.push(e);
      late ??= listen({ port });
    },
  });
  assert.ok(retries.length >= 1);
  const first = retries[0]!;
  assert.ok(first.kind === "connect-retry" && /ECONNREFUSED/.test(first.error));
  assert.equal((await comm.ready).version, PROTOCOL_VERSION);
  await comm.close();
  await (await late!).close();
});

test("connect gives up after timeoutMs with a typed error naming the address and the time", async () => {
  const probe = await listen({ port: 0 });
  const address = probe.address;
  await probe.close();
  const t0 = performance.now();
  await assert.rejects(connect(address, { timeoutMs: 300, initialBackoffMs: 5 }), (e: unknown) => {
    assert.ok(e instanceof ConnectTimeoutError, String(e));
    assert.equal(e.address, address);
    assert.ok(e.elapsedMs >= 300, `${e.elapsedMs} ms`);
    assert.ok(e.attempts >= 3, `${e.attempts} attempts`);
    assert.match(e.lastError, /ECONNREFUSED/);
    assert.match(e.message, new RegExp(`Could not connect to ${address.replace(/[.[\]]/g, "\\$&")} within \\d+ ms`));
    return true;
  });
  assert.ok(performance.now() - t0 < 5_000);
  await assert.rejects(connect("tcp://127.0.0.1:0"), InvalidAddressError);
  await assert.rejects(connect("nonsense"), InvalidAddressError);
});

test("backpressure: a receiver that does not read makes drained() wait, and bufferedBytes shows the backlog", async () => {
  // A hand-made peer that completes the handshake, then stops reading.
  let peer: Socket | undefined;
  const server: Server = createServer((s) => {
    peer = s;
    s.on("error", () => undefined);
    sendHello(s);
    s.pause();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const comm = await connect(`tcp://127.0.0.1:${(server.address() as { port: number }).port}`);
  const chunk = new Uint8Array(8 * 2 ** 20);
  // Distinct buffers: the same buffer twice in a batch would be sent once.
  for (let i = 0; i < 8; i++) comm.send({ i, chunk: chunk.slice() });
  comm.flush();
  assert.ok(comm.bufferedBytes > 16 * 2 ** 20, `${comm.bufferedBytes} bytes buffered`);
  let drained = false;
  const waiting = comm.drained().then(() => (drained = true));
  await turns(20);
  assert.equal(drained, false, "drained() waits while the peer does not read");
  peer!.on("data", () => undefined);
  peer!.resume();
  await waiting;
  assert.ok(comm.bufferedBytes < 16 * 2 ** 20);

  // A sender that awaits drained() never holds more than about one message beyond the socket's buffer.
  let most = 0;
  for (let i = 0; i < 20; i++) {
    comm.send({ i, chunk });
    await comm.drained();
    most = Math.max(most, comm.bufferedBytes);
  }
  assert.ok(most <= 2 * chunk.byteLength, `at most ${most} bytes were buffered`);
  await comm.close();
  peer!.destroy();
  server.close();
});
