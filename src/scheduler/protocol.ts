/**
 * The network cluster's messages, beyond the scheduler ↔ worker task
 * protocol of `messages.ts` (which travels unchanged): how workers and
 * clients introduce themselves, how data is asked for, and the client's
 * requests. Every connection is a batched `TcpComm` stream; a request that
 * expects an answer carries an `id` the answer repeats.
 *
 * @module
 */
import type { SerializedError } from "../core/errors.js";
import type { FnRef, Key, TaskNode } from "../core/graph.js";
import type { ToClientMsg, ToWorkerMsg, WorkerReportMsg } from "./messages.js";

/** Worker process → scheduler. The first message is `register-worker`. */
export type WorkerToScheduler =
  | {
      readonly op: "register-worker";
      /** Where peers reach this worker for data (`tcp://host:port`). */
      readonly address: string;
      readonly name: string;
      readonly nthreads: number;
      readonly memoryLimitMb?: number;
      /** Abstract resources the worker offers, such as `{ GPU: 1 }`: tasks that need them run only where they are free. */
      readonly resources?: Readonly<Record<string, number>>;
      /** A fresh worker takes its place when it is told to restart (it runs under a nanny): `client.restart()` waits for it. */
      readonly restartable?: boolean;
    }
  | WorkerReportMsg
  | DataReply
  | RunReply
  | { readonly op: "heartbeat" };

/** Scheduler → worker process: run a function in the worker process itself (`client.run`). */
export interface RunRequest {
  readonly op: "run";
  readonly id: number;
  readonly fn: FnRef;
  readonly args: readonly unknown[];
}

/**
 * A module uploaded through the client (`client.uploadModule`), as it goes
 * to the scheduler, which keeps it, and on to every worker, which stores it
 * and imports `module` (answering with a {@link RunReply}).
 */
export interface ModuleUpload {
  /**
   * The URL tasks know the upload by: the module's own (`import.meta.url`),
   * or, when a directory was uploaded, that directory's, ending in `/`.
   */
  readonly from: string;
  /** The module's own URL, under `from` (or `from` itself); imported on arrival. */
  readonly module: string;
  /** How `.js` files load when the upload has no `package.json` of its own: as in the package they came from. */
  readonly type: "module" | "commonjs";
  /** The files' paths inside the upload (relative, `/`-separated). */
  readonly paths: readonly string[];
  /** The files' sizes; their contents follow one another in `data`, in the order of `paths`. */
  readonly sizes: readonly number[];
  readonly data: Uint8Array;
}

/** Scheduler → worker process: store an upload and import its module. */
export interface UploadRequest {
  readonly op: "upload";
  readonly id: number;
  readonly upload: ModuleUpload;
}

/** Worker process → scheduler: what a `run` returned or threw, or whether an upload was stored and imported. */
export interface RunReply {
  readonly op: "ran";
  readonly id: number;
  readonly value?: unknown;
  readonly error?: SerializedError;
}

/** Scheduler → worker process. */
export type SchedulerToWorker =
  | ToWorkerMsg
  | DataRequest
  | RunRequest
  | UploadRequest
  /** The workers this one may fetch inputs from (sent on every change of membership). */
  | { readonly op: "peers"; readonly add: readonly string[]; readonly remove: readonly string[] }
  /**
   * Leave: finish nothing more, close. With `restart`, the scheduler is still
   * up and wants a fresh worker in its place: it removed this one (`removed`:
   * it stopped answering) or a client asked for every worker to restart
   * (`requested`, `client.restart()`). A nanny starts the fresh one.
   */
  | { readonly op: "terminate"; readonly reason: string; readonly restart?: "removed" | "requested" }
  /** Heartbeat this often (sent on registration): often enough that a live worker is never taken for silent. */
  | { readonly op: "heartbeat-interval"; readonly ms: number };

/** Ask for the values of keys; the answer lists those held. */
export interface DataRequest {
  readonly op: "get-data";
  readonly id: number;
  readonly keys: readonly Key[];
}

/**
 * The held values among the requested keys, as parallel arrays;
 * `unsendable`: held keys that could not be sent, and why.
 *
 * Two more forms, both with `keys` and `values` empty:
 * - `busy: true`, from a peer serving as many transfers as it allows: try
 *   again later or elsewhere (the requesting relay passes it on to its thread
 *   with `failed` set as well);
 * - `failed`, from a worker's relay to its own thread: the fetch failed
 *   (the peer went silent for the fetch timeout, its connection was cut or
 *   could not be opened, or it was busy), a reason for logs. The thread takes
 *   it as a failed gather.
 */
export interface DataReply {
  readonly op: "data";
  readonly id: number;
  readonly keys: readonly Key[];
  readonly values: readonly unknown[];
  readonly unsendable?: { readonly keys: readonly Key[]; readonly errors: readonly SerializedError[] };
  /** The peer is busy (at its limit of concurrent outgoing transfers): ask again later or elsewhere. */
  readonly busy?: true;
  /** Relay → thread: the fetch failed, and why; nothing was received. */
  readonly failed?: string;
}

/** Client → scheduler. The first message is `register-client`. */
export type ClientToScheduler =
  | { readonly op: "register-client"; readonly name: string }
  | {
      readonly op: "update-graph";
      /**
       * The session the keys belong to: each `compute()` and `persist()` of a
       * client is its own session, so releasing one never releases another's
       * keys. Absent: the client's own session (its futures).
       */
      readonly session?: string;
      /** Tasks in execution order; literal and alias nodes already turned into tasks. */
      readonly tasks: readonly (readonly [Key, TaskNode])[];
      readonly keys: readonly Key[];
      /** Deliver results with their completion and forget them (compute), or hold them (futures, persist). */
      readonly deliver: boolean;
      readonly userPriority?: number;
      /** Runs each new task may get again after it throws. */
      readonly retries?: number;
      /** Workers (addresses) the new tasks may run on. */
      readonly workers?: readonly string[];
      /** Resources each new task needs on its worker while it runs. */
      readonly resources?: Readonly<Record<string, number>>;
    }
  | { readonly op: "release-keys"; readonly keys: readonly Key[]; readonly session?: string }
  /** Keep computing these keys of the client's own session even after the client lets go of them. */
  | { readonly op: "fire-and-forget"; readonly keys: readonly Key[] }
  /** Forget a session and everything it wanted. */
  | { readonly op: "release-session"; readonly session: string }
  | { readonly op: "gather"; readonly id: number; readonly keys: readonly Key[] }
  /** A request to one of the scheduler's services (coordination primitives, datasets, ...), answered by `reply`. */
  | { readonly op: "request"; readonly id: number; readonly service: string; readonly args: unknown }
  | { readonly op: "heartbeat" };

/** Scheduler → client. */
export type SchedulerToClient =
  | { readonly op: "welcome"; readonly id: string; readonly workers: number }
  | (ToClientMsg & { readonly session?: string })
  | { readonly op: "gathered"; readonly id: number; readonly keys: readonly Key[]; readonly values: readonly unknown[]; readonly error?: SerializedError }
  | { readonly op: "reply"; readonly id: number; readonly value?: unknown; readonly error?: SerializedError }
  /** Workers joined or left (for `waitForWorkers`). */
  | { readonly op: "workers"; readonly count: number }
  /** These keys were cancelled for the client (or one of its sessions): their futures are cancelled, a computation wanting them fails. */
  | { readonly op: "cancelled"; readonly keys: readonly Key[]; readonly session?: string };

/** Worker process ↔ worker process: inputs fetched from peers. */
export type PeerMessage = DataRequest | DataReply;
