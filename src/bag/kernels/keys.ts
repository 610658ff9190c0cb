/**
 * Grouping by value. JavaScript's `Map` compares objects by identity, but a
 * bag groups by value: two `[1, "a"]` arrays are one key, as equal tuples
 * are in Python. Primitives are used as they are; arrays and plain objects
 * are keyed by a canonical text (sorted object keys), and the first value
 * seen stands for the group. The same canonical text hashes keys to shuffle
 * partitions, so every thread sends a key to the same place.
 *
 * @module
 */

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x !== null && typeof x === "object" && !Array.isArray(x) && Object.getPrototypeOf(x) === Object.prototype) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(x).sort()) sorted[k] = (x as Record<string, unknown>)[k];
      return sorted;
    }
    if (typeof x === "bigint") return `${x}n`;
    return x;
  });
}

/** A map whose keys compare by value (see the module comment). Insertion order is kept. */
export class ValueMap<V> {
  private readonly prims = new Map<unknown, number>();
  private readonly objs = new Map<string, number>();
  readonly keys: unknown[] = [];
  readonly values: V[] = [];

  /** The slot of `key`, or -1. */
  indexOf(key: unknown): number {
    if (typeof key === "object" && key !== null) return this.objs.get(canonical(key)) ?? -1;
    return this.prims.get(key) ?? -1;
  }

  /** The slot of `key`, created with `init` if new. */
  slot(key: unknown, init: () => V): number {
    let i: number | undefined;
    if (typeof key === "object" && key !== null) {
      const c = canonical(key);
      i = this.objs.get(c);
      if (i === undefined) this.objs.set(c, (i = this.keys.length));
      else return i;
    } else {
      i = this.prims.get(key);
      if (i === undefined) this.prims.set(key, (i = this.keys.length));
      else return i;
    }
    this.keys.push(key);
    this.values.push(init());
    return i;
  }

  get size(): number {
    return this.keys.length;
  }

  /** The entries as `[key, value]` pairs, in first-seen order. */
  entries(): [unknown, V][] {
    const out = new Array<[unknown, V]>(this.keys.length);
    for (let i = 0; i < out.length; i++) out[i] = [this.keys[i], this.values[i]!];
    return out;
  }
}

/** A 32-bit hash of a key's value, the same on every thread and process (FNV-1a over a typed text). */
export function hashKey(key: unknown): number {
  const text = typeof key === "string" ? `s${key}` : typeof key === "object" && key !== null ? `o${canonical(key)}` : `${typeof key}${String(key)}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
