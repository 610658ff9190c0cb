/**
 * dask-ts: parallel computing for TypeScript. Lazy task graphs built with
 * `delayed` (and, in the subpath modules, arrays, dataframes and bags) run on
 * every core of this machine or on a cluster.
 *
 * @example
 * ```ts
 * import { delayed, compute } from "dask-ts";
 * const inc = delayed((x: number) => x + 1);
 * const add = delayed((x: number, y: number) => x + y);
 * console.log(await add(inc(1), inc(2)).compute()); // 5
 * ```
 * @module
 */
export { delayed, Delayed, type DelayedFunction, type DelayedOptions, type Lazy, type LazyArgs } from "./collections/delayed.js";
export {
  compute,
  persist,
  visualize,
  setDefaultScheduler,
  type ComputeOptions,
  type Computed,
  type Resolved,
  type SchedulerName,
  type VisualizeGraphOptions,
  type Collection,
} from "./collections/compute.js";
export { registerModule, defineOp, type OpOptions } from "./core/functions.js";
export { tokenize, tokenizeSymbol } from "./core/tokenize.js";
export { order } from "./core/order.js";
export { optimize, cull, fuseLinear, inline, type OptimizeOptions } from "./core/optimize/index.js";
export { task, lit, ref, opRef, validateGraph, type Graph, type GraphNode, type TaskNode, type LiteralNode, type AliasNode, type Expr, type FnRef, type Key } from "./core/graph.js";
export type { Scheduler, RunOptions, PersistedValue, HeldKey } from "./scheduler/types.js";
export { syncScheduler } from "./scheduler/sync.js";
export {
  DaskError,
  isDaskError,
  InvalidArgumentError,
  ClosureError,
  FunctionNotShippableError,
  ModuleResolutionError,
  MissingKeyError,
  CycleError,
  TaskError,
  KilledWorkerError,
  LostDataError,
  ClosedError,
  InvalidTransitionError,
  VisualizeError,
  NoFilesFoundError,
  UnknownCompressionError,
  CompressionUnavailableError,
  DecompressionError,
  FileReadError,
  FileWriteError,
  InvalidElementError,
  ElementError,
  CancelledError,
  InvalidAddressError,
  ConnectTimeoutError,
  ProtocolVersionError,
  ProtocolError,
  CommClosedError,
  MessageTooLargeError,
  SerializeError,
  TimeoutError,
  NoClientError,
  UnknownNameError,
  DatasetExistsError,
  NotHeldError,
  UploadSourceError,
  UploadTooLargeError,
  UploadError,
  type UploadFailure,
  NoValidWorkerError,
  type DaskErrorCode,
  type DaskErrorCodes,
} from "./core/errors.js";
