// The wire's value encoding: a msgpack header plus raw frames. Values come
// back as structured clone would give them; buffers are lifted out, never
// copied into the header; malformed headers only ever raise ProtocolError.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { BatchWriter, decodeFrames, encodeFrames, FrameDecoder } from "../../src/serialize/wire.js";
import { MessageTooLargeError, MissingKeyError, ProtocolError, SerializeError, TaskError } from "../../src/core/errors.js";
import { rng } from "../helpers/random.js";

const roundTrip = (v: unknown): unknown => decodeFrames(encodeFrames(v));

test("plain values round-trip as structured clone gives them", () => {
  const values: unknown[] = [
    null,
    undefined,
    true,
    false,
    0,
    1,
    -1,
    127,
    128,
    -32,
    -33,
    255,
    256,
    65535,
    65536,
    2 ** 32 - 1,
    2 ** 32,
    -(2 ** 31),
    -(2 ** 31) - 1,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
    2 ** 60,
    -(2 ** 60),
    0.1,
    -1.5e300,
    Number.MIN_VALUE,
    NaN,
    Infinity,
    -Infinity,
    "",
    "op",
    "a".repeat(31),
    "a".repeat(32),
    "b".repeat(70_000),
    "héllo wörld ✓ 𝄞 日本",
    "é".repeat(20),
    0n,
    1n,
    -1n,
    2n ** 64n,
    -(2n ** 200n) + 7n,
    new Date(0),
    new Date(1_700_000_000_123),
    /a+b/gi,
    new Map<unknown, unknown>([
      [1, "one"],
      ["k", new Set([1, undefined, null, "x"])],
      [null, new Map([[undefined, 2n]])],
    ]),
    new Set(),
    new Map(),
    [],
    {},
    [1, [2, [3, [4, []]]]],
    { a: undefined, b: null, c: { d: [undefined, null] } },
    { nested: { deeper: { list: [{ x: 1 }, { y: "2" }], date: new Date(5) } } },
    Object.create(null) as object,
  ];
  values.forEach((v, i) => assert.deepStrictEqual(roundTrip(v), structuredClone(v), `value #${i}`));
  // deepStrictEqual treats -0 and 0 as different, but spell the distinctions out.
  assert.ok(Object.is(roundTrip(-0), -0));
  assert.ok(Object.is(roundTrip(0), 0));
  assert.equal(roundTrip(undefined), undefined);
  assert.equal(roundTrip(null), null);
  const obj = roundTrip({ u: undefined, n: null }) as Record<string, unknown>;
  assert.ok("u" in obj && obj["u"] === undefined && obj["n"] === null);
  assert.ok(Object.is((roundTrip([-0]) as number[])[0], -0));
  assert.equal(typeof roundTrip(5n), "bigint");
  const invalid = roundTrip(new Date(NaN));
  assert.ok(invalid instanceof Date && Number.isNaN(invalid.getTime()));
});

test("class instances arrive as plain objects and array holes as undefined, like structured clone", () => {
  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
    norm(): number {
      return Math.hypot(this.x, this.y);
    }
  }
  assert.deepStrictEqual(roundTrip(new Point(1, 2)), { x: 1, y: 2 });
  // eslint-disable-next-line no-sparse-arrays
  assert.deepStrictEqual(roundTrip([1, , 3]), [1, undefined, 3]);
});

test("errors come back as their own classes", () => {
  const te = roundTrip(new TypeError("bad type")) as Error;
  assert.ok(te instanceof TypeError);
  assert.equal(te.message, "bad type");
  const mk = roundTrip({ e: new MissingKeyError("x", "y") }) as { e: MissingKeyError };
  assert.ok(mk.e instanceof MissingKeyError);
  assert.equal(mk.e.key, "x");
  assert.equal(mk.e.referencedBy, "y");
  const task = roundTrip(new TaskError("k", { name: "RangeError", message: "m", stack: "RangeError: m" })) as TaskError;
  assert.ok(task instanceof TaskError);
  assert.equal(task.remoteName, "RangeError");
});

test("every kind of buffer becomes its own frame and comes back as the same type and length", () => {
  const sab = new SharedArrayBuffer(6);
  new Uint8Array(sab).set([1, 2, 3, 4, 5, 6]);
  const base = new ArrayBuffer(64);
  new Uint8Array(base).forEach((_, i, a) => (a[i] = i));
  const value = {
    i8: new Int8Array([-1, 2, -3]),
    u8: new Uint8Array([1, 2, 3]),
    u8c: new Uint8ClampedArray([0, 255]),
    i16: new Int16Array([-300, 300]),
    u16: new Uint16Array([65535]),
    i32: new Int32Array([-(2 ** 31)]),
    u32: new Uint32Array([2 ** 32 - 1]),
    f32: new Float32Array([1.5, -0]),
    f64: new Float64Array([Math.PI, -0, NaN, Infinity]),
    bi64: new BigInt64Array([-(2n ** 63n), 5n]),
    bu64: new BigUint64Array([2n ** 64n - 1n]),
    // views into the middle of a larger buffer
    sub: new Float64Array(base, 8, 3),
    oddView: new Uint16Array(base, 2, 5),
    dv: new DataView(base, 3, 10),
    ab: base.slice(0, 7),
    empty: new Float64Array(0),
    emptyAb: new ArrayBuffer(0),
    buf: Buffer.from("node buffer"),
    sab,
    inMap: new Map([["x", new Float64Array([1, 2])]]),
    inSet: new Set([new Int32Array([7])]),
  };
  const frames = encodeFrames(value);
  assert.equal(frames.length, 1 + 21, "one frame per buffer, plus the header");
  const back = decodeFrames(frames) as typeof value;
  for (const [k, v] of Object.entries(value)) {
    if (v instanceof Map || v instanceof Set) continue;
    const b = (back as Record<string, unknown>)[k];
    assert.equal(Object.prototype.toString.call(b), Object.prototype.toString.call(v), k);
  }
  assert.deepStrictEqual(back.f64, value.f64);
  assert.ok(Object.is(back.f64[1], -0));
  assert.deepStrictEqual([...back.sub], [...value.sub]);
  assert.equal(back.sub.length, 3);
  assert.deepStrictEqual([...back.oddView], [...value.oddView]);
  assert.equal(back.dv.byteLength, 10);
  assert.equal(back.dv.getUint8(0), 3);
  assert.equal(back.ab.byteLength, 7);
  assert.ok(back.ab instanceof ArrayBuffer);
  assert.ok(Buffer.isBuffer(back.buf));
  assert.equal(back.buf.toString(), "node buffer");
  assert.ok(back.sab instanceof SharedArrayBuffer);
  assert.deepStrictEqual([...new Uint8Array(back.sab)], [1, 2, 3, 4, 5, 6]);
  assert.deepStrictEqual(back.bi64, value.bi64);
  assert.deepStrictEqual(back.bu64, value.bu64);
  assert.deepStrictEqual(back.inMap.get("x"), new Float64Array([1, 2]));
  assert.deepStrictEqual([...back.inSet][0], new Int32Array([7]));
  assert.equal(back.empty.length, 0);
});

test("buffers are not copied: the header stays small and frames are views of the caller's memory", () => {
  const big = new Float64Array(8 * 2 ** 20); // 64 MiB
  big[0] = 1;
  big[big.length - 1] = 2;
  const frames = encodeFrames({ op: "data", key: "x", value: big });
  assert.equal(frames.length, 2);
  assert.ok(frames[0]!.byteLength < 64, `header of ${frames[0]!.byteLength} bytes`);
  assert.equal(frames[1]!.buffer, big.buffer, "the frame is a view of the array's own buffer");
  assert.equal(frames[1]!.byteLength, big.byteLength);
  const back = decodeFrames(frames) as { value: Float64Array };
  assert.equal(back.value.buffer, big.buffer, "decoding in-process makes a view, not a copy");
  assert.equal(back.value.length, big.length);
});

test("the same buffer twice is one frame and one object, as structured clone keeps identity", () => {
  const a = new Float64Array([1, 2, 3]);
  const frames = encodeFrames({ x: a, y: [a] });
  assert.equal(frames.length, 2);
  const back = decodeFrames(frames) as { x: Float64Array; y: Float64Array[] };
  assert.equal(back.x, back.y[0]);
});

test("values that cannot be sent are refused with a path, and the batch is left as it was", () => {
  const cases: [unknown, string, RegExp][] = [
    [{ a: [1, { fn: () => 1 }] }, ".a[1].fn", /function/],
    [{ s: Symbol("x") }, ".s", /symbol/],
    [{ p: Promise.resolve(1) }, ".p", /Promise/],
    [{ m: new Map([[1, new WeakMap()]]) }, ".m<value 0>", /WeakMap/],
    [JSON.parse('{"__proto__": 1}') as unknown, "", /__proto__/],
    [{ "odd key": () => 0 }, '["odd key"]', /function/],
  ];
  for (const [value, path, reason] of cases) {
    assert.throws(
      () => encodeFrames(value),
      (e: unknown) => e instanceof SerializeError && e.path === path && reason.test(e.message),
      path,
    );
  }
  const cyclic: Record<string, unknown> = {};
  cyclic["self"] = cyclic;
  assert.throws(() => encodeFrames(cyclic), (e: unknown) => e instanceof SerializeError && /nested more than 1000/.test(e.reason) && e.path.includes("…"));

  const w = new BatchWriter();
  w.add({ op: "first", data: new Uint8Array([1]) });
  assert.throws(() => w.add({ op: "bad", data: new Uint8Array([2]), fn: () => 0 }), SerializeError);
  w.add({ op: "last", data: new Uint8Array([3]) });
  const frames = w.take()!;
  assert.equal(frames.length, 3);
  assert.deepStrictEqual(new FrameDecoder().decodeBatch(frames), [
    { op: "first", data: new Uint8Array([1]) },
    { op: "last", data: new Uint8Array([3]) },
  ]);
});

test("a batch refuses a message over the limits alone, and reports a full batch without changing it", () => {
  const w = new BatchWriter({ maxMessageBytes: 1024, maxFrames: 3 });
  assert.throws(
    () => w.add({ data: new Uint8Array(2000) }),
    (e: unknown) => e instanceof MessageTooLargeError && e.maxBytes === 1024 && e.bytes > 2000,
  );
  assert.equal(w.count, 0);
  assert.equal(w.add({ data: new Uint8Array(600) }), true);
  assert.equal(w.add({ data: new Uint8Array(600) }), false, "fits alone, not in this batch");
  assert.equal(w.count, 1);
  const first = w.take()!;
  assert.equal(first.length, 2);
  assert.equal(w.add({ data: new Uint8Array(600) }), true);
  assert.throws(() => w.add({ a: new Uint8Array(1), b: new Uint8Array(1), c: new Uint8Array(1) }), MessageTooLargeError);
  assert.equal(w.add({ a: new Uint8Array(1) }), true);
  assert.equal(w.add({ b: new Uint8Array(1) }), false, "a fourth frame would pass maxFrames");
});

test("malformed headers raise ProtocolError and nothing else", () => {
  const dec = new FrameDecoder();
  const expectProtocolError = (frames: Uint8Array[], what: string): void => {
    assert.throws(() => dec.decode(frames), (e: unknown) => e instanceof ProtocolError, what);
  };
  expectProtocolError([], "no frames");
  expectProtocolError([new Uint8Array([0xc1])], "a byte msgpack never uses");
  expectProtocolError([new Uint8Array([0x92, 0x01])], "a truncated array");
  expectProtocolError([new Uint8Array([0x01, 0x02])], "extra bytes");
  expectProtocolError([new Uint8Array([0xd4, 99, 0])], "an unknown extension type");
  const ref = (kind: number, idx: number): Uint8Array => new Uint8Array([0xd7, 1, kind, 0, 0, 0, 0, 0, 0, idx]);
  expectProtocolError([ref(12, 1)], "a reference to a frame that is not there");
  expectProtocolError([ref(12, 0)], "a reference to the header frame");
  expectProtocolError([ref(12, 1), new Uint8Array(7)], "a Float64Array frame of 7 bytes");
  expectProtocolError([ref(99, 1), new Uint8Array(8)], "an unknown buffer kind");
  expectProtocolError([new Uint8Array([0xc7, 2, 2, 0, 0x7a])], "a bigint that is not hex");
  expectProtocolError([new Uint8Array([0xd4, 4, 0])], "a Map whose payload is not msgpack");
  expectProtocolError([new Uint8Array([0x81, 0xa9, ...Buffer.from("__proto__"), 0x01])], "a __proto__ key");
  assert.throws(() => dec.decodeBatch(encodeFrames({ not: "an array" })), ProtocolError);

  // Fuzz: mutations of a valid header and random bytes either decode or raise ProtocolError.
  const valid = encodeFrames({ op: "x", m: new Map([[1, new Set([2n, new Date(3)])]]), e: new Error("e"), r: /x/g, u: undefined, f: new Float64Array(2) });
  const random = rng(42);
  for (let i = 0; i < 3000; i++) {
    let header: Uint8Array;
    if (i % 2 === 0) {
      header = valid[0]!.slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) header[Math.floor(random() * header.length)] = Math.floor(random() * 256);
    } else {
      header = new Uint8Array(1 + Math.floor(random() * 40)).map(() => Math.floor(random() * 256));
    }
    try {
      dec.decode([header, ...valid.slice(1)]);
    } catch (e) {
      assert.ok(e instanceof ProtocolError, `case ${i}: ${String(e)}`);
    }
  }
  // The decoder is still usable afterwards.
  assert.deepStrictEqual(dec.decode(encodeFrames([1, "two"])), [1, "two"]);
});
