/**
 * The process-wide default scheduler: what `compute()` uses when no
 * `scheduler` option is given. Unset, the embedded cluster is used; a
 * connected `Client` sets itself here while it is open.
 *
 * @module
 */
import type { Scheduler } from "./types.js";

let current: Scheduler | undefined;

/**
 * Make `scheduler` the default for every computation that names none
 * (`undefined` restores the embedded cluster).
 *
 * @example
 * ```ts
 * setDefaultScheduler(await LocalCluster.start({ workers: 2 }));
 * ```
 */
export function setDefaultScheduler(scheduler: Scheduler | undefined): void {
  current = scheduler;
}

/** The scheduler set with {@link setDefaultScheduler}, if any. */
export function getDefaultScheduler(): Scheduler | undefined {
  return current;
}
