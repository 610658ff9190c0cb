/**
 * The optimization pipeline run before a graph is scheduled: cull to the
 * requested keys, inline cheap nodes, fuse linear chains. Each pass can be
 * switched off.
 *
 * @example
 * ```ts
 * const g = optimize(graph, ["result"], { fuse: false });
 * ```
 * @module
 */
import type { Graph, Key } from "../graph.js";
import { cull } from "./cull.js";
import { fuseLinear } from "./fuse.js";
import { inline } from "./inline.js";

/**
 * Which optimization passes run; every pass is on unless set to `false`.
 *
 * @example
 * ```ts
 * const opts: OptimizeOptions = { cull: true, inline: false, fuse: true };
 * ```
 */
export interface OptimizeOptions {
  /** Drop tasks the requested keys do not need. */
  readonly cull?: boolean;
  /** Substitute literals, aliases and cheap operations into their users. */
  readonly inline?: boolean;
  /** Merge linear chains of tasks into single tasks. */
  readonly fuse?: boolean;
}

/**
 * Run the enabled passes in order: cull, inline, fuse.
 *
 * @example
 * ```ts
 * const smaller = optimize(graph, ["result"], { inline: false });
 * ```
 */
export function optimize(graph: Graph, keys: readonly Key[], options: OptimizeOptions = {}): Graph {
  let g = graph;
  if (options.cull !== false) g = cull(g, keys);
  if (options.inline !== false) g = inline(g, keys);
  if (options.fuse !== false) g = fuseLinear(g, keys);
  return g;
}

export { cull, fuseLinear, inline };
