/**
 * Values as a small msgpack header plus raw binary frames: the body of every
 * message that crosses a socket.
 *
 * Policy:
 * - **Buffers are never copied into the header.** Every `ArrayBuffer`,
 *   `SharedArrayBuffer`, typed array, `DataView` and Node `Buffer` inside a
 *   value becomes a frame of its own: a byte view of the caller's memory,
 *   handed to the socket as it is (so a buffer must not be changed until the
 *   connection has drained). The header keeps only a 10-byte reference to
 *   it (kind + frame index), and decoding rebuilds the same type over the
 *   frame's bytes. The same buffer object twice in a batch is one frame.
 * - **Plain values round-trip as structured clone does**, wherever msgpack
 *   with a few extension types can say it: `undefined` and `null` stay
 *   distinct, `-0`, `NaN` and `±Infinity` survive, and `bigint`, `Date`,
 *   `Map`, `Set`, `RegExp` and `Error` come back as themselves. Class
 *   instances arrive as plain objects (their own enumerable properties);
 *   array holes arrive as `undefined`. Functions, symbols and promises are
 *   refused with a {@link SerializeError} naming where they are.
 * - **The encoder is our own; the decoder is `@msgpack/msgpack`'s.** Its
 *   encoder writes `null` and `undefined` alike and `-0` as the integer 0
 *   before any extension hook runs, and it cannot append messages to one
 *   shared batch buffer; the writer below is small because it only has to
 *   produce the forms listed here. Its decoder is the well-tested part that
 *   faces untrusted bytes (bounds checks, no `__proto__` keys), and our
 *   extension types plug into it. Anything malformed — bad msgpack, an
 *   unknown extension, a frame reference out of range, a typed array whose
 *   frame is not a whole number of elements — is a {@link ProtocolError}.
 *
 * @example
 * ```ts
 * const frames = encodeFrames({ op: "data", x: new Float64Array([1, 2]) });
 * frames.length; // 2: the msgpack header, then the Float64Array's bytes
 * const back = decodeFrames(frames) as { x: Float64Array };
 * ```
 * @module
 */
import { Buffer } from "node:buffer";
import { Decoder, type ExtensionCodecType } from "@msgpack/msgpack";
import { deserializeError, MessageTooLargeError, ProtocolError, SerializeError, serializeError, type SerializedError } from "../core/errors.js";

// ---------------------------------------------------------------- extension types

const EXT_UNDEFINED = 0;
const EXT_BUFFER = 1;
const EXT_BIGINT = 2;
const EXT_DATE = 3;
const EXT_MAP = 4;
const EXT_SET = 5;
const EXT_ERROR = 6;
const EXT_REGEXP = 7;

/** Binary kinds, by the code written into a buffer reference. */
const K_ARRAY_BUFFER = 0;
const K_SHARED_ARRAY_BUFFER = 1;
const K_DATA_VIEW = 2;
const K_NODE_BUFFER = 3;
type TypedArrayCtor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;
/** Typed arrays take kinds 4..14, in this order. */
const TYPED: readonly TypedArrayCtor[] = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
];
const K_TYPED_FIRST = 4;
const typedKindByTag = new Map<string, number>(TYPED.map((c, i) => [c.name, K_TYPED_FIRST + i]));

/**
 * Nesting allowed in a value (containers, extension payloads included);
 * deeper is taken for a cycle and refused.
 *
 * @example
 * ```ts
 * const deep = JSON.parse("[".repeat(MAX_DEPTH + 1) + "]".repeat(MAX_DEPTH + 1));
 * encodeFrames(deep); // SerializeError: nested more than 1000 levels deep
 * ```
 */
export const MAX_DEPTH = 1000;

// ---------------------------------------------------------------- limits

/**
 * Size limits of one envelope (one batch of messages): the header and all
 * its buffers, and how many frames they make.
 *
 * @example
 * ```ts
 * const limits: WireLimits = { maxMessageBytes: 2 ** 28, maxFrames: 65_536 };
 * ```
 */
export interface WireLimits {
  /** Bytes of the frames sent inline in the envelope (header included); streamed buffers do not count. */
  readonly maxMessageBytes: number;
  /** Frames, the header included (streamed buffers count). */
  readonly maxFrames: number;
  /**
   * Bytes of a whole batch, streamed buffers included. Absent: nothing is
   * streamed, every buffer is an inline frame (as in {@link encodeFrames}).
   */
  readonly maxValueBytes?: number;
}

/**
 * A sealed batch: its frames (header first) and which of them go as streams
 * (frame indices, ascending; empty when every frame is inline).
 *
 * @example
 * ```ts
 * const { frames, streamed } = writer.takeBatch()!;
 * for (const i of streamed) console.log(`frame ${i} streams ${frames[i]!.byteLength} bytes`);
 * ```
 */
export interface SealedBatch {
  readonly frames: Uint8Array[];
  readonly streamed: readonly number[];
}

/**
 * 8 MiB: buffers larger than this are streamed in parts of this size
 * instead of being put into the envelope whole. Measured once on loopback
 * in one process, moving 1 GiB (a script, not a bench row): 1 MiB parts
 * ran at 176 MB/s, 4 to 32 MiB parts at 263–277 MB/s; 8 MiB is the
 * smallest part at full speed, so one part holds back little in the socket.
 *
 * @example
 * ```ts
 * new BatchWriter(limits, { partBytes: DEFAULT_PART_BYTES });
 * ```
 */
export const DEFAULT_PART_BYTES = 8 * 2 ** 20;

/**
 * 256 MiB: more than twice the largest chunk a Dask user is advised to make
 * (~100 MB), so real task data fits, while a peer that lies about lengths can
 * make us allocate no more than this before it is caught.
 *
 * @example
 * ```ts
 * DEFAULT_LIMITS.maxMessageBytes; // 268435456
 * ```
 */
export const DEFAULT_LIMITS: WireLimits = { maxMessageBytes: 256 * 2 ** 20, maxFrames: 65_536 };

/**
 * 64 GiB: the default `maxValueBytes`, the most one batch may carry with its
 * streamed buffers. Large enough for multi-GiB values; a peer that lies can
 * make us reserve this much address space only, since the destination of a
 * stream is allocated zero-filled, which V8 and the system do lazily (pages
 * are touched only as parts arrive), and an allocation the system refuses
 * closes only that connection.
 *
 * @example
 * ```ts
 * DEFAULT_MAX_VALUE_BYTES; // 68719476736
 * ```
 */
export const DEFAULT_MAX_VALUE_BYTES = 64 * 2 ** 30;

// ---------------------------------------------------------------- encoding

/** A member's place in an error's path: `[i]` for an index, `.k` or `["k"]` for a key, `<…>` (as given) for Map and Set entries. */
function pathPart(key: string | number): string {
  return typeof key === "number" ? `[${key}]` : key.startsWith("<") ? key : /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** Thrown inside the writer; containers add their key on the way out, so the error names a path. */
class EncodeFailure {
  readonly path: string[] = [];
  constructor(readonly reason: string) {}
}

const INITIAL_HEADER_BYTES = 8192;
const NONE: readonly number[] = Object.freeze([]);
/** A header buffer grown past this is handed over with its batch instead of being kept for the next one. */
const KEEP_HEADER_BYTES = 1 << 20;

/**
 * Writes values into one msgpack header buffer and collects their binary
 * frames. A batch is a msgpack array of messages: {@link add} appends one
 * message (or rolls it back if it cannot be encoded or would overflow the
 * limits), {@link take} seals the batch and returns its frames.
 *
 * @example
 * ```ts
 * const w = new BatchWriter();
 * w.add({ op: "a" });
 * w.add({ op: "b", data: new Uint8Array(16) });
 * const frames = w.take()!; // [header, data bytes]; decodeFrames(frames) → [{op:"a"}, {op:"b", data}]
 * ```
 */
export class BatchWriter {
  private buf: Buffer = Buffer.allocUnsafe(INITIAL_HEADER_BYTES);
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  private pos = 5; // room for an array32 header, written by take()
  private frames: Uint8Array[] = [];
  /** Bytes of the inline frames. */
  private frameBytes = 0;
  /** Frame indices that stream, ascending, and their bytes. */
  private streamed: number[] = [];
  private streamBytes = 0;
  /** Frame index of each buffer object already in this batch. */
  private seen: Map<object, number> | undefined;
  private messages = 0;
  private readonly partBytes: number;

  /**
   * `partBytes`: with `limits.maxValueBytes` set, a buffer larger than this
   * (or one that would take the inline frames over `maxMessageBytes`) is
   * streamed. Default {@link DEFAULT_PART_BYTES}.
   */
  constructor(
    private limits: WireLimits = DEFAULT_LIMITS,
    options: { readonly partBytes?: number } = {},
  ) {
    this.partBytes = options.partBytes ?? DEFAULT_PART_BYTES;
  }

  /** Messages in the open batch. */
  get count(): number {
    return this.messages;
  }

  /** Bytes of the open batch: header so far plus its buffers. */
  get bytes(): number {
    return this.messages === 0 ? 0 : this.pos + this.frameBytes + this.streamBytes;
  }

  /** The limits each message must fit. */
  get sendLimits(): WireLimits {
    return this.limits;
  }

  /** Change the limits (e.g. to the smaller of both ends' after a handshake); applies from the next message. */
  setLimits(limits: WireLimits): void {
    this.limits = limits;
  }

  /**
   * Append one message. Returns false, leaving the batch as it was, when the
   * message fits the limits alone but not in this batch: take() the batch and
   * add it again. Throws {@link SerializeError} for a value that cannot be
   * encoded and {@link MessageTooLargeError} for a message over the limits on
   * its own; the batch is unchanged either way.
   */
  add(msg: unknown): boolean {
    const pos = this.pos;
    const nFrames = this.frames.length;
    const frameBytes = this.frameBytes;
    const nStreamed = this.streamed.length;
    const streamBytes = this.streamBytes;
    try {
      this.value(msg, 0);
    } catch (e) {
      this.rollback(pos, nFrames, frameBytes, nStreamed, streamBytes);
      if (e instanceof EncodeFailure) throw new SerializeError(formatPath(e.path), e.reason);
      if (e instanceof RangeError) throw new SerializeError("", `it is too large to encode (${e.message})`);
      throw e;
    }
    const inline = this.pos + this.frameBytes;
    const frames = this.frames.length + 1;
    const maxValue = this.limits.maxValueBytes;
    if (inline > this.limits.maxMessageBytes || frames > this.limits.maxFrames || (maxValue !== undefined && inline + this.streamBytes > maxValue)) {
      const aloneInline = this.pos - pos + 5 + (this.frameBytes - frameBytes);
      const aloneStreamed = this.streamBytes - streamBytes;
      const aloneFrames = this.frames.length - nFrames + 1;
      this.rollback(pos, nFrames, frameBytes, nStreamed, streamBytes);
      if (maxValue !== undefined && aloneInline + aloneStreamed > maxValue) {
        throw new MessageTooLargeError(aloneInline + aloneStreamed, aloneFrames, maxValue, this.limits.maxFrames, "maxValueBytes");
      }
      if (this.messages === 0 || aloneInline > this.limits.maxMessageBytes || aloneFrames > this.limits.maxFrames) {
        throw new MessageTooLargeError(aloneInline + aloneStreamed, aloneFrames, this.limits.maxMessageBytes, this.limits.maxFrames);
      }
      return false;
    }
    this.messages++;
    return true;
  }

  /** Seal the open batch: its frames (header first), or undefined when it is empty. Starts a new batch. */
  take(): Uint8Array[] | undefined {
    return this.takeBatch()?.frames;
  }

  /** Seal the open batch, saying which frames stream; undefined when it is empty. Starts a new batch. */
  takeBatch(): SealedBatch | undefined {
    if (this.messages === 0) return undefined;
    const buf = this.buf;
    buf[0] = 0xdd;
    buf.writeUInt32BE(this.messages, 1);
    let header: Uint8Array;
    if (buf.length > KEEP_HEADER_BYTES) {
      header = buf.subarray(0, this.pos);
      this.buf = Buffer.allocUnsafe(INITIAL_HEADER_BYTES);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    } else header = Uint8Array.prototype.slice.call(buf, 0, this.pos);
    const out = [header, ...this.frames];
    const streamed = this.streamed;
    this.pos = 5;
    this.frames = [];
    this.frameBytes = 0;
    this.streamed = streamed.length === 0 ? streamed : [];
    this.streamBytes = 0;
    this.seen = undefined;
    this.messages = 0;
    return { frames: out, streamed: streamed.length === 0 ? NONE : streamed };
  }

  private rollback(pos: number, nFrames: number, frameBytes: number, nStreamed: number, streamBytes: number): void {
    this.pos = pos;
    if (this.frames.length > nFrames) {
      this.frames.length = nFrames;
      for (const [obj, idx] of this.seen ?? []) if (idx > nFrames) this.seen!.delete(obj);
    }
    this.frameBytes = frameBytes;
    this.streamed.length = nStreamed;
    this.streamBytes = streamBytes;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  private value(v: unknown, depth: number): void {
    switch (typeof v) {
      case "string":
        return this.string(v);
      case "number":
        return this.number(v);
      case "boolean":
        this.ensure(1);
        this.buf[this.pos++] = v ? 0xc3 : 0xc2;
        return;
      case "undefined":
        this.ensure(3);
        this.buf[this.pos++] = 0xd4;
        this.buf[this.pos++] = EXT_UNDEFINED;
        this.buf[this.pos++] = 0;
        return;
      case "bigint":
        return this.bigint(v);
      case "object":
        if (v === null) {
          this.ensure(1);
          this.buf[this.pos++] = 0xc0;
          return;
        }
        if (depth >= MAX_DEPTH) throw new EncodeFailure(`it is nested more than ${MAX_DEPTH} levels deep (a cycle?)`);
        return this.object(v, depth + 1);
      default:
        throw new EncodeFailure(`it is a ${typeof v}`);
    }
  }

  private number(n: number): void {
    this.ensure(9);
    const b = this.buf;
    if (Number.isInteger(n) && (n !== 0 || 1 / n > 0)) {
      if (n >= 0) {
        if (n < 0x80) b[this.pos++] = n;
        else if (n < 0x100) {
          b[this.pos++] = 0xcc;
          b[this.pos++] = n;
        } else if (n < 0x10000) {
          b[this.pos++] = 0xcd;
          this.view.setUint16(this.pos, n);
          this.pos += 2;
        } else if (n < 0x100000000) {
          b[this.pos++] = 0xce;
          this.view.setUint32(this.pos, n);
          this.pos += 4;
        } else if (n <= Number.MAX_SAFE_INTEGER) {
          b[this.pos++] = 0xcf;
          this.view.setUint32(this.pos, Math.floor(n / 0x100000000));
          this.view.setUint32(this.pos + 4, n >>> 0);
          this.pos += 8;
        } else this.float(n);
      } else if (n >= -0x20) b[this.pos++] = 0xe0 | (n + 0x20);
      else if (n >= -0x80) {
        b[this.pos++] = 0xd0;
        this.view.setInt8(this.pos++, n);
      } else if (n >= -0x8000) {
        b[this.pos++] = 0xd1;
        this.view.setInt16(this.pos, n);
        this.pos += 2;
      } else if (n >= -0x80000000) {
        b[this.pos++] = 0xd2;
        this.view.setInt32(this.pos, n);
        this.pos += 4;
      } else if (n >= Number.MIN_SAFE_INTEGER) {
        b[this.pos++] = 0xd3;
        const hi = Math.floor(n / 0x100000000);
        this.view.setInt32(this.pos, hi);
        this.view.setUint32(this.pos + 4, n - hi * 0x100000000);
        this.pos += 8;
      } else this.float(n);
    } else this.float(n);
  }

  private float(n: number): void {
    this.buf[this.pos++] = 0xcb;
    this.view.setFloat64(this.pos, n);
    this.pos += 8;
  }

  private string(s: string): void {
    const n = s.length;
    if (n < 32) {
      // Short ASCII strings (keys, ops, most task keys) without a call into C++.
      this.ensure(1 + n);
      const b = this.buf;
      let p = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === n) {
        b[this.pos] = 0xa0 | n;
        this.pos = p;
        return;
      }
    }
    // The header size is chosen for the worst case (3 bytes per UTF-16 unit) and filled in after.
    const max = 3 * n;
    const h = max < 32 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : 5;
    this.ensure(h + max);
    const len = this.buf.write(s, this.pos + h, "utf8");
    if (h === 1) this.buf[this.pos] = 0xa0 | len;
    else if (h === 2) {
      this.buf[this.pos] = 0xd9;
      this.buf[this.pos + 1] = len;
    } else if (h === 3) {
      this.buf[this.pos] = 0xda;
      this.view.setUint16(this.pos + 1, len);
    } else {
      this.buf[this.pos] = 0xdb;
      this.view.setUint32(this.pos + 1, len);
    }
    this.pos += h + len;
  }

  private bigint(v: bigint): void {
    // Sign byte, then the magnitude in hex: exact at any size.
    const neg = v < 0n;
    const hex = (neg ? -v : v).toString(16);
    this.extHeader(EXT_BIGINT, 1 + hex.length);
    this.buf[this.pos++] = neg ? 1 : 0;
    this.pos += this.buf.write(hex, this.pos, "latin1");
  }

  private extHeader(type: number, size: number): void {
    this.ensure(6 + size);
    const b = this.buf;
    if (size === 1 || size === 2 || size === 4 || size === 8 || size === 16) {
      b[this.pos++] = size === 1 ? 0xd4 : size === 2 ? 0xd5 : size === 4 ? 0xd6 : size === 8 ? 0xd7 : 0xd8;
    } else if (size < 0x100) {
      b[this.pos++] = 0xc7;
      b[this.pos++] = size;
    } else if (size < 0x10000) {
      b[this.pos++] = 0xc8;
      this.view.setUint16(this.pos, size);
      this.pos += 2;
    } else {
      b[this.pos++] = 0xc9;
      this.view.setUint32(this.pos, size);
      this.pos += 4;
    }
    b[this.pos++] = type;
  }

  /** An extension whose payload is itself msgpack (an array of values), of a length known only afterwards. */
  private nested(type: number, write: () => void): void {
    this.ensure(6);
    const start = this.pos;
    this.buf[start] = 0xc9;
    this.buf[start + 5] = type;
    this.pos += 6;
    write();
    this.view.setUint32(start + 1, this.pos - start - 6);
  }

  private arrayHeader(n: number): void {
    this.containerHeader(n, 0x90, 0xdc);
  }

  /** An array (fix 0x90, 16-bit 0xdc) or map (0x80, 0xde) header; the 32-bit form's byte follows the 16-bit one's. */
  private containerHeader(n: number, fix: number, b16: number): void {
    this.ensure(5);
    if (n < 16) this.buf[this.pos++] = fix | n;
    else if (n < 0x10000) {
      this.buf[this.pos++] = b16;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = b16 + 1;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }

  private object(v: object, depth: number): void {
    if (Array.isArray(v)) {
      const a = v as readonly unknown[];
      this.arrayHeader(a.length);
      for (let i = 0; i < a.length; i++) this.at(i, a[i], depth);
      return;
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) return this.plain(v as Record<string, unknown>, depth);
    if (ArrayBuffer.isView(v)) {
      let kind: number;
      if (v instanceof DataView) kind = K_DATA_VIEW;
      else if (Buffer.isBuffer(v)) kind = K_NODE_BUFFER;
      else {
        const k = typedKindByTag.get((v as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag]);
        if (k === undefined) throw new EncodeFailure(`it is a ${v.constructor.name}, which this version cannot send`);
        kind = k;
      }
      return this.buffer(v, new Uint8Array(v.buffer, v.byteOffset, v.byteLength), kind);
    }
    if (v instanceof Map) {
      this.nested(EXT_MAP, () => {
        this.arrayHeader(2 * v.size);
        let i = 0;
        for (const [k, x] of v as Map<unknown, unknown>) {
          this.at(`<key ${i}>`, k, depth);
          this.at(`<value ${i++}>`, x, depth);
        }
      });
      return;
    }
    if (v instanceof Set) {
      this.nested(EXT_SET, () => {
        this.arrayHeader(v.size);
        let i = 0;
        for (const x of v as Set<unknown>) this.at(`<element ${i++}>`, x, depth);
      });
      return;
    }
    if (v instanceof Date) {
      this.extHeader(EXT_DATE, 8);
      this.view.setFloat64(this.pos, v.getTime());
      this.pos += 8;
      return;
    }
    if (v instanceof ArrayBuffer) return this.buffer(v, new Uint8Array(v), K_ARRAY_BUFFER);
    if (typeof SharedArrayBuffer === "function" && v instanceof SharedArrayBuffer) return this.buffer(v, new Uint8Array(v), K_SHARED_ARRAY_BUFFER);
    if (v instanceof Error) {
      const rec = serializeError(v);
      this.nested(EXT_ERROR, () => this.plain(rec as unknown as Record<string, unknown>, depth));
      return;
    }
    if (v instanceof RegExp) {
      this.nested(EXT_REGEXP, () => {
        this.arrayHeader(2);
        this.string(v.source);
        this.string(v.flags);
      });
      return;
    }
    if (v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet || v instanceof WeakRef) {
      throw new EncodeFailure(`it is a ${v.constructor.name}, which cannot be copied`);
    }
    // Any other object: its own enumerable properties, as structured clone does for class instances.
    this.plain(v as Record<string, unknown>, depth);
  }

  private plain(o: Record<string, unknown>, depth: number): void {
    const keys = Object.keys(o);
    const n = keys.length;
    this.containerHeader(n, 0x80, 0xde);
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      if (k === "__proto__") throw new EncodeFailure("it has an own property named __proto__, which the decoder refuses");
      this.string(k);
      let item: unknown;
      try {
        item = o[k];
      } catch (err) {
        // A getter that throws: the value cannot be read, so it cannot be sent; say where (scenario 32).
        const failure = new EncodeFailure(`reading it threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
        failure.path.push(pathPart(k));
        throw failure;
      }
      this.at(k, item, depth);
    }
  }

  /**
   * Encode a member, adding its place to the path of an error raised inside
   * it: `[i]` for an index, `.k` or `["k"]` for a key, `<…>` (as given) for
   * Map and Set entries.
   */
  private at(key: string | number, v: unknown, depth: number): void {
    try {
      this.value(v, depth);
    } catch (e) {
      if (e instanceof EncodeFailure) e.path.push(pathPart(key));
      throw e;
    }
  }

  private buffer(obj: object, bytes: Uint8Array, kind: number): void {
    let idx = this.seen?.get(obj);
    if (idx === undefined) {
      this.frames.push(bytes);
      idx = this.frames.length; // frame 0 is the header
      const n = bytes.byteLength;
      // Big buffers stream in parts after the envelope; so do those of a message too big for one envelope
      // on its own (a message that only overflows a shared batch starts a new batch instead).
      if (this.limits.maxValueBytes !== undefined && n > 0 && (n > this.partBytes || (this.messages === 0 && this.pos + this.frameBytes + n > this.limits.maxMessageBytes - 1024))) {
        this.streamed.push(idx);
        this.streamBytes += n;
      } else this.frameBytes += n;
      (this.seen ??= new Map()).set(obj, idx);
    }
    this.ensure(10);
    const b = this.buf;
    b[this.pos++] = 0xd7;
    b[this.pos++] = EXT_BUFFER;
    b[this.pos++] = kind;
    b[this.pos++] = 0;
    b[this.pos++] = 0;
    b[this.pos++] = 0;
    this.view.setUint32(this.pos, idx);
    this.pos += 4;
  }
}

/** The path of a failure, outermost key first; a long one (a cycle) is cut in the middle. */
function formatPath(reversed: readonly string[]): string {
  const keys = [...reversed].reverse();
  return keys.length <= 12 ? keys.join("") : `${keys.slice(0, 6).join("")}…${keys.slice(-6).join("")}`;
}

/**
 * Encode one value on its own: the msgpack header, then one frame per buffer.
 * Throws {@link SerializeError} for values that cannot be sent.
 *
 * @example
 * ```ts
 * const [header, data] = encodeFrames({ x: new Float64Array(1e6) });
 * header.byteLength; // a few dozen bytes; data is a view of the array's memory
 * ```
 */
export function encodeFrames(value: unknown, limits: WireLimits = { maxMessageBytes: Number.MAX_SAFE_INTEGER, maxFrames: 2 ** 32 - 1 }): Uint8Array[] {
  const w = new BatchWriter(limits);
  w.add(value);
  const frames = w.take()!;
  // A batch is an array of messages; a single value is its only element, without the array header.
  frames[0] = frames[0]!.subarray(5);
  return frames;
}

// ---------------------------------------------------------------- decoding

/** Bytes of one frame as an ArrayBuffer of exactly that size (the frame's own when it is one already). */
function ownBuffer(f: Uint8Array): ArrayBuffer {
  if (f.byteOffset === 0 && f.byteLength === f.buffer.byteLength && f.buffer instanceof ArrayBuffer) return f.buffer;
  return f.slice().buffer;
}

/**
 * Decodes headers written by {@link BatchWriter} / {@link encodeFrames}.
 * One instance may be reused for many messages (it keeps a small pool of
 * msgpack decoders, one per nesting level of Map/Set/Error payloads).
 *
 * @example
 * ```ts
 * const dec = new FrameDecoder();
 * const batch = dec.decodeBatch(frames); // unknown[]
 * ```
 */
export class FrameDecoder {
  private frames: readonly Uint8Array[] = [];
  private built: (object | undefined)[] = [];
  private kinds: number[] = [];
  private level = 0;
  private readonly decoders: Decoder[] = [];
  private readonly codec: ExtensionCodecType<undefined> = {
    tryToEncode: () => null,
    decode: (data, type) => this.ext(data, type),
  };

  /** Decode a value encoded with {@link encodeFrames}. */
  decode(frames: readonly Uint8Array[]): unknown {
    if (frames.length === 0) throw new ProtocolError("", "a message has no header frame");
    this.frames = frames;
    try {
      return this.nestedDecode(frames[0]!);
    } catch (e) {
      if (e instanceof ProtocolError) throw e;
      throw new ProtocolError("", `malformed message header (${e instanceof Error ? e.message : String(e)})`, e);
    } finally {
      this.frames = [];
      this.built = [];
      this.kinds = [];
      this.level = 0;
    }
  }

  /** Decode a batch written by {@link BatchWriter}: always an array of messages. */
  decodeBatch(frames: readonly Uint8Array[]): unknown[] {
    const v = this.decode(frames);
    if (!Array.isArray(v)) throw new ProtocolError("", "a batch header is not an array of messages");
    return v;
  }

  private nestedDecode(bytes: Uint8Array): unknown {
    if (this.level >= MAX_DEPTH) throw new ProtocolError("", `extension values nested more than ${MAX_DEPTH} levels deep`);
    const d = (this.decoders[this.level] ??= new Decoder({ extensionCodec: this.codec }));
    this.level++;
    try {
      return d.decode(bytes);
    } finally {
      this.level--;
    }
  }

  private nestedArray(bytes: Uint8Array, what: string): unknown[] {
    const v = this.nestedDecode(bytes);
    if (!Array.isArray(v)) throw new ProtocolError("", `a ${what} payload is not an array`);
    return v;
  }

  private ext(data: Uint8Array, type: number): unknown {
    switch (type) {
      case EXT_UNDEFINED:
        return undefined;
      case EXT_BUFFER:
        return this.bufferRef(data);
      case EXT_BIGINT: {
        if (data.length < 2) throw new ProtocolError("", "an empty bigint");
        const hex = Buffer.from(data.buffer, data.byteOffset + 1, data.length - 1).toString("latin1");
        if (!/^[0-9a-f]+$/.test(hex)) throw new ProtocolError("", "a bigint that is not hexadecimal");
        const v = BigInt(`0x${hex}`);
        return data[0] === 1 ? -v : v;
      }
      case EXT_DATE:
        if (data.length !== 8) throw new ProtocolError("", "a date of the wrong size");
        return new Date(new DataView(data.buffer, data.byteOffset, 8).getFloat64(0));
      case EXT_MAP: {
        const a = this.nestedArray(data, "Map");
        if (a.length % 2 !== 0) throw new ProtocolError("", "a Map payload of odd length");
        const m = new Map<unknown, unknown>();
        for (let i = 0; i < a.length; i += 2) m.set(a[i], a[i + 1]);
        return m;
      }
      case EXT_SET:
        return new Set(this.nestedArray(data, "Set"));
      case EXT_ERROR: {
        const r = this.nestedDecode(data) as Partial<SerializedError> | null;
        if (typeof r !== "object" || r === null || typeof r.name !== "string" || typeof r.message !== "string" || typeof r.stack !== "string") {
          throw new ProtocolError("", "an Error payload without name, message and stack");
        }
        return deserializeError(r as SerializedError);
      }
      case EXT_REGEXP: {
        const [source, flags] = this.nestedArray(data, "RegExp");
        if (typeof source !== "string" || typeof flags !== "string") throw new ProtocolError("", "a RegExp payload without source and flags");
        try {
          return new RegExp(source, flags);
        } catch (e) {
          throw new ProtocolError("", `an invalid RegExp (${(e as Error).message})`);
        }
      }
      default:
        throw new ProtocolError("", `unknown extension type ${type}`);
    }
  }

  private bufferRef(data: Uint8Array): object {
    if (data.length !== 8) throw new ProtocolError("", "a buffer reference of the wrong size");
    const kind = data[0]!;
    const idx = new DataView(data.buffer, data.byteOffset, 8).getUint32(4);
    if (idx < 1 || idx >= this.frames.length) throw new ProtocolError("", `a buffer refers to frame ${idx}, but the message has frames 1..${this.frames.length - 1}`);
    const prev = this.built[idx];
    if (prev !== undefined) {
      if (this.kinds[idx] !== kind) throw new ProtocolError("", `frame ${idx} is referred to as two different kinds of buffer`);
      return prev;
    }
    const obj = materialize(this.frames[idx]!, kind);
    this.built[idx] = obj;
    this.kinds[idx] = kind;
    return obj;
  }
}

/** The buffer object of `kind` over a frame's bytes: no copy unless alignment or ownership needs one. */
function materialize(f: Uint8Array, kind: number): object {
  switch (kind) {
    case K_ARRAY_BUFFER:
      return ownBuffer(f);
    case K_SHARED_ARRAY_BUFFER: {
      const sab = new SharedArrayBuffer(f.byteLength);
      new Uint8Array(sab).set(f);
      return sab;
    }
    case K_DATA_VIEW:
      return new DataView(f.buffer, f.byteOffset, f.byteLength);
    case K_NODE_BUFFER:
      return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  }
  const ctor = TYPED[kind - K_TYPED_FIRST];
  if (ctor === undefined) throw new ProtocolError("", `unknown buffer kind ${kind}`);
  const size = ctor.BYTES_PER_ELEMENT;
  if (f.byteLength % size !== 0) throw new ProtocolError("", `a ${ctor.name} frame of ${f.byteLength} bytes, not a multiple of ${size}`);
  // Typed arrays need aligned memory; frames read off a socket have their own buffers, so this copies only in odd cases.
  const bytes = f.byteOffset % size === 0 ? f : f.slice();
  return new ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / size);
}

const sharedDecoder = new FrameDecoder();

/**
 * Decode the frames of one value made by {@link encodeFrames}. Typed arrays
 * come back as views of the frames' memory (no copy). Throws
 * {@link ProtocolError} for malformed input.
 *
 * @example
 * ```ts
 * const v = decodeFrames(encodeFrames(new Map([[1n, new Set([undefined, -0])]])));
 * ```
 */
export function decodeFrames(frames: readonly Uint8Array[]): unknown {
  return sharedDecoder.decode(frames);
}
