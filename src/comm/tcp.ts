/**
 * The TCP transport: batched, bidirectional message channels between
 * processes and machines, with the same shape as the in-process one
 * (`send` queues, a batch callback, `close`).
 *
 * Policy:
 * - **Batching.** Everything sent during one turn of the event loop leaves
 *   as one envelope (a msgpack header and raw buffer frames, see
 *   `../serialize/wire.ts` and `frames.ts`), written with one corked `writev`.
 *   A batch that would go over the size limits is split into several
 *   envelopes, in order; a single message over them is refused at `send`.
 * - **Values of any size.** A buffer larger than `partBytes` (8 MiB), or one
 *   that would take an envelope over `maxMessageBytes`, is not put into the
 *   envelope: the envelope declares it (a streamed frame) and its bytes
 *   follow in parts, each written when the socket has taken the one before.
 *   The receiver checks the declared total against its `maxValueBytes`
 *   (64 GiB), allocates each buffer once and copies every part into place;
 *   the batch is delivered when its last part is in. Batches stay in order.
 * - **Handshake.** Both ends send a hello at once (protocol name and
 *   version, role, name, receive limits) and check the other's. A version
 *   mismatch is found by both ends, each of which closes with a reason
 *   naming both versions; `connect()` rejects with a
 *   {@link ProtocolVersionError}. Each end then sends no more than the
 *   smaller of the two ends' limits.
 * - **Bad input never escapes.** Garbage, absurd or truncated lengths,
 *   oversized envelopes, malformed headers, a missing handshake, a message
 *   handler that throws: the connection is closed with a reason, published
 *   on the `dask-ts:comm:close` diagnostics channel and given to the
 *   optional `log` hook, and the process carries on. Nothing is printed.
 *   Before closing, the comm tells the peer why in a last "goodbye"
 *   envelope, so both logs say the same thing.
 * - **Backpressure.** `send` never blocks; {@link TcpComm.bufferedBytes}
 *   says how much is waiting (streams included), {@link TcpComm.needsDrain}
 *   whether that is over `highWaterMark`, and {@link TcpComm.drained} waits
 *   until it is not, so a fast sender can pace itself.
 * - **Buffers are sent by reference**: a typed array handed to `send` must
 *   not be changed until the comm has drained.
 *
 * @example
 * ```ts
 * const listener = await listen({ port: 0 });
 * listener.onConnection((comm) => comm.onMessages((batch) => comm.send({ echoed: batch.length })));
 * const comm = await connect(listener.address);
 * comm.onMessages((batch) => console.log(batch));
 * comm.send({ op: "hello" });
 * ```
 * @module
 */
import diagnostics_channel from "node:diagnostics_channel";
import { isIP, createServer, connect as netConnect, type Server, type Socket } from "node:net";
import {
  CommClosedError,
  ConnectTimeoutError,
  DaskError,
  InvalidAddressError,
  ProtocolError,
  ProtocolVersionError,
} from "../core/errors.js";
import { ENVELOPE, EnvelopeReader, writeEnvelope, writePart, writeStreamedBatch, type EnvelopeKind } from "./frames.js";
import {
  BatchWriter,
  DEFAULT_LIMITS,
  DEFAULT_MAX_VALUE_BYTES,
  DEFAULT_PART_BYTES,
  encodeFrames,
  FrameDecoder,
  type SealedBatch,
  type WireLimits,
} from "../serialize/wire.js";

/**
 * The wire protocol version this build speaks. Peers must speak the same.
 *
 * @example
 * ```ts
 * console.log(`wire protocol v${PROTOCOL_VERSION}`);
 * ```
 */
export const PROTOCOL_VERSION = 2;

const PROTOCOL_NAME = "dask-ts";

/**
 * Every connection's close: `{ local, peer, reason, byPeer, error? }`.
 *
 * @example
 * ```ts
 * import diagnostics_channel from "node:diagnostics_channel";
 * diagnostics_channel.subscribe("dask-ts:comm:close", (info) => console.error(info));
 * ```
 */
export const commCloseChannel = diagnostics_channel.channel("dask-ts:comm:close");

/**
 * Every failed connection attempt that will be retried: `{ address, attempt, delayMs, elapsedMs, error }`.
 *
 * @example
 * ```ts
 * diagnostics_channel.subscribe("dask-ts:comm:connect-retry", (r) => console.error(r));
 * ```
 */
export const connectRetryChannel = diagnostics_channel.channel("dask-ts:comm:connect-retry");

// ---------------------------------------------------------------- addresses

/**
 * A parsed `tcp://host:port` address.
 *
 * @example
 * ```ts
 * const { host, port } = parseAddress("tcp://[::1]:8786"); // "::1", 8786
 * ```
 */
export interface TcpAddress {
  readonly host: string;
  readonly port: number;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * Parse `tcp://HOST:PORT` (the scheme may be left out). HOST is an IPv4
 * address, an IPv6 address in brackets, or a host name; PORT is 0..65535.
 * Throws {@link InvalidAddressError} saying what is wrong.
 *
 * @example
 * ```ts
 * parseAddress("tcp://127.0.0.1:8786"); // { host: "127.0.0.1", port: 8786 }
 * parseAddress("scheduler:8786");       // { host: "scheduler", port: 8786 }
 * ```
 */
export function parseAddress(address: string): TcpAddress {
  if (typeof address !== "string") throw new InvalidAddressError(String(address), "an address is a string");
  let rest = address.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest);
  if (scheme !== null) {
    if (scheme[1]!.toLowerCase() !== "tcp") throw new InvalidAddressError(address, `the scheme ${scheme[1]}:// is not supported by the TCP transport`);
    rest = rest.slice(scheme[0].length);
  }
  let host: string;
  let portText: string;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) throw new InvalidAddressError(address, "an IPv6 address is missing its closing bracket");
    host = rest.slice(1, close);
    if (isIP(host) !== 6) throw new InvalidAddressError(address, `${host} in brackets is not an IPv6 address`);
    if (rest[close + 1] !== ":") throw new InvalidAddressError(address, "no port after the host");
    portText = rest.slice(close + 2);
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon < 0) throw new InvalidAddressError(address, "no port after the host");
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(":")) throw new InvalidAddressError(address, "an IPv6 address must be written in brackets, as [::1]");
    if (host === "") throw new InvalidAddressError(address, "no host before the port");
    if (isIP(host) === 0 && !HOSTNAME.test(host)) throw new InvalidAddressError(address, `${JSON.stringify(host)} is not an IP address or a host name`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new InvalidAddressError(address, `the port ${JSON.stringify(portText)} is not a number from 0 to 65535`);
  }
  return { host, port: Number(portText) };
}

/**
 * Write an address as `tcp://host:port`, with brackets around IPv6 hosts.
 *
 * @example
 * ```ts
 * formatAddress("::1", 8786); // "tcp://[::1]:8786"
 * ```
 */
export function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `tcp://[${host}]:${port}` : `tcp://${host}:${port}`;
}

// ---------------------------------------------------------------- options and events

/**
 * What a comm logs through the optional `log` hook (the same facts go to the
 * diagnostics channels).
 *
 * @example
 * ```ts
 * const log = (e: CommEvent) => { if (e.kind === "close" && e.error) console.error(e.reason); };
 * ```
 */
export type CommEvent =
  | ({ readonly kind: "close" } & CommCloseInfo)
  | ({ readonly kind: "connect-retry" } & ConnectRetryInfo)
  | { readonly kind: "listener-error"; readonly address: string; readonly error: Error };

/**
 * Options of every connection.
 *
 * @example
 * ```ts
 * await connect(address, { role: "worker", name: "w1", maxMessageBytes: 2 ** 30 });
 * ```
 */
export interface CommOptions {
  /** This end's name, told to the peer in the handshake. Default: `""`. */
  readonly name?: string;
  /** This end's role (`scheduler`, `worker`, `client`, …), told to the peer. Default: `""`. */
  readonly role?: string;
  /** Largest envelope (all frames of one batch) this end accepts. Default 256 MiB. */
  readonly maxMessageBytes?: number;
  /** Most frames in one envelope this end accepts. Default 65,536. */
  readonly maxFrames?: number;
  /**
   * Largest batch this end accepts with its streamed buffers, told to the
   * peer in the handshake. Default 64 GiB: a peer that declares more than
   * it sends makes this end reserve address space only (a stream's memory
   * is allocated zero-filled, which the system maps lazily).
   */
  readonly maxValueBytes?: number;
  /**
   * Buffers larger than this are streamed, in parts of this size (never
   * more than the peer's `maxMessageBytes` allows). Default 8 MiB.
   */
  readonly partBytes?: number;
  /** {@link TcpComm.drained} waits while more than this is buffered for sending. Default 1 MiB. */
  readonly highWaterMark?: number;
  /** Close a connection whose peer has not sent its handshake within this time. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** After closing, wait this long for the peer to close its end before dropping the socket. Default 1 s. */
  readonly closeTimeoutMs?: number;
  /** Told about closes, connect retries and listener errors. */
  readonly log?: (event: CommEvent) => void;
}

/**
 * The other end of a connection, as its handshake described it.
 *
 * @example
 * ```ts
 * const { role, name, version } = await comm.ready;
 * ```
 */
export interface PeerInfo {
  readonly address: string;
  readonly name: string;
  readonly role: string;
  readonly version: number;
}

/**
 * Why and how a connection closed.
 *
 * @example
 * ```ts
 * const { reason, byPeer } = await comm.closed;
 * ```
 */
export interface CommCloseInfo {
  /** This end's address. */
  readonly local: string;
  /** The peer's address. */
  readonly peer: string;
  readonly reason: string;
  /** True when the peer closed it (said goodbye or hung up). */
  readonly byPeer: boolean;
  /** The error behind the close, for protocol errors, lost connections and throwing handlers. */
  readonly error?: Error;
}

/**
 * A failed connection attempt that will be tried again.
 *
 * @example
 * ```ts
 * await connect(address, { log: (e) => e.kind === "connect-retry" && console.error(e.error) });
 * ```
 */
export interface ConnectRetryInfo {
  readonly address: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly elapsedMs: number;
  readonly error: string;
}

function limitsOf(o: CommOptions): WireLimits {
  const maxMessageBytes = o.maxMessageBytes ?? DEFAULT_LIMITS.maxMessageBytes;
  const maxFrames = o.maxFrames ?? DEFAULT_LIMITS.maxFrames;
  const maxValueBytes = o.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 64) throw new TypeError(`maxMessageBytes must be an integer of at least 64, got ${maxMessageBytes}`);
  if (!Number.isInteger(maxFrames) || maxFrames < 1 || maxFrames > 0xffffffff) throw new TypeError(`maxFrames must be an integer from 1 to 2^32-1, got ${maxFrames}`);
  if (!Number.isSafeInteger(maxValueBytes) || maxValueBytes < 64 || maxValueBytes >= 2 ** 51) throw new TypeError(`maxValueBytes must be an integer from 64 to 2^51-1, got ${maxValueBytes}`);
  for (const k of ["partBytes", "highWaterMark"] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) throw new TypeError(`${k} must be a positive integer, got ${v}`);
  }
  return { maxMessageBytes, maxFrames, maxValueBytes };
}

function text(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface Hello {
  readonly protocol: string;
  readonly version: number;
  readonly name: string;
  readonly role: string;
  readonly maxMessageBytes: number;
  readonly maxFrames: number;
  readonly maxValueBytes: number;
}

/** PART envelope overhead: count, kind, one length. */
const PART_PRELUDE = 16;

// ---------------------------------------------------------------- the comm

type State = "handshake" | "open" | "closing" | "closed";

/**
 * A connected, batched, bidirectional message channel over a TCP socket.
 * Made by {@link connect} and {@link TcpListener}; it can also wrap a
 * socket that is already connected.
 *
 * @example
 * ```ts
 * const comm = await connect("tcp://127.0.0.1:8786", { role: "client" });
 * comm.onMessages((batch) => batch.forEach(handle));
 * comm.send({ op: "ping" });
 * await comm.close("done");
 * ```
 */
export class TcpComm<Out = unknown, In = unknown> {
  /** This end's address, `tcp://host:port`. */
  readonly localAddress: string;
  /** The peer's address, `tcp://host:port`. */
  readonly peerAddress: string;
  /** Resolves with the peer's handshake; rejects if the connection closes first or the versions differ. */
  readonly ready: Promise<PeerInfo>;
  /** Resolves, once, when the connection stops being usable, with the reason. */
  readonly closed: Promise<CommCloseInfo>;

  private state: State = "handshake";
  private peerInfo: PeerInfo | undefined;
  private closeInfo: CommCloseInfo | undefined;
  private readonly limits: WireLimits;
  private readonly writer: BatchWriter;
  private readonly reader: EnvelopeReader;
  private readonly decoder = new FrameDecoder();
  private outgoing: SealedBatch[] = [];
  private outgoingBytes = 0;
  /** The streams of the batch being sent: its frames, which stream, where it is. */
  private pumping: { frames: Uint8Array[]; streamed: readonly number[]; next: number; offset: number; left: number } | undefined;
  private readonly partBytes: number;
  private readonly highWaterMark: number;
  private lastReceived = performance.now();
  private scheduled = false;
  private handler: ((batch: In[]) => void) | undefined;
  private inbox: In[][] = [];
  private draining = false;
  private drainWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private handshakeTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private resolveReady!: (p: PeerInfo) => void;
  private rejectReady!: (e: Error) => void;
  private resolveClosed!: (info: CommCloseInfo) => void;
  private resolveGone!: () => void;
  private readonly gone: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly options: CommOptions = {},
  ) {
    this.limits = limitsOf(options);
    this.partBytes = options.partBytes ?? DEFAULT_PART_BYTES;
    this.highWaterMark = options.highWaterMark ?? 2 ** 20;
    this.writer = new BatchWriter(this.limits, { partBytes: this.partBytes });
    this.reader = new EnvelopeReader(this.limits, (kind, frames) => this.onEnvelope(kind, frames));
    this.localAddress = formatAddress(socket.localAddress ?? "?", socket.localPort ?? 0);
    this.peerAddress = formatAddress(socket.remoteAddress ?? "?", socket.remotePort ?? 0);
    this.ready = new Promise<PeerInfo>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined); // the rejection is also reported through `closed`
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.gone = new Promise((resolve) => (this.resolveGone = resolve));

    socket.setNoDelay(true);
    socket.setKeepAlive(true, 15_000);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => this.terminate("the peer hung up without saying why (it may have exited)", true));
    socket.on("error", (err) => this.terminate(`connection lost: ${err.message}`, true, err));
    socket.on("close", () => {
      this.terminate("the connection was closed", true);
      this.state = "closed";
      clearTimeout(this.graceTimer);
      this.resolveGone();
    });
    socket.on("drain", () => {
      if (this.pumping !== undefined) this.pump();
      this.wakeDrainWaiters();
    });

    const ms = options.handshakeTimeoutMs ?? 10_000;
    this.handshakeTimer = setTimeout(
      () => this.fail(new ProtocolError(this.peerAddress, `no handshake within ${ms} ms`)),
      ms,
    );
    this.handshakeTimer.unref();
    const hello: Hello = {
      protocol: PROTOCOL_NAME,
      version: PROTOCOL_VERSION,
      name: options.name ?? "",
      role: options.role ?? "",
      maxMessageBytes: this.limits.maxMessageBytes,
      maxFrames: this.limits.maxFrames,
      maxValueBytes: this.limits.maxValueBytes!,
    };
    if (socket.writable) writeEnvelope(socket, ENVELOPE.HELLO, encodeFrames(hello));
  }

  /** The peer's handshake, once it has arrived. */
  get peer(): PeerInfo | undefined {
    return this.peerInfo;
  }

  /** The limits a message sent here must fit: this end's, and once the handshake is done the smaller of both ends'. */
  get sendLimits(): WireLimits {
    return this.writer.sendLimits;
  }

  /** True once the connection is closing or closed: `send` would throw. */
  get isClosed(): boolean {
    return this.closeInfo !== undefined;
  }

  /** Bytes sent but not yet taken by the operating system: queued messages plus the socket's buffer. */
  get bufferedBytes(): number {
    return this.writer.bytes + this.outgoingBytes + (this.pumping?.left ?? 0) + this.socket.writableLength;
  }

  /** True while more than `highWaterMark` bytes wait to be sent: {@link drained} would wait. */
  get needsDrain(): boolean {
    return this.bufferedBytes > this.highWaterMark;
  }

  /** Bytes received on this connection so far. */
  get bytesReceived(): number {
    return this.socket.bytesRead;
  }

  /** When bytes last arrived (or the comm was made), on the `performance.now()` clock: for timeouts that progress resets. */
  get lastReceivedAt(): number {
    return this.lastReceived;
  }

  /**
   * Set the callback for incoming batches (one array per envelope, in
   * order). Batches that arrived before it was set are delivered right after.
   * A callback that throws closes the connection.
   */
  onMessages(handler: (batch: In[]) => void): void {
    this.handler = handler;
    if (this.inbox.length > 0 && !this.draining) {
      this.draining = true;
      queueMicrotask(() => {
        while (this.inbox.length > 0 && this.handler !== undefined) this.call(this.inbox.shift()!);
        this.draining = false;
      });
    }
  }

  /**
   * Queue a message; it leaves with the rest of this turn's batch. Throws
   * {@link SerializeError} or {@link MessageTooLargeError} for a message that
   * cannot be sent (nothing else is affected), and {@link CommClosedError}
   * once the connection is closed.
   */
  send(msg: Out): void {
    if (this.closeInfo !== undefined) throw new CommClosedError(this.peerAddress, this.closeInfo.reason);
    if (!this.writer.add(msg)) {
      this.seal();
      this.writer.add(msg);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Write everything queued now instead of at the end of the turn. */
  flush(): void {
    this.scheduled = false;
    if (this.state !== "open" && this.state !== "closing") return;
    this.seal();
    // While a stream is being sent, later batches wait behind it: batches stay in order.
    if (this.outgoing.length === 0 || !this.socket.writable || this.pumping !== undefined) return;
    const out = this.outgoing;
    let i = 0;
    for (; i < out.length; i++) {
      const b = out[i]!;
      if (b.streamed.length === 0) {
        writeEnvelope(this.socket, ENVELOPE.BATCH, b.frames);
        continue;
      }
      writeStreamedBatch(this.socket, b.frames, b.streamed);
      let left = 0;
      for (const j of b.streamed) left += b.frames[j]!.byteLength;
      this.pumping = { frames: b.frames, streamed: b.streamed, next: 0, offset: 0, left };
      i++;
      break;
    }
    if (i === out.length) {
      this.outgoing = [];
      this.outgoingBytes = 0;
    } else {
      this.outgoing = out.slice(i);
      this.outgoingBytes = 0;
      for (const b of this.outgoing) for (const f of b.frames) this.outgoingBytes += f.byteLength;
    }
    if (this.pumping !== undefined) this.pump();
  }

  /**
   * Send the current stream's parts while the socket takes them: at most
   * about one part waits in the socket's buffer, the rest when it drains.
   */
  private pump(): void {
    const p = this.pumping!;
    if (!this.socket.writable) return;
    // Parts are at most what the peer accepts in one envelope.
    const part = Math.max(1, Math.min(this.partBytes, this.writer.sendLimits.maxMessageBytes - PART_PRELUDE));
    // Keep writing until the socket asks for a drain (so one will come) and holds about a part.
    while (p.next < p.streamed.length && (!this.socket.writableNeedDrain || this.socket.writableLength < part)) {
      const f = p.frames[p.streamed[p.next]!]!;
      const n = Math.min(part, f.byteLength - p.offset);
      writePart(this.socket, f.subarray(p.offset, p.offset + n));
      p.offset += n;
      p.left -= n;
      if (p.offset === f.byteLength) {
        p.next++;
        p.offset = 0;
      }
    }
    if (p.next < p.streamed.length) return; // more on 'drain'
    this.pumping = undefined;
    if (this.outgoing.length > 0) this.flush();
  }

  /**
   * Resolves when everything sent so far has been handed to the operating
   * system (at once if the socket's buffer is below its high-water mark);
   * rejects with {@link CommClosedError} if the connection closes first.
   */
  drained(): Promise<void> {
    if (this.closeInfo !== undefined) return Promise.reject(new CommClosedError(this.peerAddress, this.closeInfo.reason));
    if (this.state === "open") this.flush();
    if (this.state === "open" && !this.needsDrain) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  /**
   * Close: send what is queued, tell the peer why, end the connection.
   * `error`, when given, is reported with the close as what caused it.
   * Resolves when the socket is gone (the peer closed its end too, or
   * `closeTimeoutMs` passed).
   */
  close(reason = "closed by this side", error?: Error): Promise<void> {
    this.terminate(reason, false, error);
    return this.gone;
  }

  /**
   * Drop the connection at once: no goodbye, nothing queued is sent, the
   * peer sees the socket reset, as after a network cut.
   *
   * @example
   * ```ts
   * comm.destroy("the test cuts the cable");
   * (await comm.closed).reason; // "the test cuts the cable"
   * ```
   */
  destroy(reason = "destroyed by this side"): void {
    this.socket.destroy();
    this.terminate(reason, false);
  }

  private seal(): void {
    const batch = this.writer.takeBatch();
    if (batch === undefined) return;
    this.outgoing.push(batch);
    for (const f of batch.frames) this.outgoingBytes += f.byteLength;
  }

  private wakeDrainWaiters(): void {
    if (this.state !== "open" || this.drainWaiters.length === 0 || this.needsDrain) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w.resolve();
  }

  private onData(chunk: Buffer): void {
    this.lastReceived = performance.now();
    try {
      this.reader.push(chunk);
    } catch (e) {
      this.fail(e);
    }
  }

  private onEnvelope(kind: EnvelopeKind, frames: Uint8Array[]): void {
    if (this.closeInfo !== undefined) return;
    if (this.state === "handshake") {
      if (kind !== ENVELOPE.HELLO) throw new ProtocolError(this.peerAddress, "the first message was not a handshake (is the peer a dask-ts process?)");
      return this.onHello(this.decoder.decode(frames));
    }
    if (kind === ENVELOPE.HELLO) throw new ProtocolError(this.peerAddress, "a second handshake");
    if (kind === ENVELOPE.GOODBYE) {
      const bye = this.decoder.decode(frames) as { reason?: unknown } | null;
      const why = typeof bye === "object" && bye !== null && typeof bye.reason === "string" ? bye.reason : "no reason given";
      this.terminate(`the peer closed the connection: ${why}`, true);
      return;
    }
    const batch = this.decoder.decodeBatch(frames) as In[];
    if (this.handler === undefined || this.draining) this.inbox.push(batch);
    else this.call(batch);
  }

  private onHello(h: unknown): void {
    const hello = h as Partial<Hello> | null;
    if (typeof hello !== "object" || hello === null || hello.protocol !== PROTOCOL_NAME || typeof hello.version !== "number") {
      throw new ProtocolError(this.peerAddress, "the handshake is not a dask-ts handshake");
    }
    if (hello.version !== PROTOCOL_VERSION) throw new ProtocolVersionError(this.peerAddress, PROTOCOL_VERSION, hello.version);
    const theirBytes = Number.isSafeInteger(hello.maxMessageBytes) && hello.maxMessageBytes! >= 64 ? hello.maxMessageBytes! : DEFAULT_LIMITS.maxMessageBytes;
    const theirFrames = Number.isInteger(hello.maxFrames) && hello.maxFrames! >= 1 ? hello.maxFrames! : DEFAULT_LIMITS.maxFrames;
    const theirValue = Number.isSafeInteger(hello.maxValueBytes) && hello.maxValueBytes! >= 64 ? hello.maxValueBytes! : DEFAULT_MAX_VALUE_BYTES;
    this.writer.setLimits({
      maxMessageBytes: Math.min(this.limits.maxMessageBytes, theirBytes),
      maxFrames: Math.min(this.limits.maxFrames, theirFrames),
      maxValueBytes: Math.min(this.limits.maxValueBytes!, theirValue),
    });
    clearTimeout(this.handshakeTimer);
    this.peerInfo = {
      address: this.peerAddress,
      name: typeof hello.name === "string" ? hello.name : "",
      role: typeof hello.role === "string" ? hello.role : "",
      version: hello.version,
    };
    this.state = "open";
    this.resolveReady(this.peerInfo);
    this.flush();
    this.wakeDrainWaiters();
  }

  private call(batch: In[]): void {
    try {
      this.handler!(batch);
    } catch (e) {
      this.terminate(`a message handler threw: ${text(e)}`, false, e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Close because of bad input or a failed handshake. */
  private fail(e: unknown): void {
    let err: Error;
    let reason: string;
    if (e instanceof ProtocolVersionError) {
      err = e;
      reason = `protocol version mismatch: this side speaks version ${e.localVersion}, the peer speaks version ${e.peerVersion}`;
    } else if (e instanceof ProtocolError) {
      err = e.address === "" ? new ProtocolError(this.peerAddress, e.reason, e.cause) : e;
      reason = `protocol error: ${e.reason}`;
    } else if (e instanceof DaskError) {
      err = e;
      reason = e.message;
    } else {
      err = new ProtocolError(this.peerAddress, text(e), e);
      reason = `protocol error: ${text(e)}`;
    }
    this.terminate(reason, false, err);
  }

  private terminate(reason: string, byPeer: boolean, error?: Error): void {
    if (this.closeInfo !== undefined) return;
    const wasOpen = this.state === "open";
    const info: CommCloseInfo = error === undefined
      ? { local: this.localAddress, peer: this.peerAddress, reason, byPeer }
      : { local: this.localAddress, peer: this.peerAddress, reason, byPeer, error };
    this.closeInfo = info;
    if (this.state !== "closed") this.state = "closing";
    clearTimeout(this.handshakeTimer);
    this.reader.stop();
    if (commCloseChannel.hasSubscribers) commCloseChannel.publish(info);
    try {
      this.options.log?.({ kind: "close", ...info });
    } catch {
      // a throwing logger must not stop the close
    }
    this.resolveClosed(info);
    this.rejectReady(error ?? new CommClosedError(this.peerAddress, reason));
    const closedErr = new CommClosedError(this.peerAddress, reason);
    for (const w of this.drainWaiters.splice(0)) w.reject(closedErr);

    const s = this.socket;
    if (s.destroyed) return;
    if (s.writable) {
      if (!byPeer) {
        if (wasOpen) this.flush();
        writeEnvelope(s, ENVELOPE.GOODBYE, encodeFrames({ reason }));
      }
      s.end();
    }
    this.outgoing = [];
    this.outgoingBytes = 0;
    this.pumping = undefined;
    this.writer.take();
    // Keep reading (and ignoring) until the peer closes its end, so our goodbye is not lost to a reset.
    this.graceTimer = setTimeout(() => s.destroy(), this.options.closeTimeoutMs ?? 1_000);
    this.graceTimer.unref();
  }
}

// ---------------------------------------------------------------- connect

/**
 * Options of {@link connect}: the comm's own, and how long and how to retry.
 *
 * @example
 * ```ts
 * await connect(address, { timeoutMs: 5_000, initialBackoffMs: 20, maxBackoffMs: 500 });
 * ```
 */
export interface ConnectOptions extends CommOptions {
  /** Give up after this long (connecting and handshake included). Default 30 s. */
  readonly timeoutMs?: number;
  /** First delay between attempts; it doubles each time. Default 10 ms. */
  readonly initialBackoffMs?: number;
  /** Longest delay between attempts. Default 1 s. */
  readonly maxBackoffMs?: number;
  /** Stop retrying when this aborts (the promise rejects with the signal's reason). */
  readonly signal?: AbortSignal;
}

function openSocket(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${Math.round(timeoutMs)} ms`));
    }, timeoutMs);
    const onError = (e: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", onError);
      resolve(socket);
    });
  });
}

/** Errors that will not go away by trying again. */
function fatal(e: unknown): boolean {
  return e instanceof ProtocolVersionError || e instanceof ProtocolError;
}

/**
 * Connect to `tcp://host:port` and complete the handshake. Failed attempts
 * (refused, reset, unreachable, closed during the handshake) are retried
 * with exponential backoff and jitter until `timeoutMs`, then a
 * {@link ConnectTimeoutError} names the address and the time spent. A peer
 * of another protocol version fails at once with
 * {@link ProtocolVersionError}; a bad address with
 * {@link InvalidAddressError}.
 *
 * @example
 * ```ts
 * const comm = await connect("tcp://scheduler:8786", { role: "worker", timeoutMs: 10_000 });
 * ```
 */
/** Wait `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export async function connect<Out = unknown, In = unknown>(address: string, options: ConnectOptions = {}): Promise<TcpComm<Out, In>> {
  const { host, port } = parseAddress(address);
  if (port === 0) throw new InvalidAddressError(address, "port 0 can be listened on but not connected to");
  limitsOf(options);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxBackoff = options.maxBackoffMs ?? 1_000;
  let backoff = options.initialBackoffMs ?? 10;
  const start = performance.now();
  let attempt = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    attempt++;
    let lastError: unknown;
    const remaining = timeoutMs - (performance.now() - start);
    try {
      const socket = await openSocket(host, port, Math.max(1, remaining));
      const comm = new TcpComm<Out, In>(socket, options);
      let timer: NodeJS.Timeout | undefined;
      const left = Math.max(1, timeoutMs - (performance.now() - start));
      try {
        await Promise.race([
          comm.ready,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no handshake within ${Math.round(left)} ms`)), left);
          }),
        ]);
      } catch (e) {
        void comm.close(`connecting failed: ${text(e)}`);
        throw e;
      } finally {
        clearTimeout(timer);
      }
      return comm;
    } catch (e) {
      if (fatal(e)) throw e;
      lastError = e;
    }
    const elapsed = performance.now() - start;
    if (elapsed >= timeoutMs) {
      throw new ConnectTimeoutError(address, elapsed, attempt, text(lastError), lastError);
    }
    // Full jitter around the current step keeps many workers that lost the same scheduler from retrying in lockstep.
    const delay = Math.min(backoff * (0.5 + Math.random()), maxBackoff, timeoutMs - elapsed);
    const info: ConnectRetryInfo = { address, attempt, delayMs: Math.round(delay), elapsedMs: Math.round(elapsed), error: text(lastError) };
    if (connectRetryChannel.hasSubscribers) connectRetryChannel.publish(info);
    try {
      options.log?.({ kind: "connect-retry", ...info });
    } catch {
      // a throwing logger does not stop the retries
    }
    await sleep(delay, options.signal);
    backoff = Math.min(2 * backoff, maxBackoff);
  }
}

// ---------------------------------------------------------------- listen

/**
 * Options of {@link listen}.
 *
 * @example
 * ```ts
 * await listen({ host: "0.0.0.0", port: 8786, role: "scheduler" });
 * ```
 */
export interface ListenOptions extends CommOptions {
  /** Interface to listen on. Default `127.0.0.1`; `0.0.0.0` or `::` for every interface. */
  readonly host?: string;
  /** Port; 0 (the default) picks a free one. */
  readonly port?: number;
}

/**
 * Accepts connections and hands each one over once its handshake is done.
 *
 * @example
 * ```ts
 * const listener = await listen({ port: 0, role: "scheduler" });
 * console.log(listener.address); // tcp://127.0.0.1:40123
 * listener.onConnection((comm) => serve(comm));
 * ```
 */
export class TcpListener<Out = unknown, In = unknown> {
  /** Where peers can connect: `tcp://host:port`, with the port actually bound. */
  readonly address: string;
  private handler: ((comm: TcpComm<Out, In>) => void) | undefined;
  private waiting: TcpComm<Out, In>[] = [];
  private readonly comms = new Set<TcpComm<Out, In>>();
  private closing: Promise<void> | undefined;

  /** Use {@link listen}. */
  constructor(
    private readonly server: Server,
    private readonly options: CommOptions,
  ) {
    const a = server.address();
    this.address = a !== null && typeof a === "object" ? formatAddress(a.address, a.port) : String(a);
    server.on("connection", (socket) => this.accept(socket));
    server.on("error", (error) => {
      try {
        options.log?.({ kind: "listener-error", address: this.address, error });
      } catch {
        // ignored: a listener error must not crash the process
      }
    });
  }

  /** Connections accepted and not yet closed (handshaking ones included). */
  get connections(): number {
    return this.comms.size;
  }

  /** Set the callback for new connections; ones that arrived before it was set are handed over right after. */
  onConnection(handler: (comm: TcpComm<Out, In>) => void): void {
    this.handler = handler;
    const waiting = this.waiting;
    this.waiting = [];
    if (waiting.length > 0) queueMicrotask(() => waiting.forEach((c) => this.deliver(c)));
  }

  /** Stop accepting, close every connection it accepted, and resolve when all are gone. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
      await Promise.all([...this.comms].map((c) => c.close("the listener closed")));
      await stopped;
    })();
    return this.closing;
  }

  private accept(socket: Socket): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    const comm = new TcpComm<Out, In>(socket, this.options);
    this.comms.add(comm);
    void comm.closed.then(() => this.comms.delete(comm));
    comm.ready.then(
      () => {
        if (comm.isClosed) return;
        if (this.handler === undefined) this.waiting.push(comm);
        else this.deliver(comm);
      },
      () => undefined, // already published on the close channel
    );
  }

  private deliver(comm: TcpComm<Out, In>): void {
    if (comm.isClosed) return;
    try {
      this.handler!(comm);
    } catch (e) {
      void comm.close(`the connection handler threw: ${text(e)}`);
    }
  }
}

/**
 * Listen for connections on `host:port` (port 0 picks a free port, see
 * {@link TcpListener.address}).
 *
 * @example
 * ```ts
 * const listener = await listen({ port: 0 });
 * listener.onConnection((comm) => comm.onMessages((batch) => console.log(batch)));
 * ```
 */
export async function listen<Out = unknown, In = unknown>(options: ListenOptions = {}): Promise<TcpListener<Out, In>> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 0;
  parseAddress(formatAddress(host, port)); // validates both, with the same messages as for connect
  limitsOf(options);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return new TcpListener<Out, In>(server, options);
}
