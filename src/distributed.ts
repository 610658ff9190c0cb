/**
 * `dask-ts/distributed`: clusters. Today the embedded {@link LocalCluster} of
 * worker threads; the network scheduler, workers and `Client` join it here.
 *
 * @example
 * ```ts
 * import { LocalCluster } from "dask-ts/distributed";
 * await using cluster = await LocalCluster.start({ workers: 2 });
 * console.log(await x.compute({ scheduler: cluster }));
 * ```
 * @module
 */
export { LocalCluster, defaultLocalCluster, closeDefaultLocalCluster, type LocalClusterOptions } from "./client/embedded.js";
export { SchedulerState, type SchedulerConfig, type SchedulerEvent, type SchedulerInstruction, type TaskStateName } from "./scheduler/state.js";
export { WorkerState, type WorkerEvent, type WorkerInstruction, type WorkerTaskStateName } from "./worker/state.js";
export { stimulusChannel } from "./scheduler/shell.js";
export { SchedulerServer, type SchedulerServerOptions } from "./scheduler/server.js";
export { NetworkWorker, type NetworkWorkerOptions } from "./worker/process.js";
export { Client, type ClientOptions, type SubmitOptions, type ScatterOptions, type FutureArgs } from "./client/client.js";
export type { LocalNetworkOptions } from "./client/local-network.js";
export type { UploadOptions, UploadedModule } from "./client/upload.js";
export { Future, type FutureStatus } from "./client/future.js";
export { asCompleted, wait, type WaitForOptions } from "./client/waiting.js";
export { Queue, Variable, Lock, Event, Semaphore, type PrimitiveOptions, type WaitOptions, type SemaphoreOptions } from "./client/primitives.js";
