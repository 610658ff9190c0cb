/**
 * Which buffers of a value can be *moved* to another thread instead of
 * copied. Only buffers that the sender will never read again qualify: the
 * caller passes the buffers it must keep (for a task, those of its inputs),
 * and shared memory is never transferred.
 *
 * @example
 * ```ts
 * port.postMessage(result, transferables(result, new Set()));
 * ```
 * @module
 */

/** Buffers inside `value` (searched two levels deep) that may be transferred, excluding `keep`. */
export function transferables(value: unknown, keep: ReadonlySet<ArrayBufferLike>, depth = 0, out: ArrayBuffer[] = []): ArrayBuffer[] {
  if (typeof value !== "object" || value === null) return out;
  if (ArrayBuffer.isView(value)) {
    const buf = value.buffer;
    if (buf instanceof ArrayBuffer && !keep.has(buf) && !out.includes(buf) && buf.byteLength >= 1024) out.push(buf);
    return out;
  }
  if (value instanceof ArrayBuffer) {
    if (!keep.has(value) && !out.includes(value) && value.byteLength >= 1024) out.push(value);
    return out;
  }
  if (depth >= 2) return out;
  if (Array.isArray(value)) {
    if (value.length > 64) return out;
    for (const v of value) transferables(v, keep, depth + 1, out);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) transferables(v, keep, depth + 1, out);
  }
  return out;
}

/**
 * Every buffer a value refers to, through arrays, plain objects, Maps and Sets
 * at any depth, for building a `keep` set (a superset is safe; a miss is not).
 */
export function buffersOf(value: unknown, out: Set<ArrayBufferLike>, seen = new Set<object>()): void {
  if (typeof value !== "object" || value === null || seen.has(value)) return;
  seen.add(value);
  if (ArrayBuffer.isView(value)) out.add(value.buffer);
  else if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer)) out.add(value);
  else if (value instanceof Map) for (const [k, v] of value) (buffersOf(k, out, seen), buffersOf(v, out, seen));
  else if (value instanceof Set || Array.isArray(value)) for (const v of value) buffersOf(v, out, seen);
  else for (const v of Object.values(value as Record<string, unknown>)) buffersOf(v, out, seen);
}
