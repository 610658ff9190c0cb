/**
 * Request/response on top of a {@link TcpComm}, for the scheduler, worker
 * and client servers: handlers by `op` name, `request(op, args)` resolved by
 * the reply with the same id, errors carried across as their own classes.
 * Both ends may serve and request on the same connection.
 *
 * Messages are `{ op, id, args }` (a request) and `{ re, value }` or
 * `{ re, error }` (its reply); they travel in the comm's batches with
 * everything else, so many concurrent requests cost one write per turn.
 *
 * Policy on bad input: a request for an `op` with no handler, or a message
 * that is neither a request nor a reply, closes the connection with the
 * reason (published on `dask-ts:comm:close`, with a {@link ProtocolError}).
 * The issue asks for this, and it is what Dask does on its batched streams;
 * Dask's request/response server instead logs a warning and replies with an
 * empty result, which leaves the caller to guess what went wrong. Here the
 * caller's pending requests fail with a {@link CommClosedError} whose reason
 * names the op, since the close carries it to the peer. A handler that
 * throws (or rejects) is not bad input: its error is the reply.
 *
 * @example
 * ```ts
 * listener.onConnection((comm) => new Rpc(comm, { add: (args) => (args as number[])[0]! + (args as number[])[1]! }));
 * const rpc = new Rpc(await connect(listener.address));
 * await rpc.request("add", [1, 2]); // 3
 * ```
 * @module
 */
import { CommClosedError, deserializeError, ProtocolError, SerializeError, serializeError, type SerializedError } from "../core/errors.js";
import type { CommCloseInfo, PeerInfo, TcpComm } from "./tcp.js";

/**
 * What a handler is told besides its arguments.
 *
 * @example
 * ```ts
 * const whoami: RpcHandler = (_args, ctx) => ctx.peer?.name;
 * ```
 */
export interface RpcContext {
  /** The peer's handshake. */
  readonly peer: PeerInfo | undefined;
  /** The endpoint that received the request (to call back the peer). */
  readonly rpc: Rpc;
}

/**
 * Serves one `op`: returns the reply's value, or a promise of it; a throw or
 * rejection becomes the caller's error.
 *
 * @example
 * ```ts
 * const echo: RpcHandler = (args) => args;
 * ```
 */
export type RpcHandler = (args: unknown, context: RpcContext) => unknown;

interface Waiting {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * One end of a request/response conversation over a comm. It takes over the
 * comm's message callback.
 *
 * @example
 * ```ts
 * const rpc = new Rpc(await connect(address), { ping: () => "pong" });
 * const reply = await rpc.request<string>("ping");
 * ```
 */
export class Rpc {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private readonly handlers: Readonly<Record<string, RpcHandler>>;

  constructor(
    /** The connection it runs over. */
    readonly comm: TcpComm,
    handlers: Readonly<Record<string, RpcHandler>> = {},
  ) {
    this.handlers = handlers;
    comm.onMessages((batch) => this.receive(batch));
    void comm.closed.then((info) => {
      const err = new CommClosedError(info.peer, info.reason);
      const waiting = [...this.waiting.values()];
      this.waiting.clear();
      for (const w of waiting) w.reject(err);
    });
  }

  /** Requests sent and not yet answered. */
  get pending(): number {
    return this.waiting.size;
  }

  /** True once the connection is closing or closed. */
  get isClosed(): boolean {
    return this.comm.isClosed;
  }

  /** Resolves when the connection closes, with the reason. */
  get closed(): Promise<CommCloseInfo> {
    return this.comm.closed;
  }

  /**
   * Ask the peer to run `op` with `args`; resolves with its reply, rejects
   * with the handler's error (rebuilt as its own class), with
   * {@link CommClosedError} if the connection closes first, or with the
   * signal's reason if `signal` aborts first (a late reply is then ignored).
   */
  request<R = unknown>(op: string, args?: unknown, options: { readonly signal?: AbortSignal } = {}): Promise<R> {
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiting.delete(id);
        reject(signal!.reason);
      };
      this.waiting.set(id, {
        resolve: (v) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(v as R);
        },
        reject: (e) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        this.comm.send({ op, id, args });
      } catch (e) {
        this.waiting.delete(id);
        signal?.removeEventListener("abort", onAbort);
        reject(relative(e, ".args", `in the arguments of ${op}`));
      }
    });
  }

  /** Close the connection; pending requests fail with {@link CommClosedError}. */
  close(reason = "closed by this side"): Promise<void> {
    return this.comm.close(reason);
  }

  private receive(batch: unknown[]): void {
    for (const m of batch) {
      if (this.comm.isClosed) return;
      const msg = m as { op?: unknown; id?: unknown; args?: unknown; re?: unknown; value?: unknown; error?: unknown } | null;
      if (typeof msg === "object" && msg !== null && typeof msg.op === "string" && typeof msg.id === "number") {
        if (!Object.hasOwn(this.handlers, msg.op)) {
          this.refuse(`unknown op ${JSON.stringify(msg.op)}`);
          return;
        }
        this.serve(msg.op, msg.id, msg.args);
      } else if (typeof msg === "object" && msg !== null && typeof msg.re === "number") {
        const w = this.waiting.get(msg.re);
        if (w === undefined) continue; // answered after its caller gave up
        this.waiting.delete(msg.re);
        if (msg.error !== undefined) w.reject(deserializeError(msg.error as SerializedError));
        else w.resolve(msg.value);
      } else {
        this.refuse("a message that is neither an rpc request nor a reply");
        return;
      }
    }
  }

  /** Close the connection over bad input, with the reason as a {@link ProtocolError}. */
  private refuse(reason: string): void {
    void this.comm.close(reason, new ProtocolError(this.comm.peerAddress, reason));
  }

  private serve(op: string, id: number, args: unknown): void {
    let result: unknown;
    try {
      result = this.handlers[op]!(args, { peer: this.comm.peer, rpc: this });
    } catch (e) {
      this.reply(op, id, undefined, e);
      return;
    }
    if (typeof (result as PromiseLike<unknown> | null)?.then === "function") {
      (result as PromiseLike<unknown>).then(
        (v) => this.reply(op, id, v),
        (e: unknown) => this.reply(op, id, undefined, e ?? new Error(String(e))),
      );
    } else this.reply(op, id, result);
  }

  private reply(op: string, id: number, value: unknown, error?: unknown): void {
    if (this.comm.isClosed) return;
    try {
      this.comm.send(error === undefined ? { re: id, value } : { re: id, error: serializeError(error) });
    } catch (e) {
      // The value cannot be sent (a function in it, too large): the caller gets that error instead.
      this.comm.send({ re: id, error: serializeError(relative(e, ".value", `in the reply of ${op}`)) });
    }
  }
}

/** A {@link SerializeError} about a request or reply, with the path made relative to the arguments or the value. */
function relative(e: unknown, prefix: string, where: string): unknown {
  if (!(e instanceof SerializeError) || !e.path.startsWith(prefix)) return e;
  return new SerializeError(e.path.slice(prefix.length), `${e.reason} (${where})`);
}
