/**
 * The in-process transport: messages between threads over a `MessagePort`
 * (or a `Worker`, which has the same shape). Sends are batched: everything
 * sent during one turn of the event loop goes out as one `postMessage` of an
 * array, which is what makes tens of thousands of tiny task messages cheap.
 * Buffers listed as transferable move instead of being copied.
 *
 * @example
 * ```ts
 * const comm = new InprocComm(worker, (msgs) => msgs.forEach(handle));
 * comm.send({ op: "free-keys", keys: ["x"] });
 * ```
 * @module
 */

import type { MessagePort } from "node:worker_threads";

/** What may move between threads without a copy. */
export type Transferable = ArrayBuffer | MessagePort;

/** The part of `MessagePort` / `Worker` this transport uses. */
export interface PortLike {
  postMessage(value: unknown, transferList?: readonly Transferable[]): void;
  on(event: "message", listener: (value: unknown) => void): unknown;
  off?(event: "message", listener: (value: unknown) => void): unknown;
}

/** Optional transformation of whole batches, e.g. packing many small messages into columns. */
export interface BatchCodec {
  encode(batch: readonly unknown[]): unknown[];
  decode(batch: readonly unknown[]): unknown[];
}

/** A batched, bidirectional message channel over a port. */
export class InprocComm<Out = unknown, In = unknown> {
  private pending: Out[] = [];
  private transfer: Transferable[] = [];
  /** Each pending message's own transfers (for the one-by-one fallback), when any message has some. */
  private own: (readonly Transferable[] | undefined)[] | undefined;
  private scheduled = false;
  private closed = false;
  private readonly listener: (value: unknown) => void;

  constructor(
    private readonly port: PortLike,
    onMessages: (msgs: In[]) => void,
    private readonly codec?: BatchCodec,
    /** Told about each message that cannot be cloned (a function or symbol inside it); the rest are still sent. */
    private readonly onUnsendable?: (msg: Out, err: Error) => void,
  ) {
    this.listener = (value) => {
      if (!this.closed) onMessages((codec === undefined ? value : codec.decode(value as unknown[])) as In[]);
    };
    port.on("message", this.listener);
  }

  /** Queue a message; it leaves with the rest of this turn's batch. */
  send(msg: Out, transfer?: readonly Transferable[]): void {
    if (this.closed) return;
    if (transfer !== undefined && transfer.length > 0) {
      this.own ??= this.pending.map(() => undefined);
      this.own.push(transfer);
      for (const b of transfer) this.transfer.push(b);
    } else this.own?.push(undefined);
    this.pending.push(msg);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Send the queued batch now. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0 || this.closed) return;
    const batch = this.pending;
    const transfer = this.transfer;
    const own = this.own;
    this.pending = [];
    this.transfer = [];
    this.own = undefined;
    try {
      this.port.postMessage(this.codec === undefined ? batch : this.codec.encode(batch), transfer);
    } catch {
      // A value that cannot be cloned spoils the whole batch: send the messages one by one,
      // each with its own transfers, and report the culprits.
      batch.forEach((msg, i) => {
        try {
          this.port.postMessage(this.codec === undefined ? [msg] : this.codec.encode([msg]), own?.[i] ?? []);
        } catch (e) {
          if (this.onUnsendable === undefined) throw e;
          this.onUnsendable(msg, e as Error);
        }
      });
    }
  }

  /** Stop sending and receiving. */
  close(): void {
    this.closed = true;
    this.pending = [];
    this.port.off?.("message", this.listener);
  }
}
