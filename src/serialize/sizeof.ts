/**
 * An estimate of the bytes a value holds, for placement decisions and memory
 * accounting. Exact for typed arrays and buffers; for large arrays and
 * objects it samples, so it stays O(1)-ish on hot paths.
 *
 * @example
 * ```ts
 * sizeof(new Float64Array(1000)); // 8000
 * ```
 * @module
 */
const SAMPLE = 16;

/** Approximate size of `value` in bytes. */
export function sizeof(value: unknown, depth = 0): number {
  switch (typeof value) {
    case "number":
      return 8;
    case "boolean":
      return 4;
    case "string":
      return 16 + value.length * 2;
    case "bigint":
      return 16;
    case "undefined":
      return 0;
    case "function":
    case "symbol":
      return 32;
  }
  if (value === null) return 0;
  if (ArrayBuffer.isView(value)) return value.byteLength + 64;
  if (value instanceof ArrayBuffer) return value.byteLength + 32;
  if (depth > 3) return 64;
  if (Array.isArray(value)) {
    const n = value.length;
    if (n === 0) return 32;
    if (n <= SAMPLE) {
      let s = 32;
      for (const v of value) s += sizeof(v, depth + 1);
      return s;
    }
    let s = 0;
    const step = n / SAMPLE;
    for (let i = 0; i < SAMPLE; i++) s += sizeof(value[Math.floor(i * step)], depth + 1);
    return 32 + Math.round((s / SAMPLE) * n);
  }
  if (value instanceof Map || value instanceof Set) return 64 + value.size * 48;
  const keys = Object.keys(value as object);
  let s = 32;
  const n = Math.min(keys.length, SAMPLE);
  for (let i = 0; i < n; i++) s += 16 + sizeof((value as Record<string, unknown>)[keys[i]!], depth + 1);
  return keys.length > n ? Math.round((s * keys.length) / n) : s;
}
