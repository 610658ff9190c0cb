// Helpers for the transport tests: bounded waits on diagnostics-channel
// events, and raw sockets that speak (or mangle) the wire protocol by hand.
import diagnostics_channel from "node:diagnostics_channel";
import { connect as netConnect, type Socket } from "node:net";
import { ENVELOPE, EnvelopeReader, writeEnvelope, type EnvelopeKind } from "../../src/comm/frames.js";
import { DEFAULT_LIMITS, decodeFrames, encodeFrames } from "../../src/serialize/wire.js";
import { formatAddress, parseAddress, PROTOCOL_VERSION, type CommCloseInfo } from "../../src/comm/tcp.js";

/** The next close published on `dask-ts:comm:close` that matches; rejects after `timeoutMs`. */
export function nextClose(match: (info: CommCloseInfo) => boolean, timeoutMs = 10_000): Promise<CommCloseInfo> {
  return new Promise((resolve, reject) => {
    const onClose = (m: unknown): void => {
      const info = m as CommCloseInfo;
      if (!match(info)) return;
      clearTimeout(timer);
      diagnostics_channel.unsubscribe("dask-ts:comm:close", onClose);
      resolve(info);
    };
    const timer = setTimeout(() => {
      diagnostics_channel.unsubscribe("dask-ts:comm:close", onClose);
      reject(new Error(`no matching close published within ${timeoutMs} ms`));
    }, timeoutMs);
    diagnostics_channel.subscribe("dask-ts:comm:close", onClose);
  });
}

/** A plain TCP connection to a listener's address. */
export function rawSocket(address: string): Promise<Socket> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve, reject) => {
    const s = netConnect({ host, port }, () => {
      s.off("error", reject);
      resolve(s);
    });
    s.once("error", reject);
  });
}

/** The address the other end sees for a raw socket. */
export function addressOf(s: Socket): string {
  return formatAddress(s.localAddress!, s.localPort!);
}

/** Send a handshake by hand, claiming `version`. */
export function sendHello(s: Socket, version = PROTOCOL_VERSION, limits = DEFAULT_LIMITS): void {
  writeEnvelope(s, ENVELOPE.HELLO, encodeFrames({ protocol: "dask-ts", version, name: "raw", role: "test", ...limits }));
}

/** The envelopes a raw socket receives until the connection closes (bounded by `timeoutMs`). */
export function envelopesUntilClosed(s: Socket, timeoutMs = 10_000): Promise<{ kind: EnvelopeKind; value: unknown }[]> {
  const got: { kind: EnvelopeKind; value: unknown }[] = [];
  const reader = new EnvelopeReader(DEFAULT_LIMITS, (kind, frames) => got.push({ kind, value: decodeFrames(frames) }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`the connection was not closed within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on("data", (chunk: Buffer) => reader.push(chunk));
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

/** The reason in the goodbye envelope among `envelopes`, if any. */
export function goodbyeReason(envelopes: readonly { kind: EnvelopeKind; value: unknown }[]): string | undefined {
  const bye = envelopes.find((e) => e.kind === ENVELOPE.GOODBYE);
  return bye === undefined ? undefined : (bye.value as { reason: string }).reason;
}

/** Resolve after `n` turns of the event loop (lets pending I/O callbacks run; no timers). */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}
