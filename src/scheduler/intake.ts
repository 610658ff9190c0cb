/**
 * What a graph becomes before a scheduler that ships work takes it: checked
 * (references, cycles, shippable functions), listed in execution order, and
 * with literal and alias nodes turned into tasks, because workers only run
 * tasks. Keys the scheduler already holds may be referred to without being
 * in the graph.
 *
 * @module
 */
import { assertShippable } from "../core/functions.js";
import { lit, opRef, ref, task, type Graph, type Key, type TaskNode } from "../core/graph.js";
import { executionOrder } from "../core/order.js";

/**
 * The tasks of `graph` in execution order, ready for an `update-graph` stimulus.
 *
 * @example
 * ```ts
 * const tasks = graphToTasks(graph, (k) => cluster.holds(k));
 * ```
 */
export function graphToTasks(graph: Graph, holds: (key: Key) => boolean): [Key, TaskNode][] {
  const ordered = executionOrder(graph, { has: holds });
  assertShippable(graph);
  const out: [Key, TaskNode][] = [];
  for (const key of ordered) {
    const node = graph.get(key)!;
    if (node.kind === "task") out.push([key, node]);
    else if (node.kind === "literal") out.push([key, task(opRef("dask.identity"), [lit(node.value)])]);
    else out.push([key, task(opRef("dask.identity"), [ref(node.target)])]);
  }
  return out;
}
