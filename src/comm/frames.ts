/**
 * The envelope: how the frames of one batch sit on a byte stream, and an
 * incremental reader for it.
 *
 * Layout, all integers little-endian:
 *
 * | bytes | field |
 * |---|---|
 * | 4 | frame count N (1 .. maxFrames) |
 * | 4 | kind: 1 hello (handshake), 2 batch of messages, 3 goodbye (close reason), 4 batch with streams, 5 part of a stream |
 * | 8 × N | length of each frame |
 * | … | the N frames back to back; frame 0 is the msgpack header |
 *
 * Streams: in a batch with streams (kind 4), a length with its top bit
 * (bit 63) set is a streamed frame: its bytes are not in the envelope but
 * follow it, frame after frame in index order, as part envelopes (kind 5,
 * one frame each, never more than the rest of the stream). The reader
 * checks the batch's declared total against `maxValueBytes`, allocates each
 * streamed frame once at its exact size (zero-filled, so the pages are
 * touched only as the bytes arrive), copies each part straight into place,
 * and hands the batch on when the last part is in. Nothing but parts (and a
 * goodbye, which drops the unfinished batch) may come in between, so
 * batches stay in order.
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
export const ENVELOPE = { HELLO: 1, BATCH: 2, GOODBYE: 3, STREAMED_BATCH: 4, PART: 5 } as const;

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
export function prelude(kind: EnvelopeKind, frames: readonly Uint8Array[], streamed?: readonly number[]): Buffer {
  const n = frames.length;
  const b = Buffer.allocUnsafe(8 + 8 * n);
  b.writeUInt32LE(n, 0);
  b.writeUInt32LE(kind, 4);
  for (let i = 0; i < n; i++) {
    const len = frames[i]!.byteLength;
    b.writeUInt32LE(len % TWO_32, 8 + 8 * i);
    b.writeUInt32LE(Math.floor(len / TWO_32), 12 + 8 * i);
  }
  if (streamed !== undefined) for (const i of streamed) b[15 + 8 * i] = b[15 + 8 * i]! | 0x80;
  return b;
}

/**
 * Write the head of a batch with streams: the prelude (streamed frames
 * flagged) and the inline frames, under one cork. The streamed frames'
 * bytes must follow, in index order, as {@link writePart}s.
 *
 * @example
 * ```ts
 * writeStreamedBatch(socket, frames, [1]);
 * for (let off = 0; off < frames[1]!.byteLength; off += PART) writePart(socket, frames[1]!.subarray(off, off + PART));
 * ```
 */
export function writeStreamedBatch(
  stream: { cork(): void; uncork(): void; write(chunk: Uint8Array): boolean },
  frames: readonly Uint8Array[],
  streamed: readonly number[],
): boolean {
  stream.cork();
  let ok = stream.write(prelude(ENVELOPE.STREAMED_BATCH, frames, streamed));
  let next = 0;
  for (let i = 0; i < frames.length; i++) {
    if (streamed[next] === i) {
      next++;
      continue;
    }
    if (frames[i]!.byteLength > 0) ok = stream.write(frames[i]!);
  }
  stream.uncork();
  return ok;
}

/**
 * Write one part of a stream (an envelope of kind 5 with one frame).
 *
 * @example
 * ```ts
 * if (!writePart(socket, bytes.subarray(0, 8 << 20))) await once(socket, "drain");
 * ```
 */
export function writePart(stream: { cork(): void; uncork(): void; write(chunk: Uint8Array): boolean }, bytes: Uint8Array): boolean {
  return writeEnvelope(stream, ENVELOPE.PART, [bytes]);
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
  /** Destinations of the streamed frames of the envelope being read, by frame index. */
  private dests: (Uint8Array | undefined)[] | undefined;
  /** A batch whose inline frames are in, waiting for its streams' parts. */
  private held: { frames: Uint8Array[]; streams: number[]; next: number; filled: number; received: number } | undefined;

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
    if (this.held !== undefined) n += this.held.received;
    return n;
  }

  /** True while a batch with streams waits for parts. */
  get streaming(): boolean {
    return this.held !== undefined;
  }

  /** Ignore everything from now on (after the connection was closed by a handler). */
  stop(): void {
    this.stopped = true;
    this.pending = [];
    this.frames = [];
    this.target = undefined;
    this.dests = undefined;
    this.held = undefined;
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
      off += take;
      if (this.kind === ENVELOPE.PART) {
        this.target = undefined;
        this.filled = 0;
        this.partDone(len);
        continue;
      }
      this.frames.push(this.target);
      this.target = undefined;
      this.filled = 0;
      this.nextFrame();
    }
  }

  /** A part was copied into place: move on in the held batch, and hand it on when its last part is in. */
  private partDone(len: number): void {
    const h = this.held!;
    h.filled += len;
    h.received += len;
    this.stage = STAGE_FIXED;
    this.lengths = [];
    if (h.filled === h.frames[h.streams[h.next]!]!.byteLength) {
      h.next++;
      h.filled = 0;
    }
    if (h.next < h.streams.length) return;
    this.held = undefined;
    this.onEnvelope(ENVELOPE.BATCH, h.frames);
  }

  private readFixed(view: DataView): void {
    const n = view.getUint32(0, true);
    const kind = view.getUint32(4, true);
    if (n === 0 || n > this.limits.maxFrames) {
      throw new ProtocolError("", `an envelope announces ${n} frames (allowed: 1 to ${this.limits.maxFrames})`);
    }
    if (kind !== ENVELOPE.HELLO && kind !== ENVELOPE.BATCH && kind !== ENVELOPE.GOODBYE && kind !== ENVELOPE.STREAMED_BATCH && kind !== ENVELOPE.PART) {
      throw new ProtocolError("", `unknown envelope kind ${kind}`);
    }
    if (this.held !== undefined) {
      // A goodbye may cut a stream short (the sender is closing); anything else must be its next part.
      if (kind === ENVELOPE.GOODBYE) this.held = undefined;
      else if (kind !== ENVELOPE.PART) throw new ProtocolError("", `an envelope of kind ${kind} arrived before the last part of a streamed batch`);
      else if (n !== 1) throw new ProtocolError("", `a part envelope announces ${n} frames (allowed: 1)`);
    } else if (kind === ENVELOPE.PART) throw new ProtocolError("", "a part envelope arrived with no stream open");
    if (kind === ENVELOPE.STREAMED_BATCH && this.limits.maxValueBytes === undefined) {
      throw new ProtocolError("", "a batch with streams arrived, but this connection does not accept streams");
    }
    this.count = n;
    this.kind = kind;
    this.stage = STAGE_LENGTHS;
  }

  private readLengths(view: DataView): void {
    if (this.kind === ENVELOPE.PART) return this.readPartLength(view);
    const lengths = new Array<number>(this.count);
    const streams = this.kind === ENVELOPE.STREAMED_BATCH;
    let total = 0;
    let streamed: number[] | undefined;
    let streamedBytes = 0;
    for (let i = 0; i < this.count; i++) {
      const lo = view.getUint32(8 * i, true);
      let hi = view.getUint32(8 * i + 4, true);
      if (streams && hi >= 0x80000000) {
        hi -= 0x80000000;
        const len = hi * TWO_32 + lo;
        if (i === 0 || len === 0) throw new ProtocolError("", i === 0 ? "a streamed header frame" : "an empty streamed frame");
        streamedBytes += len;
        if (total + streamedBytes > this.limits.maxValueBytes!) {
          throw new ProtocolError("", `a batch of at least ${total + streamedBytes} bytes with its streams is over the limit of ${this.limits.maxValueBytes} bytes`);
        }
        (streamed ??= []).push(i);
        lengths[i] = len;
        continue;
      }
      const len = hi * TWO_32 + lo;
      total += len;
      if (total > this.limits.maxMessageBytes) {
        throw new ProtocolError("", `an envelope of at least ${total} bytes is over the limit of ${this.limits.maxMessageBytes} bytes`);
      }
      if (streams && total + streamedBytes > this.limits.maxValueBytes!) {
        throw new ProtocolError("", `a batch of at least ${total + streamedBytes} bytes with its streams is over the limit of ${this.limits.maxValueBytes} bytes`);
      }
      lengths[i] = len;
    }
    if (lengths[0] === 0) throw new ProtocolError("", "an envelope with an empty header frame");
    if (streams && streamed === undefined) throw new ProtocolError("", "a batch with streams that streams nothing");
    if (streamed !== undefined) {
      // Each destination is allocated once, zero-filled: the system maps pages as parts arrive.
      const dests = new Array<Uint8Array | undefined>(this.count);
      for (const i of streamed) {
        try {
          dests[i] = new Uint8Array(lengths[i]!);
        } catch (e) {
          throw new ProtocolError("", `cannot allocate ${lengths[i]} bytes for a streamed buffer (${e instanceof Error ? e.message : String(e)})`);
        }
        lengths[i] = 0;
      }
      this.dests = dests;
      this.held = { frames: [], streams: streamed, next: 0, filled: 0, received: 0 };
    }
    this.lengths = lengths;
    this.frames = [];
    this.stage = STAGE_FRAMES;
    this.nextFrame();
  }

  private readPartLength(view: DataView): void {
    const h = this.held!;
    const dest = h.frames[h.streams[h.next]!]!;
    const len = view.getUint32(4, true) * TWO_32 + view.getUint32(0, true);
    const left = dest.byteLength - h.filled;
    if (len === 0 || len > left || len > this.limits.maxMessageBytes) {
      throw new ProtocolError("", `a part of ${len} bytes where the stream has ${left} bytes left (and parts are at most ${this.limits.maxMessageBytes} bytes)`);
    }
    this.lengths = [len];
    this.frames = [];
    // The part's bytes go straight to their place in the destination.
    this.target = dest.subarray(h.filled, h.filled + len);
    this.filled = 0;
    this.stage = STAGE_FRAMES;
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
        if (this.held !== undefined) {
          // Inline frames are in; the batch waits for its parts.
          this.held.frames = frames;
          this.dests = undefined;
          return;
        }
        this.onEnvelope(kind, frames);
        return;
      }
      const dest = this.dests?.[i];
      if (dest !== undefined) {
        this.frames.push(dest);
        continue;
      }
      if (this.lengths[i] !== 0) return;
      this.frames.push(new Uint8Array(0));
    }
  }
}
