/**
 * The envelope: how the frames of one batch sit on a byte stream, and an
 * incremental reader for it.
 *
 * Layout, all integers little-endian:
 *
 * | bytes | field |
 * |---|---|
 * | 4 | frame count N (1 .. maxFrames) |
 * | 4 | kind: 1 hello (handshake), 2 batch of messages, 3 goodbye (close reason) |
 * | 8 × N | length of each frame |
 * | … | the N frames back to back; frame 0 is the msgpack header |
 *
 * Policy: the reader trusts nothing. Counts, kinds and lengths are checked
 * against the limits before a byte of the frames is buffered, so a peer
 * can make it allocate at most `maxMessageBytes` (plus 8 bytes per allowed
 * frame). Chunks are consumed as they come — the small prelude is gathered
 * once it is complete, and each frame is copied straight into a buffer of
 * its own exact size — so any chunking, down to one byte at a time, costs
 * time linear in the bytes. A buffer frame's memory belongs to it alone
 * (offset 0, exactly its length), so typed arrays decoded over it are
 * aligned and keep nothing else alive; the header frame, which is read and
 * dropped, is a view of the chunk when it lies within one.
 *
 * @example
 * ```ts
 * const reader = new EnvelopeReader(DEFAULT_LIMITS, (kind, frames) => handle(kind, frames));
 * socket.on("data", (chunk) => reader.push(chunk));
 * ```
 * @module
 */
import { Buffer } from "node:buffer";
import { ProtocolError } from "../core/errors.js";
import type { WireLimits } from "../serialize/wire.js";

/**
 * The kinds of envelope.
 *
 * @example
 * ```ts
 * writeEnvelope(socket, ENVELOPE.BATCH, frames);
 * ```
 */
export const ENVELOPE = { HELLO: 1, BATCH: 2, GOODBYE: 3 } as const;

/**
 * One of {@link ENVELOPE}'s values.
 *
 * @example
 * ```ts
 * const kind: EnvelopeKind = ENVELOPE.HELLO;
 * ```
 */
export type EnvelopeKind = (typeof ENVELOPE)[keyof typeof ENVELOPE];

const TWO_32 = 0x100000000;

/**
 * The bytes that go before a list of frames: count, kind and lengths.
 *
 * @example
 * ```ts
 * socket.cork();
 * socket.write(prelude(ENVELOPE.BATCH, frames));
 * for (const f of frames) socket.write(f);
 * socket.uncork();
 * ```
 */
export function prelude(kind: EnvelopeKind, frames: readonly Uint8Array[]): Buffer {
  const n = frames.length;
  const b = Buffer.allocUnsafe(8 + 8 * n);
  b.writeUInt32LE(n, 0);
  b.writeUInt32LE(kind, 4);
  for (let i = 0; i < n; i++) {
    const len = frames[i]!.byteLength;
    b.writeUInt32LE(len % TWO_32, 8 + 8 * i);
    b.writeUInt32LE(Math.floor(len / TWO_32), 12 + 8 * i);
  }
  return b;
}

/**
 * Write one envelope to a stream as a list of writes under one cork, so
 * they leave in a single `writev` with no frame copied. Returns what the
 * last `write` returned: false means the stream wants a `'drain'`.
 *
 * @example
 * ```ts
 * if (!writeEnvelope(socket, ENVELOPE.BATCH, frames)) await once(socket, "drain");
 * ```
 */
export function writeEnvelope(
  stream: { cork(): void; uncork(): void; write(chunk: Uint8Array): boolean },
  kind: EnvelopeKind,
  frames: readonly Uint8Array[],
): boolean {
  stream.cork();
  let ok = stream.write(prelude(kind, frames));
  for (const f of frames) if (f.byteLength > 0) ok = stream.write(f);
  stream.uncork();
  return ok;
}

const STAGE_FIXED = 0;
const STAGE_LENGTHS = 1;
const STAGE_FRAMES = 2;

/**
 * Reassembles envelopes from a stream of chunks of any size. Calls
 * `onEnvelope` for each complete one, in order; throws
 * {@link ProtocolError} from {@link push} on bad input (and then must not
 * be used again).
 *
 * @example
 * ```ts
 * const r = new EnvelopeReader(DEFAULT_LIMITS, (kind, frames) => console.log(kind, frames.length));
 * for (const byte of bytes) r.push(new Uint8Array([byte]));
 * ```
 */
export class EnvelopeReader {
  private stage = STAGE_FIXED;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private count = 0;
  private kind: EnvelopeKind = ENVELOPE.BATCH;
  private lengths: number[] = [];
  private frames: Uint8Array[] = [];
  private target: Uint8Array | undefined;
  private filled = 0;
  private stopped = false;

  constructor(
    private limits: WireLimits,
    private readonly onEnvelope: (kind: EnvelopeKind, frames: Uint8Array[]) => void,
  ) {}

  /** Change the limits; applies from the next envelope. */
  setLimits(limits: WireLimits): void {
    this.limits = limits;
  }

  /** Bytes held for the envelope being read. */
  get buffered(): number {
    let n = this.pendingBytes + this.filled;
    for (const f of this.frames) n += f.byteLength;
    return n;
  }

  /** Ignore everything from now on (after the connection was closed by a handler). */
  stop(): void {
    this.stopped = true;
    this.pending = [];
    this.frames = [];
    this.target = undefined;
  }

  /** Consume one chunk. */
  push(chunk: Uint8Array): void {
    let off = 0;
    const end = chunk.byteLength;
    while (off < end && !this.stopped) {
      if (this.stage !== STAGE_FRAMES) {
        const need = this.stage === STAGE_FIXED ? 8 : 8 * this.count;
        const take = Math.min(need - this.pendingBytes, end - off);
        this.pending.push(chunk.subarray(off, off + take));
        this.pendingBytes += take;
        off += take;
        if (this.pendingBytes < need) return;
        const bytes = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, need);
        this.pending = [];
        this.pendingBytes = 0;
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        if (this.stage === STAGE_FIXED) this.readFixed(view);
        else this.readLengths(view);
        continue;
      }
      const len = this.lengths[this.frames.length]!;
      const take = Math.min(len - this.filled, end - off);
      if (this.target === undefined) {
        if (this.frames.length === 0 && take === len) {
          // The whole header frame is in this chunk: read it in place, it is dropped after decoding.
          this.frames.push(chunk.subarray(off, off + len));
          off += take;
          this.nextFrame();
          continue;
        }
        // The header is transient; buffers get memory of their own, exactly their size.
        this.target = this.frames.length === 0 ? Buffer.allocUnsafe(len) : Buffer.allocUnsafeSlow(len);
      }
      this.target.set(chunk.subarray(off, off + take), this.filled);
      this.filled += take;
      if (this.filled < len) return;
      this.frames.push(this.target);
      this.target = undefined;
      this.filled = 0;
      off += take;
      this.nextFrame();
    }
  }

  private readFixed(view: DataView): void {
    const n = view.getUint32(0, true);
    const kind = view.getUint32(4, true);
    if (n === 0 || n > this.limits.maxFrames) {
      throw new ProtocolError("", `an envelope announces ${n} frames (allowed: 1 to ${this.limits.maxFrames})`);
    }
    if (kind !== ENVELOPE.HELLO && kind !== ENVELOPE.BATCH && kind !== ENVELOPE.GOODBYE) {
      throw new ProtocolError("", `unknown envelope kind ${kind}`);
    }
    this.count = n;
    this.kind = kind;
    this.stage = STAGE_LENGTHS;
  }

  private readLengths(view: DataView): void {
    const lengths = new Array<number>(this.count);
    let total = 0;
    for (let i = 0; i < this.count; i++) {
      const lo = view.getUint32(8 * i, true);
      const hi = view.getUint32(8 * i + 4, true);
      const len = hi * TWO_32 + lo;
      total += len;
      if (total > this.limits.maxMessageBytes) {
        throw new ProtocolError("", `an envelope of at least ${total} bytes is over the limit of ${this.limits.maxMessageBytes} bytes`);
      }
      lengths[i] = len;
    }
    if (lengths[0] === 0) throw new ProtocolError("", "an envelope with an empty header frame");
    this.lengths = lengths;
    this.frames = [];
    this.stage = STAGE_FRAMES;
    this.nextFrame();
  }

  /** Move past empty frames; emit the envelope when no frame is left to fill. */
  private nextFrame(): void {
    for (;;) {
      const i = this.frames.length;
      if (i === this.count) {
        const frames = this.frames;
        const kind = this.kind;
        this.frames = [];
        this.lengths = [];
        this.stage = STAGE_FIXED;
        this.onEnvelope(kind, frames);
        return;
      }
      if (this.lengths[i] !== 0) return;
      this.frames.push(new Uint8Array(0));
    }
  }
}
