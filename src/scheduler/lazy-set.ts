/**
 * Sets that cost nothing until used. State-machine records (a task on the
 * scheduler or on a worker) carry several sets that mostly stay empty or tiny,
 * and a Set costs ~300 ns to allocate: every record starts with one shared,
 * unchangeable empty set; {@link put} gives a field its first item as a
 * shared one-item set (the inputs of a wide task share their one dependent's),
 * and {@link grow} gives a field a set of its own. Shared sets throw when
 * changed directly: fields change through put, grow, {@link drop} and
 * {@link empty} only.
 *
 * @example
 * ```ts
 * const ts = { waiters: EMPTY_SET as Set<string> };
 * grow(ts, "waiters").add("x"); // ts.waiters is now a Set of its own
 * ```
 * @module
 */
/** A set nobody may change: the shared empty set, and the shared one-item sets of {@link put}. */
class FixedSet<T> extends Set<T> {
  private fixed = false;
  constructor(item?: T) {
    super();
    if (arguments.length > 0) super.add(item as T);
    this.fixed = true;
  }
  override add(item: T): this {
    if (this.fixed) throw new Error("internal: add to a shared set; use grow() or put()");
    return super.add(item);
  }
  override delete(): boolean {
    throw new Error("internal: delete from a shared set; use drop()");
  }
  override clear(): void {
    throw new Error("internal: clear a shared set; use empty()");
  }
}

/** The shared empty set every lazily grown field starts with. */
export const EMPTY_SET: Set<never> = new FixedSet<never>();

/** The set in `record[field]`, replacing a shared set (empty, or one item) by a new one of its own first. */
export function grow<R, F extends keyof R>(record: R, field: F): R[F] {
  const s = record[field];
  if (!(s instanceof FixedSet)) return s;
  const fresh = (s === EMPTY_SET ? new Set() : new Set(s as Set<unknown>)) as R[F];
  record[field] = fresh;
  return fresh;
}

/**
 * Add `item` to the set in `record[field]`. A field that was empty gets a
 * shared, unchangeable one-item set instead of a set of its own, the same one
 * as the last field given the same item: the 10,000 inputs of a sum each get
 * the sum as their one dependent in a row, and a worker's results that worker
 * as their one holder, so they all share one set. The field gets a set of its
 * own (a copy) when a second item comes.
 */
export function put<R, F extends keyof R>(record: R, field: F, item: R[F] extends Set<infer T> ? T : never): void {
  const s = record[field] as unknown as Set<unknown>;
  if (s === EMPTY_SET) {
    record[field] = shared(item) as R[F];
    return;
  }
  if (!s.has(item)) (grow(record, field) as unknown as Set<unknown>).add(item);
}

// The last shared set handed out, and its item.
let lastItem: unknown = undefined;
let lastShared: Set<unknown> | undefined;

/** Let go of the item {@link put} remembers (the machines call it after each stimulus, so it keeps no graph alive). */
export function forgetLastPut(): void {
  lastItem = undefined;
  lastShared = undefined;
}

function shared(item: unknown): Set<unknown> {
  if (item === lastItem && lastShared !== undefined) return lastShared;
  lastShared = new FixedSet(item);
  lastItem = item;
  return lastShared;
}

/**
 * Remove `item` from the set in `record[field]`; returns whether it was
 * there. A set left empty gives way to the shared empty set: deleting a
 * set's last item makes V8 shrink (reallocate) its table, and on a wide graph
 * that is one allocation per edge for nothing.
 */
export function drop<R, F extends keyof R>(record: R, field: F, item: R[F] extends Set<infer T> ? T : never): boolean {
  const s = record[field] as unknown as Set<unknown>;
  if (s.size > 1) return s.delete(item);
  if (s.size === 0 || !s.has(item)) return false;
  record[field] = EMPTY_SET as R[F];
  return true;
}

/** Empty the set in `record[field]` by putting the shared empty set back (`clear()` allocates a fresh table). */
export function empty<R, F extends keyof R>(record: R, field: F): void {
  record[field] = EMPTY_SET as R[F];
}

/**
 * A set of a few items (a worker's executing tasks: at most its thread
 * count) kept in an array. A Set that goes from one item to none and back
 * reallocates its table each time; this never allocates once grown.
 */
export class SmallSet<T> implements Iterable<T> {
  private readonly items: T[] = [];
  get size(): number {
    return this.items.length;
  }
  has(item: T): boolean {
    return this.items.includes(item);
  }
  add(item: T): this {
    if (!this.items.includes(item)) this.items.push(item);
    return this;
  }
  delete(item: T): boolean {
    const i = this.items.indexOf(item);
    if (i < 0) return false;
    const last = this.items.pop()!;
    if (i < this.items.length) this.items[i] = last;
    return true;
  }
  [Symbol.iterator](): Iterator<T> {
    return this.items.values();
  }
}
