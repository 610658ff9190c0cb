/**
 * Sets that cost nothing until used. State-machine records (a task on the
 * scheduler or on a worker) carry several sets that mostly stay empty or tiny,
 * and a Set costs ~300 ns to allocate: every record starts with this one
 * shared, unaddable empty set, and {@link grow} gives a field its own set on
 * first add. Reading, deleting and clearing the shared set are harmless.
 *
 * @example
 * ```ts
 * const ts = { waiters: EMPTY_SET as Set<string> };
 * grow(ts, "waiters").add("x"); // ts.waiters is now a Set of its own
 * ```
 * @module
 */
class EmptySet extends Set<never> {
  override add(): never {
    throw new Error("internal: add to the shared empty set; use grow()");
  }
}

/** The shared empty set every lazily grown field starts with. */
export const EMPTY_SET: Set<never> = new EmptySet();

/** The set in `record[field]`, replacing the shared empty set by a new one first. */
export function grow<R, F extends keyof R>(record: R, field: F): R[F] {
  const s = record[field];
  if (s !== (EMPTY_SET as unknown)) return s;
  const fresh = new Set() as R[F];
  record[field] = fresh;
  return fresh;
}

/**
 * Remove `item` from the set in `record[field]`; returns whether it was
 * there. A set left empty gives way to the shared empty set: deleting a
 * set's last item makes V8 shrink (reallocate) its table, and on a wide graph
 * that is one allocation per edge for nothing.
 */
export function drop<R, F extends keyof R>(record: R, field: F, item: R[F] extends Set<infer T> ? T : never): boolean {
  const s = record[field] as unknown as Set<unknown>;
  if (s.size !== 1) return s.delete(item);
  if (!s.has(item)) return false;
  record[field] = EMPTY_SET as R[F];
  return true;
}

/** Empty the set in `record[field]` by putting the shared empty set back (`clear()` allocates a fresh table). */
export function empty<R, F extends keyof R>(record: R, field: F): void {
  if (record[field] !== (EMPTY_SET as unknown)) record[field] = EMPTY_SET as R[F];
}
