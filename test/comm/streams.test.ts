// Streamed buffers (envelope kinds 4 and 5): how a big buffer is cut into
// parts and put back together, the limits a receiver checks before it
// allocates, order with the batches around a stream, backpressure, and a
// 2 GiB Float64Array through one loopback connection.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ENVELOPE, EnvelopeReader, prelude, writeEnvelope, writePart, writeStreamedBatch, type EnvelopeKind } from "../../src/comm/frames.js";
import { BatchWriter, DEFAULT_MAX_VALUE_BYTES, FrameDecoder, encodeFrames } from "../../src/serialize/wire.js";
import { connect, listen, type TcpComm } from "../../src/comm/tcp.js";
import { MessageTooLargeError } from "../../src/core/errors.js";
import { addressOf, envelopesUntilClosed, goodbyeReason, nextClose, rawSocket, sendHello } from "../helpers/comm.js";

const LIMITS = { maxMessageBytes: 1 << 16, maxFrames: 64, maxValueBytes: 1 << 24 };

/** The bytes a comm would write for one batch, parts of `part` bytes. */
function wireBytes(messages: unknown[], part: number): Buffer {
  const w = new BatchWriter(LIMITS, { partBytes: part });
  for (const m of messages) assert.ok(w.add(m));
  const { frames, streamed } = w.takeBatch()!;
  const out: Uint8Array[] = [];
  const sink = { cork() {}, uncork() {}, write: (c: Uint8Array) => (out.push(Buffer.from(c)), true) };
  if (streamed.length === 0) writeEnvelope(sink, ENVELOPE.BATCH, frames);
  else {
    writeStreamedBatch(sink, frames, streamed);
    for (const i of streamed) for (let off = 0; off < frames[i]!.byteLength; off += part) writePart(sink, frames[i]!.subarray(off, off + part));
  }
  return Buffer.concat(out);
}

test("a streamed batch reads back the same in one chunk, byte by byte and in random chunks, into memory of its own", () => {
  const big = new Float64Array(10_000).map((_, i) => i * 1.5); // 80,000 bytes: streamed in parts of 4,096
  const small = new Uint8Array([1, 2, 3]);
  const messages = [{ op: "a", big, small }, { op: "b", again: big, other: new Int32Array(2000).fill(-7) }];
  const bytes = wireBytes(messages, 4096);
  for (const chunking of ["one", "bytes", "random"] as const) {
    const got: { kind: EnvelopeKind; frames: Uint8Array[] }[] = [];
    const r = new EnvelopeReader(LIMITS, (kind, frames) => got.push({ kind, frames }));
    if (chunking === "one") r.push(bytes);
    else if (chunking === "bytes") for (let i = 0; i < bytes.length; i++) r.push(bytes.subarray(i, i + 1));
    else for (let i = 0; i < bytes.length; ) {
      const n = 1 + Math.floor(Math.random() * 9000);
      r.push(bytes.subarray(i, i + n));
      i += n;
    }
    assert.equal(got.length, 1, chunking);
    assert.equal(got[0]!.kind, ENVELOPE.BATCH);
    assert.equal(r.streaming, false);
    const batch = new FrameDecoder().decodeBatch(got[0]!.frames) as typeof messages;
    assert.deepStrictEqual(batch, messages);
    const b = (batch[0] as { big: Float64Array }).big;
    assert.equal(b.byteOffset, 0);
    assert.equal(b.buffer.byteLength, big.byteLength, "the streamed buffer got memory of exactly its size");
    assert.equal((batch[1] as { again: Float64Array }).again, b, "the same buffer twice is one stream");
  }
});

test("the writer streams only big buffers, and whole messages over maxValueBytes are refused at add()", () => {
  const w = new BatchWriter(LIMITS, { partBytes: 1000 });
  w.add({ a: new Uint8Array(1000), b: new Uint8Array(1001) });
  const { frames, streamed } = w.takeBatch()!;
  assert.equal(frames.length, 3);
  assert.deepStrictEqual(streamed, [2]);
  // Without maxValueBytes (encodeFrames, the hello) nothing streams.
  assert.equal(encodeFrames({ x: new Uint8Array(5000) }).length, 2);
  assert.throws(
    () => w.add({ x: new Uint8Array(LIMITS.maxValueBytes + 1) }),
    (e: unknown) => e instanceof MessageTooLargeError && e.limit === "maxValueBytes" && e.maxBytes === LIMITS.maxValueBytes && /maxValueBytes/.test(e.message),
  );
  assert.equal(w.count, 0, "the refused message left the batch as it was");
});

test("bad streams are refused before anything is allocated for them", () => {
  const header = encodeFrames([{ x: 1 }])[0]!;
  const declare = (len: number): Buffer => {
    const p = prelude(ENVELOPE.STREAMED_BATCH, [header, new Uint8Array(0)], [1]);
    p.writeUInt32LE(len % 2 ** 32, 16);
    p.writeUInt32LE(Math.floor(len / 2 ** 32) + 0x80000000, 20);
    return Buffer.concat([p, header]);
  };
  const part = (n: number): Buffer => Buffer.concat([prelude(ENVELOPE.PART, [new Uint8Array(n)]), Buffer.alloc(n)]);
  const cases: [string, Buffer[], RegExp][] = [
    ["over maxValueBytes", [declare(LIMITS.maxValueBytes + 1)], /over the limit of 16777216/],
    ["a part with no stream", [part(10)], /no stream open/],
    ["a part longer than the stream", [declare(100), part(101)], /a part of 101 bytes where the stream has 100/],
    ["a batch in the middle of a stream", [declare(100), part(50), Buffer.concat([prelude(ENVELOPE.BATCH, [header]), header])], /before the last part/],
  ];
  for (const [what, chunks, reason] of cases) {
    const r = new EnvelopeReader(LIMITS, () => assert.fail(`${what}: nothing is delivered`));
    assert.throws(() => chunks.forEach((c) => r.push(c)), (e: unknown) => reason.test((e as Error).message), what);
  }
  // A receiver that does not accept streams at all (no maxValueBytes) says so.
  const plain = new EnvelopeReader({ maxMessageBytes: 1 << 16, maxFrames: 64 }, () => undefined);
  assert.throws(() => plain.push(declare(10)), /does not accept streams/);
  // A goodbye may end a stream early: the batch is dropped, the goodbye delivered.
  const kinds: EnvelopeKind[] = [];
  const r = new EnvelopeReader(LIMITS, (kind) => kinds.push(kind));
  const bye = encodeFrames({ reason: "stopping" });
  r.push(Buffer.concat([declare(100), part(10), prelude(ENVELOPE.GOODBYE, bye), ...bye]));
  assert.deepStrictEqual(kinds, [ENVELOPE.GOODBYE]);
});

test("a stream over the receiver's maxValueBytes closes the connection with the reason; the hello tells the sender, which refuses first", async () => {
  const listener = await listen({ port: 0, maxValueBytes: 1 << 20 });
  const accepted = new Promise<TcpComm>((resolve) => listener.onConnection(resolve));
  // A comm learns the smaller limit in the handshake and refuses at send().
  const comm = await connect(listener.address, { partBytes: 1024 });
  await accepted;
  assert.equal(comm.sendLimits.maxValueBytes, 1 << 20);
  assert.throws(() => comm.send({ x: new Uint8Array((1 << 20) + 1) }), (e: unknown) => e instanceof MessageTooLargeError && e.limit === "maxValueBytes");
  // A raw peer that ignores the hello is cut off when it declares too much.
  const raw = await rawSocket(listener.address);
  const closed = nextClose((i) => i.peer === addressOf(raw));
  const seen = envelopesUntilClosed(raw);
  sendHello(raw);
  const header = encodeFrames([{ x: 1 }])[0]!;
  const p = prelude(ENVELOPE.STREAMED_BATCH, [header, new Uint8Array((1 << 20) + 1)], [1]);
  raw.write(Buffer.concat([p, header]));
  assert.match((await closed).reason, /over the limit of 1048576/);
  assert.match(goodbyeReason(await seen) ?? "", /over the limit/);
  await comm.close();
  await listener.close();
});

test("batches before, between and after streams arrive in order; bufferedBytes counts a stream until the socket has it", async () => {
  const listener = await listen({ port: 0 });
  const server = new Promise<TcpComm>((resolve) => listener.onConnection(resolve));
  const comm = await connect(listener.address, { partBytes: 1 << 16, highWaterMark: 1 << 16 });
  const s = await server;
  const got: unknown[] = [];
  const all = new Promise<void>((resolve) => s.onMessages((b) => (got.push(...b), got.length === 5 && resolve())));
  const big = new Uint8Array(8 << 20).map((_, i) => i % 253);
  comm.send({ i: 0 });
  comm.flush();
  comm.send({ i: 1, big });
  comm.flush();
  comm.send({ i: 2 });
  comm.flush();
  assert.ok(comm.bufferedBytes > 4 << 20, `${comm.bufferedBytes} bytes buffered while the stream is sent`);
  assert.ok(comm.needsDrain);
  comm.send({ i: 3, big: big.subarray(1) });
  comm.send({ i: 4 });
  await comm.drained();
  assert.ok(comm.bufferedBytes <= 1 << 16, `drained() waits until at most highWaterMark is buffered (${comm.bufferedBytes})`);
  await all;
  assert.deepStrictEqual(got.map((m) => (m as { i: number }).i), [0, 1, 2, 3, 4]);
  assert.deepStrictEqual((got[1] as { big: Uint8Array }).big, big);
  assert.deepStrictEqual((got[3] as { big: Uint8Array }).big, big.subarray(1));
  await comm.close();
  await listener.close();
});

test("parts are never larger than the peer's maxMessageBytes allows", async () => {
  const listener = await listen({ port: 0, maxMessageBytes: 4096 });
  const server = new Promise<TcpComm>((resolve) => listener.onConnection(resolve));
  const comm = await connect(listener.address, { partBytes: 1 << 20 });
  const s = await server;
  const big = new Uint16Array(50_000).map((_, i) => i);
  const got = new Promise<unknown[]>((resolve) => s.onMessages(resolve));
  comm.send({ big });
  assert.deepStrictEqual(await got, [{ big }]);
  await comm.close();
  await listener.close();
});

test("destroy() drops a connection mid-stream: the receiver closes cleanly, nothing is delivered", async () => {
  const listener = await listen({ port: 0 });
  const server = new Promise<TcpComm>((resolve) => listener.onConnection(resolve));
  const comm = await connect(listener.address);
  const s = await server;
  let delivered = false;
  s.onMessages(() => (delivered = true));
  comm.send({ big: new Uint8Array(256 << 20) });
  comm.flush();
  // Cut once the receiver has some of it.
  await new Promise<void>((resolve) => {
    const t = setInterval(() => s.bytesReceived > 16 << 20 && (clearInterval(t), resolve()), 1);
  });
  comm.destroy("cut for the test");
  assert.equal((await comm.closed).reason, "cut for the test");
  const info = await s.closed;
  assert.equal(info.byPeer, true);
  assert.equal(delivered, false);
  await listener.close();
});

test("a 2 GiB Float64Array crosses one loopback connection", { timeout: 120_000 }, async () => {
  assert.ok(DEFAULT_MAX_VALUE_BYTES >= 2 ** 31);
  const listener = await listen({ port: 0 });
  const server = new Promise<TcpComm>((resolve) => listener.onConnection(resolve));
  const comm = await connect(listener.address);
  const s = await server;
  let x: Float64Array | undefined = new Float64Array(2 ** 28);
  for (let i = 0; i < x.length; i += 4096) x[i] = i;
  x[x.length - 1] = -1;
  const got = new Promise<unknown[]>((resolve) => s.onMessages(resolve));
  comm.send({ x });
  x = undefined; // the comm holds it until sent
  const [m] = (await got) as [{ x: Float64Array }];
  assert.equal(m.x.length, 2 ** 28);
  assert.equal(m.x.byteOffset, 0);
  for (let i = 0; i < m.x.length - 1; i += 4096) if (m.x[i] !== i) assert.fail(`element ${i} is ${m.x[i]}`);
  assert.equal(m.x[2 ** 28 - 1], -1);
  await comm.close();
  await listener.close();
});
