/**
 * Deterministic names for values. `tokenize(fn, ...args)` gives the same
 * 32-hex-digit token for the same function and arguments in every run and
 * every process, so equal keys mean equal results and repeated work is shared.
 *
 * Values are normalised into a byte stream and hashed with MD5 (fast, built
 * into Node; this is a content address, not a security boundary). Plain
 * objects are hashed with sorted keys, Maps and Sets order-independently,
 * typed arrays by their bytes and element type. An object may define its own
 * token with a `[tokenizeSymbol]()` method (collections do). Values with no
 * stable content — class instances without that method, closures, symbols —
 * get a random token per identity, so they never alias a different value.
 *
 * @example
 * ```ts
 * import { tokenize } from "dask-ts";
 * tokenize(1, "a") === tokenize(1, "a");            // true
 * tokenize(new Float64Array([1, 2])).length;        // 32
 * ```
 * @module
 */
import { createHash, randomBytes, type Hash } from "node:crypto";
import { fnRefOf } from "./functions.js";
import type { FnRef } from "./graph.js";

/**
 * Objects with this method supply their own token (for example a collection's name).
 *
 * @example
 * ```ts
 * class Point {
 *   constructor(readonly x: number, readonly y: number) {}
 *   [tokenizeSymbol]() { return `Point(${this.x},${this.y})`; }
 * }
 * tokenize(new Point(1, 2)) === tokenize(new Point(1, 2)); // true
 * ```
 */
export const tokenizeSymbol: unique symbol = Symbol.for("dask-ts.tokenize");

const identityTokens = new WeakMap<object, string>();
let counter = 0;
const processSalt = randomBytes(8).toString("hex");

/** A random token, unique in this process and very likely everywhere. */
export function randomToken(): string {
  // A counter behind a per-process random salt: far cheaper than randomUUID on hot paths.
  return `${processSalt}${(counter++).toString(16).padStart(16, "0")}`;
}

/** "00" to "ff". */
const BYTE_HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * A maker of keys `${name}-${randomToken()}` (the same keys, from the same
 * counter), for impure delayed calls: each call makes one. All but the last
 * two hex digits are kept between calls, so a key is one flat string
 * instead of four strings and a padding.
 *
 * @example
 * ```ts
 * const next = randomKeys("inc");
 * next(); // "inc-<16 hex salt><16 hex counter>"
 * ```
 */
export function randomKeys(name: string): () => string {
  let high = -1;
  // Joined rather than concatenated: `+` makes a rope that every Map and every postMessage has to
  // walk (and copy flat), join makes the flat string once.
  const parts = ["", ""];
  return () => {
    const n = counter++;
    const h = Math.floor(n / 256);
    if (h !== high) {
      high = h;
      parts[0] = `${name}-${processSalt}${h.toString(16).padStart(14, "0")}`;
    }
    parts[1] = BYTE_HEX[n & 255]!;
    return parts.join("");
  };
}

/** One random token per identity, remembered in `tokens`. */
function memoToken<K>(tokens: { get(k: K): string | undefined; set(k: K, t: string): unknown }, k: K): string {
  let t = tokens.get(k);
  if (t === undefined) {
    t = randomToken();
    tokens.set(k, t);
  }
  return t;
}

// Symbols cannot be WeakMap keys on Node 20; unique symbols are few, so a Map is fine.
const symbolTokens = new Map<symbol, string>();
const symbolToken = (s: symbol): string => memoToken(symbolTokens, s);
const identityToken = (o: object): string => memoToken(identityTokens, o);

class Writer {
  private readonly hash: Hash = createHash("md5");
  private text = "";
  str(s: string): void {
    this.text += s;
    if (this.text.length > 8192) this.flush();
  }
  bytes(b: Uint8Array): void {
    this.flush();
    this.hash.update(b);
  }
  flush(): void {
    if (this.text.length > 0) {
      // UTF-16 code units, so lone surrogates stay distinct (UTF-8 would turn them all into U+FFFD).
      this.hash.update(this.text, "utf16le");
      this.text = "";
    }
  }
  digest(): string {
    this.flush();
    return this.hash.digest("hex");
  }
}

function writeFnRef(w: Writer, ref: FnRef, seen: Set<object>): void {
  switch (ref.kind) {
    case "op":
      w.str(`Fop:${ref.name};`);
      return;
    case "module":
      w.str(`Fmod:${ref.specifier.length}:${ref.specifier}#${ref.exportName};`);
      return;
    case "global":
      w.str(`Fglb:${ref.path};`);
      return;
    case "source":
      w.str(`Fsrc:${ref.source.length}:${ref.source}`);
      if (ref.captures !== undefined) write(w, ref.captures, seen);
      w.str(";");
      return;
    case "local":
      // A closure's behaviour depends on values we cannot see: never equal to another closure.
      w.str(`Floc:${identityToken(ref.fn)};`);
      return;
  }
}

function write(w: Writer, v: unknown, seen: Set<object>): void {
  switch (typeof v) {
    case "number":
      w.str(Object.is(v, -0) ? "n-0;" : `n${v};`);
      return;
    case "string":
      w.str(`s${v.length}:${v}`);
      return;
    case "boolean":
      w.str(v ? "T" : "F");
      return;
    case "undefined":
      w.str("U");
      return;
    case "bigint":
      w.str(`b${v};`);
      return;
    case "symbol": {
      const k = Symbol.keyFor(v);
      w.str(k === undefined ? `y${symbolToken(v)};` : `Y${k.length}:${k}`);
      return;
    }
    case "function":
      writeFnRef(w, fnRefOf(v as (...a: never[]) => unknown), seen);
      return;
  }
  if (v === null) {
    w.str("N");
    return;
  }
  const o = v as object;
  const custom = (o as { [tokenizeSymbol]?: () => string })[tokenizeSymbol];
  if (typeof custom === "function") {
    w.str(`C${custom.call(o)};`);
    return;
  }
  if (seen.has(o)) {
    w.str(`cycle;`);
    return;
  }
  seen.add(o);
  try {
    if (Array.isArray(o)) {
      w.str(`[${o.length}:`);
      for (let i = 0; i < o.length; i++) write(w, o[i], seen);
      w.str("]");
    } else if (ArrayBuffer.isView(o)) {
      w.str(`V${o.constructor.name}:${o.byteLength}:`);
      w.bytes(new Uint8Array(o.buffer, o.byteOffset, o.byteLength));
    } else if (o instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && o instanceof SharedArrayBuffer)) {
      w.str(`B${o.byteLength}:`);
      w.bytes(new Uint8Array(o));
    } else if (o instanceof Date) {
      w.str(`D${o.getTime()};`);
    } else if (o instanceof RegExp) {
      w.str(`R${o.source.length}:${o.source}/${o.flags};`);
    } else if (o instanceof Map) {
      // Order-independent: hash each entry alone (sharing `seen`, so self-reference ends), then sort.
      const parts = [...o].map(([k, val]) => tokenOf([k, val], seen)).sort();
      w.str(`M${parts.length}:${parts.join(",")};`);
    } else if (o instanceof Set) {
      const parts = [...o].map((k) => tokenOf(k, seen)).sort();
      w.str(`S${parts.length}:${parts.join(",")};`);
    } else {
      const proto = Object.getPrototypeOf(o) as unknown;
      if (proto === Object.prototype || proto === null) {
        const keys = Object.keys(o).sort();
        w.str(`{${keys.length}:`);
        for (const k of keys) {
          w.str(`s${k.length}:${k}`);
          write(w, (o as Record<string, unknown>)[k], seen);
        }
        w.str("}");
      } else {
        // A class instance without a token of its own: its content is not known to be its identity.
        w.str(`I${identityToken(o)};`);
      }
    }
  } finally {
    seen.delete(o);
  }
}

function tokenOf(value: unknown, seen: Set<object>): string {
  const w = new Writer();
  write(w, value, seen);
  return w.digest();
}

/**
 * A deterministic 32-hex-digit token for the given values.
 *
 * @example
 * ```ts
 * const key = `inc-${tokenize(inc, 1)}`;
 * ```
 */
export function tokenize(...values: unknown[]): string {
  const w = new Writer();
  const seen = new Set<object>();
  w.str(`A${values.length}:`);
  for (const v of values) write(w, v, seen);
  return w.digest();
}
