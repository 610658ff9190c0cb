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
