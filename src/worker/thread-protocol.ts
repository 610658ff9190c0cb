/**
 * Messages between the embedded cluster's scheduler thread and its worker
 * threads, and between worker threads, beyond the scheduler protocol itself.
 *
 * @module
 */
import type { MessagePort } from "node:worker_threads";
import type { FromWorkerMsg, TasksFinishedMsg, ToWorkerMsg } from "../scheduler/messages.js";
import type { DataReply, DataRequest, RunReply } from "../scheduler/protocol.js";
import type { Key } from "../core/graph.js";
import type { StoredUpload } from "./uploads.js";

/** `workerData` of a worker thread. */
export interface ThreadInit {
  readonly address: string;
  readonly nthreads: number;
  readonly validate: boolean;
}

/** Peer ↔ peer (and scheduler → worker) data requests and replies. */
export type PeerMsg = DataRequest | DataReply;

/** Main thread → worker thread. */
export type ToThreadMsg =
  | ToWorkerMsg
  | Extract<PeerMsg, { op: "get-data" }>
  | { readonly op: "add-peer"; readonly address: string; readonly port: MessagePort }
  | { readonly op: "remove-peer"; readonly address: string }
  /** Use a stored upload and import its module; answered with a `ran` reply of the same id, which goes on to the scheduler. */
  | { readonly op: "use-upload"; readonly id: number; readonly upload: StoredUpload }
  /** Ask for a snapshot of the state machine (for debugging and tests). */
  | { readonly op: "snapshot"; readonly id: number };

/** Worker thread → main thread. */
export type FromThreadMsg =
  | FromWorkerMsg
  | TasksFinishedMsg
  | Extract<PeerMsg, { op: "data" }>
  | RunReply
  | { readonly op: "ready"; readonly address: string }
  | ThreadSnapshot;

/** Every key the worker's state machine knows, with its state, and the keys whose values the thread holds. */
export interface ThreadSnapshot {
  readonly op: "snapshot";
  readonly id: number;
  readonly tasks: readonly (readonly [Key, string])[];
  readonly data: readonly Key[];
}
