// The envelope reader: any chunking of the byte stream gives the same
// envelopes; limits are checked from the prelude, before frames are read;
// buffer frames get memory of their own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ENVELOPE, EnvelopeReader, prelude, type EnvelopeKind } from "../../src/comm/frames.js";
import { BatchWriter, DEFAULT_LIMITS, FrameDecoder, type WireLimits } from "../../src/serialize/wire.js";
import { ProtocolError } from "../../src/core/errors.js";
import { rng } from "../helpers/random.js";

/** The bytes of one envelope, as a socket would carry them. */
function envelope(kind: EnvelopeKind, frames: readonly Uint8Array[]): Buffer {
  return Buffer.concat([prelude(kind, frames), ...frames]);
}

function batch(msgs: readonly unknown[]): Uint8Array[] {
  const w = new BatchWriter();
  for (const m of msgs) assert.ok(w.add(m));
  return w.take()!;
}

const batches: unknown[][] = [
  [{ op: "a", x: 1 }],
  [{ op: "b", data: new Float64Array([1, 2, 3]), more: new Uint8Array(0) }, { op: "c", s: "é".repeat(100) }],
  Array.from({ length: 50 }, (_, i) => ({ op: "many", i, arr: new Int16Array([i, -i]) })),
  [{ op: "big", data: new Float64Array(20_000).map((_, i) => i * 0.5) }],
];
const stream = Buffer.concat(batches.map((b) => envelope(ENVELOPE.BATCH, batch(b))));

function readAll(chunks: Iterable<Uint8Array>, limits: WireLimits = DEFAULT_LIMITS): { kind: EnvelopeKind; frames: Uint8Array[] }[] {
  const out: { kind: EnvelopeKind; frames: Uint8Array[] }[] = [];
  const r = new EnvelopeReader(limits, (kind, frames) => out.push({ kind, frames }));
  for (const c of chunks) r.push(c);
  assert.equal(r.buffered, 0, "nothing left over");
  return out;
}

function decodeAll(envs: { frames: Uint8Array[] }[]): unknown[][] {
  const dec = new FrameDecoder();
  return envs.map((e) => dec.decodeBatch(e.frames));
}

test("one chunk, byte by byte and random chunkings all give the same batches", () => {
  assert.deepStrictEqual(decodeAll(readAll([stream])), batches);
  function* bytes(): Generator<Uint8Array> {
    for (let i = 0; i < stream.length; i++) yield stream.subarray(i, i + 1);
  }
  assert.deepStrictEqual(decodeAll(readAll(bytes())), batches);
  for (let seed = 1; seed <= 20; seed++) {
    const random = rng(seed);
    const chunks: Uint8Array[] = [];
    for (let off = 0; off < stream.length; ) {
      const n = 1 + Math.floor(random() ** 3 * 70_000);
      chunks.push(stream.subarray(off, off + n));
      off += n;
    }
    assert.deepStrictEqual(decodeAll(readAll(chunks)), batches, `seed ${seed}`);
  }
});

test("a buffer frame gets an allocation of exactly its size, however it was chunked", () => {
  const envs = readAll(Array.from({ length: Math.ceil(stream.length / 1000) }, (_, i) => stream.subarray(i * 1000, (i + 1) * 1000)));
  const big = decodeAll(envs)[3]![0] as { data: Float64Array };
  assert.equal(big.data.byteOffset, 0);
  assert.equal(big.data.buffer.byteLength, 20_000 * 8);
  assert.equal(big.data[19_999], 19_999 * 0.5);
  for (const e of envs) for (const f of e.frames.slice(1)) if (f.byteLength > 0) assert.equal(f.buffer.byteLength, f.byteLength);
});

test("kinds are kept and empty frames complete without data", () => {
  const frames = [batch([{ e: new ArrayBuffer(0) }])[0]!, new Uint8Array(0)];
  const s = Buffer.concat([envelope(ENVELOPE.HELLO, frames), envelope(ENVELOPE.GOODBYE, frames)]);
  const envs = readAll([s]);
  assert.deepStrictEqual(
    envs.map((e) => e.kind),
    [ENVELOPE.HELLO, ENVELOPE.GOODBYE],
  );
  assert.equal(envs[0]!.frames[1]!.byteLength, 0);
});

test("bad preludes are refused as soon as they are read, before any frame is buffered", () => {
  const limits = { maxMessageBytes: 1 << 20, maxFrames: 16 };
  const fixed = (count: number, kind: number): Buffer => {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(count, 0);
    b.writeUInt32LE(kind, 4);
    return b;
  };
  const lengths = (...ls: number[]): Buffer => {
    const b = Buffer.alloc(8 * ls.length);
    ls.forEach((l, i) => {
      b.writeUInt32LE(l % 2 ** 32, 8 * i);
      b.writeUInt32LE(Math.floor(l / 2 ** 32), 8 * i + 4);
    });
    return b;
  };
  const cases: [string, Buffer, RegExp][] = [
    ["zero frames", fixed(0, 2), /announces 0 frames/],
    ["too many frames", fixed(17, 2), /announces 17 frames/],
    ["HTTP instead of the protocol", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), /frames/],
    ["an unknown kind", fixed(1, 9), /unknown envelope kind 9/],
    ["a frame over the limit", Buffer.concat([fixed(2, 2), lengths(10, 2 ** 20)]), /over the limit/],
    ["an absurd 64-bit length", Buffer.concat([fixed(1, 2), lengths(2 ** 52)]), /over the limit/],
    ["an empty header", Buffer.concat([fixed(1, 2), lengths(0)]), /empty header/],
  ];
  for (const [what, bytes, reason] of cases) {
    const r = new EnvelopeReader(limits, () => assert.fail("no envelope expected"));
    assert.throws(
      () => r.push(bytes),
      (e: unknown) => e instanceof ProtocolError && reason.test(e.reason),
      what,
    );
  }
});

test("an exception from the envelope callback reaches the caller of push", () => {
  const r = new EnvelopeReader(DEFAULT_LIMITS, () => {
    throw new ProtocolError("", "bad header");
  });
  assert.throws(() => r.push(stream), ProtocolError);
});

test("after stop() the reader ignores whatever follows", () => {
  let n = 0;
  const r = new EnvelopeReader(DEFAULT_LIMITS, () => {
    n++;
    r.stop();
  });
  r.push(stream);
  assert.equal(n, 1);
  r.push(Buffer.from("garbage that would otherwise be refused"));
  assert.equal(n, 1);
});
