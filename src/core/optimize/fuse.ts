/**
 * Fuse linear chains: when task `a` feeds only task `b` and `b` needs nothing
 * else, run them as one task under `b`'s key. A chain of 2,000 `inc` calls
 * becomes a handful of tasks instead of 2,000 round trips through the
 * scheduler. Intermediate keys disappear, so requested keys are never fused
 * away. Fused tasks nest calls; `maxHeight` bounds the nesting depth so deep
 * chains stay cheap to clone and cannot exhaust the stack.
 *
 * @example
 * ```ts
 * const fused = fuseLinear(graph, ["result"]);
 * ```
 * @module
 */
import { anyNode, dependents, inOriginalOrder, task, type Graph, type Key, type TaskNode } from "../graph.js";
import { getFuseRule } from "../functions.js";
import { executionOrder } from "../order.js";
import { onlyTopLevel, substitute } from "./substitute.js";

/** Options of {@link fuseLinear}. */
export interface FuseOptions {
  /** Most calls one fused task may nest. Default 256. */
  readonly maxHeight?: number;
}

/**
 * The graph with linear chains fused; keys in `keep` are never removed.
 *
 * @example
 * ```ts
 * const fused = fuseLinear(graph, ["result"], { maxHeight: 64 });
 * ```
 */
export function fuseLinear(graph: Graph, keep: Iterable<Key>, options: FuseOptions = {}): Graph {
  const maxHeight = options.maxHeight ?? 256;
  // Most graphs have no chain at all: find out cheaply before ordering anything.
  if (!anyNode(graph, (n) => n.kind === "task" && n.deps.length === 1)) return graph;
  const protectedKeys = new Set(keep);
  const deps = dependents(graph);
  // Visit in execution order, so a chain's head is fused before its next link looks at it.
  const keys = executionOrder(graph);
  const out: Graph = new Map(graph);
  const height = new Map<Key, number>();
  let changed = false;
  for (const b of keys) {
    const nb = out.get(b);
    if (nb === undefined || nb.kind !== "task" || nb.deps.length !== 1) continue;
    const a = nb.deps[0]!;
    const na = out.get(a);
    if (na === undefined || na.kind !== "task" || protectedKeys.has(a)) continue;
    if (deps.get(a)?.length !== 1) continue;
    if (!onlyTopLevel(nb.args, a)) continue;
    let h = (height.get(a) ?? 1) + 1;
    // The inner call keeps its key, so an error it raises names it, not the fused task.
    const inner = { k: "t" as const, fn: na.fn, args: na.args, key: a };
    let args = nb.args.map((e) => substitute(e, a, inner));
    // An operation may know how to merge the inner call into itself (bag pipelines do).
    const rewritten = nb.fn.kind === "op" ? getFuseRule(nb.fn.name)?.(args) : undefined;
    if (rewritten !== undefined) {
      args = [...rewritten];
      h = height.get(a) ?? 1;
    }
    if (h > maxHeight) continue;
    const fused: TaskNode = task(nb.fn, args, { transfer: nb.transfer === true });
    out.set(b, fused);
    out.delete(a);
    height.set(b, h);
    changed = true;
  }
  // Keep the caller's insertion order for the survivors.
  return changed ? inOriginalOrder(graph, out) : graph;
}
