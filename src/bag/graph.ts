/**
 * How bag operations become graph nodes. A bag is a list of partitions, each
 * a `Delayed` list whose key is `<name>[<i>]`; every operation adds one task
 * per partition (or a tree of tasks, for aggregations) that calls a kernel
 * from `kernels/` by name. Functions and lazy arguments inside stage and
 * sink specs become expressions, so workers resolve them like any task's
 * function and broadcast values (a `Delayed`, a reduction's result) become
 * dependencies.
 *
 * @module
 */
import { Delayed, toExpr } from "../collections/delayed.js";
import { opRef, task, type Expr, type GraphNode, type Key } from "../core/graph.js";
import type { SourceKind } from "./kernels/run.js";
import "./kernels/index.js";

/** A partition's key. */
export function partitionKey(name: string, i: number): Key {
  return `${name}[${i}]`;
}

/** An expression for a spec object or list, collecting the Delayed values it holds. */
export function specExpr(value: unknown, deps: Delayed[]): Expr {
  return toExpr(value, deps);
}

/** A `Delayed` partition computed by `node`. */
export function partition<T>(key: Key, node: GraphNode, deps: readonly Delayed[]): Delayed<T[]> {
  return new Delayed<T[]>(key, node, deps);
}

/**
 * A partition task: read `input` as `from` says, run `stages`, end in `sink`.
 * `deps` must hold every Delayed the input, stages and sink refer to.
 */
export function runNode(from: SourceKind, input: Expr, stages: readonly unknown[], sink: object, deps: Delayed[]): GraphNode {
  return task(opRef("dask.bag.run"), [{ k: "v", v: from }, input, specExpr(stages, deps), specExpr(sink, deps)]);
}

/** A task calling the kernel `op` on `args` (expressions). */
export function opNode(op: string, args: readonly Expr[]): GraphNode {
  return task(opRef(op), args);
}
