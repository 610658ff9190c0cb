/**
 * The `sync` scheduler: every task on the calling thread, one at a time, in
 * `order`. For debugging (a stack trace goes straight into your function),
 * and the one scheduler that runs closures, since nothing leaves the thread.
 * Each result is dropped as soon as the last task that needs it has run.
 *
 * @example
 * ```ts
 * await x.compute({ scheduler: "sync" });
 * ```
 * @module
 */
import { TaskError, serializeError } from "../core/errors.js";
import { failedTaskKey, isThenable, prepareTask, runTask } from "../core/execute.js";
import { cull } from "../core/optimize/cull.js";
import { nodeDeps, type Graph, type Key } from "../core/graph.js";
import { executionOrder } from "../core/order.js";
import type { PersistedValue, Scheduler } from "./types.js";
import "../ops/index.js";

class SyncScheduler implements Scheduler {
  readonly name = "sync";

  async compute(full: Graph, keys: readonly Key[]): Promise<unknown[]> {
    // Only what the requested keys need runs (cull also rejects unknown requested keys).
    const graph = cull(full, keys);
    const ordered = executionOrder(graph, { has: () => false });
    const wanted = new Set(keys);
    const remaining = new Map<Key, number>();
    for (const node of graph.values()) for (const d of nodeDeps(node)) remaining.set(d, (remaining.get(d) ?? 0) + 1);
    const values = new Map<Key, unknown>();
    const get = (k: Key): unknown => values.get(k);
    for (const key of ordered) {
      const node = graph.get(key)!;
      let value: unknown;
      if (node.kind === "literal") value = node.value;
      else if (node.kind === "alias") value = values.get(node.target);
      else {
        try {
          const prep = prepareTask(node);
          if (prep !== undefined) await prep;
          value = runTask(node, get);
          if (isThenable(value)) value = await value;
        } catch (err) {
          throw new TaskError(failedTaskKey(err) ?? key, serializeError(err), err);
        }
      }
      values.set(key, value);
      for (const d of nodeDeps(node)) {
        const left = remaining.get(d)! - 1;
        remaining.set(d, left);
        if (left === 0 && !wanted.has(d)) values.delete(d);
      }
    }
    return keys.map((k) => values.get(k));
  }

  async persist(graph: Graph, keys: readonly Key[]): Promise<PersistedValue[]> {
    const values = await this.compute(graph, keys);
    return values.map((value) => ({ kind: "value", value }));
  }

  async gather(): Promise<unknown[]> {
    return [];
  }

  holds(): boolean {
    return false;
  }

  release(): void {}
}

/**
 * The one `sync` scheduler.
 *
 * @example
 * ```ts
 * const [value] = await syncScheduler.compute(graph, ["result"]);
 * ```
 */
export const syncScheduler: Scheduler = new SyncScheduler();
