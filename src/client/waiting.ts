/**
 * Waiting on several futures: `asCompleted` yields them in the order they
 * finish, `wait` resolves when all (or the first) are done.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.js";
import type { Future } from "./future.js";

/** The promise of a future being done (finished, failed, cancelled or lost); never rejects. */
function settled<T>(f: Future<T>): Promise<Future<T>> {
  return f.exception().then(
    () => f,
    () => f,
  );
}

/**
 * The futures, each as soon as it is done — finished, failed or cancelled —
 * in the order they complete.
 *
 * @example
 * ```ts
 * for await (const f of asCompleted(client.map(score, items))) {
 *   if (f.status === "finished") console.log(await f.result());
 * }
 * ```
 */
export async function* asCompleted<T>(futures: Iterable<Future<T>>): AsyncGenerator<Future<T>, void, undefined> {
  const pending = new Map<Future<T>, Promise<Future<T>>>();
  for (const f of futures) pending.set(f, settled(f));
  while (pending.size > 0) {
    const done = await Promise.race(pending.values());
    pending.delete(done);
    yield done;
  }
}

/**
 * Options of {@link wait}.
 *
 * @example
 * ```ts
 * await wait(futures, { returnWhen: "FIRST_COMPLETED", timeoutMs: 5_000 });
 * ```
 */
export interface WaitForOptions {
  /** Resolve when all are done (default) or when the first is. */
  readonly returnWhen?: "ALL_COMPLETED" | "FIRST_COMPLETED";
  /** Resolve after this long even if not done: the rest are in `notDone`. */
  readonly timeoutMs?: number;
}

/**
 * Wait until the futures are done (see {@link WaitForOptions}); resolves with
 * which are done and which are not. Failed futures count as done: check
 * their `status`.
 *
 * @example
 * ```ts
 * const { done, notDone } = await wait(futures, { timeoutMs: 10_000 });
 * ```
 */
export async function wait<T>(futures: Iterable<Future<T>>, options: WaitForOptions = {}): Promise<{ done: Future<T>[]; notDone: Future<T>[] }> {
  const list = [...futures];
  const { returnWhen = "ALL_COMPLETED", timeoutMs } = options;
  if (returnWhen !== "ALL_COMPLETED" && returnWhen !== "FIRST_COMPLETED") {
    throw new InvalidArgumentError("returnWhen", `returnWhen must be "ALL_COMPLETED" or "FIRST_COMPLETED", got ${JSON.stringify(returnWhen)}.`);
  }
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
    throw new InvalidArgumentError("timeoutMs", `timeoutMs must be a non-negative number of milliseconds, got ${String(timeoutMs)}.`);
  }
  const all = list.map(settled);
  const goal = returnWhen === "ALL_COMPLETED" ? Promise.all(all) : list.length === 0 ? Promise.resolve() : Promise.race(all);
  let timer: NodeJS.Timeout | undefined;
  const timeout = timeoutMs === undefined ? undefined : new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  try {
    await (timeout === undefined ? goal : Promise.race([goal, timeout]));
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
  return { done: list.filter((f) => f.done()), notDone: list.filter((f) => !f.done()) };
}
