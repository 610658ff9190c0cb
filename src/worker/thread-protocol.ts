/**
 * Messages between the embedded cluster's scheduler thread and its worker
 * threads, and between worker threads, beyond the scheduler protocol itself.
 *
 * @module
 */
import type { MessagePort } from "node:worker_threads";
import type { SerializedError } from "../core/errors.js";
import type { Key } from "../core/graph.js";
import type { FromWorkerMsg, TasksFinishedMsg, ToWorkerMsg } from "../scheduler/messages.js";

/** `workerData` of a worker thread. */
export interface ThreadInit {
  readonly address: string;
  readonly nthreads: number;
  readonly validate: boolean;
}

/** Peer ↔ peer (and scheduler → worker) data requests and replies. */
export type PeerMsg =
  | { readonly op: "get-data"; readonly id: number; readonly keys: readonly Key[] }
  /**
   * The held values among the requested keys, as parallel arrays (cheap to
   * clone); `unsendable`: held keys whose values cannot be cloned, and why.
   */
  | {
      readonly op: "data";
      readonly id: number;
      readonly keys: readonly Key[];
      readonly values: readonly unknown[];
      readonly unsendable?: { readonly keys: readonly Key[]; readonly errors: readonly SerializedError[] };
    };

/** Main thread → worker thread. */
export type ToThreadMsg =
  | ToWorkerMsg
  | Extract<PeerMsg, { op: "get-data" }>
  | { readonly op: "add-peer"; readonly address: string; readonly port: MessagePort }
  | { readonly op: "remove-peer"; readonly address: string };

/** Worker thread → main thread. */
export type FromThreadMsg = FromWorkerMsg | TasksFinishedMsg | Extract<PeerMsg, { op: "data" }> | { readonly op: "ready"; readonly address: string };
