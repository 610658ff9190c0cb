/**
 * Cull: keep only what the requested keys need. Runs before anything else,
 * so a collection can build a large graph and ask for one piece of it.
 *
 * @example
 * ```ts
 * const small = cull(graph, ["total"]);
 * ```
 * @module
 */
import { MissingKeyError } from "../errors.js";
import { nodeDeps, type Graph, type Key } from "../graph.js";

/**
 * The subgraph the `keys` depend on, in the original insertion order.
 * References to keys missing from the graph are left for validation to report,
 * unless `external` holds them.
 *
 * @throws MissingKeyError when a requested key is not in the graph.
 *
 * @example
 * ```ts
 * const needed = cull(graph, ["total"]); // drops what "total" does not need
 * ```
 */
export function cull(graph: Graph, keys: Iterable<Key>): Graph {
  const keep = new Set<Key>();
  const stack: Key[] = [];
  for (const k of keys) {
    if (!graph.has(k)) throw new MissingKeyError(k);
    if (!keep.has(k)) {
      keep.add(k);
      stack.push(k);
    }
  }
  while (stack.length > 0) {
    const node = graph.get(stack.pop()!);
    if (node === undefined) continue;
    for (const d of nodeDeps(node)) {
      if (!keep.has(d) && graph.has(d)) {
        keep.add(d);
        stack.push(d);
      }
    }
  }
  if (keep.size === graph.size) return graph;
  const out: Graph = new Map();
  for (const [k, node] of graph) if (keep.has(k)) out.set(k, node);
  return out;
}
