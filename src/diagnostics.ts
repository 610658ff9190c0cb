/**
 * `dask-ts/diagnostics`: seeing what a graph is and what the scheduler does.
 *
 * @example
 * ```ts
 * import { toDot } from "dask-ts/diagnostics";
 * console.log(toDot(graph));
 * ```
 * @module
 */
export { toDot, visualizeGraph, type VisualizeOptions, type VisualizeResult } from "./diagnostics/visualize.js";
export { stimulusChannel } from "./scheduler/shell.js";
