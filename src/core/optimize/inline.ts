/**
 * Inline what is cheaper to recompute than to store and move: literal values,
 * aliases, and tasks whose operation is registered as cheap (such as item
 * access). They are substituted into every task that uses them and removed,
 * unless requested. Each inlined cheap task may run more than once; that is
 * the trade.
 *
 * @example
 * ```ts
 * const g = inline(graph, ["result"]);
 * ```
 * @module
 */
import { isCheapOp } from "../functions.js";
import { anyNode, dependents, inOriginalOrder, task, type Expr, type Graph, type GraphNode, type Key } from "../graph.js";
import { executionOrder } from "../order.js";
import { substitute } from "./substitute.js";

/**
 * The graph with literals, aliases and cheap tasks inlined into their dependents; keys in `keep` stay.
 *
 * @example
 * ```ts
 * const inlined = inline(graph, ["result"]); // literals and cheap item access folded into their users
 * ```
 */
export function inline(graph: Graph, keep: Iterable<Key>): Graph {
  if (!anyNode(graph, (n) => n.kind !== "task" || (n.fn.kind === "op" && isCheapOp(n.fn.name)))) return graph;
  const protectedKeys = new Set(keep);
  const deps = dependents(graph);
  const keys = executionOrder(graph);
  const out: Graph = new Map(graph);
  let changed = false;
  for (const key of keys) {
    if (protectedKeys.has(key)) continue;
    const node = out.get(key);
    if (node === undefined) continue;
    const users = deps.get(key) ?? [];
    if (users.length === 0) continue;
    let by: Expr | undefined;
    if (node.kind === "literal") by = { k: "v", v: node.value };
    else if (node.kind === "alias") by = { k: "r", key: node.target };
    else if (node.fn.kind === "op" && isCheapOp(node.fn.name)) by = { k: "t", fn: node.fn, args: node.args, key };
    if (by === undefined) continue;
    // Only inline into tasks: an alias of an inlined key would lose its target.
    if (!users.every((u) => out.get(u)?.kind === "task")) continue;
    for (const u of users) {
      const un = out.get(u) as Extract<GraphNode, { kind: "task" }>;
      out.set(u, task(un.fn, un.args.map((e) => substitute(e, key, by!)), { transfer: un.transfer === true }));
    }
    if (node.kind === "alias") {
      const targetUsers = deps.get(node.target);
      if (targetUsers !== undefined) deps.set(node.target, [...targetUsers.filter((t) => t !== key), ...users]);
    } else if (node.kind === "task") {
      for (const d of node.deps) {
        const du = deps.get(d);
        if (du !== undefined) deps.set(d, [...du.filter((t) => t !== key), ...users]);
      }
    }
    out.delete(key);
    changed = true;
  }
  // Keep the caller's insertion order for the survivors.
  return changed ? inOriginalOrder(graph, out) : graph;
}
