/**
 * The messages the scheduler, workers and clients exchange. They are plain
 * data so any transport (MessagePort, TCP) can carry them, and every message
 * that changes state carries the `stimulusId` of the event that caused it, so
 * a task's story can be followed across processes.
 *
 * @module
 */
import type { SerializedError } from "../core/errors.js";
import type { Expr, FnRef, Key } from "../core/graph.js";

/** Run order on a worker: compared element by element, lower first: [−user priority, generation, graph order]. */
export type Priority = readonly [number, number, number];

/** Compare two priorities (negative: `a` runs first). */
export function comparePriority(a: Priority, b: Priority): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/**
 * The inputs of a task and where they live, as parallel arrays: a task with
 * ten thousand inputs is cloned in well under a millisecond this way, where a
 * record keyed by input costs ~15 times more.
 */
export interface TaskInputs {
  readonly keys: readonly Key[];
  /** Holder addresses, referred to by index from `who`. */
  readonly workers: readonly string[];
  /** Per input: the index of its holder in `workers`, or the indices of several. */
  readonly who: readonly (number | readonly number[])[];
  /** Per input: its size in bytes. */
  readonly nbytes: readonly number[];
}

/** Scheduler → worker: run a task. */
export interface ComputeTaskMsg {
  readonly op: "compute-task";
  readonly key: Key;
  readonly fn: FnRef;
  readonly args: readonly Expr[];
  /** Absent for tasks without dependencies. */
  readonly inputs?: TaskInputs;
  readonly priority: Priority;
  readonly runId: number;
  /** Send the result with `task-finished` and keep no copy: only the caller wants it. */
  readonly deliver: boolean;
  /** The result's buffers may be moved (transferred) rather than copied when delivered. */
  readonly transfer?: boolean;
  readonly stimulusId: string;
}

/** Scheduler → worker: forget these keys (results or pending work). */
export interface FreeKeysMsg {
  readonly op: "free-keys";
  readonly keys: readonly Key[];
  readonly stimulusId: string;
}

/** Scheduler → worker: hold this value (a delivered result someone turned out to need held). */
export interface PutDataMsg {
  readonly op: "put-data";
  readonly key: Key;
  readonly value: unknown;
  readonly nbytes: number;
  readonly stimulusId: string;
}

/**
 * Scheduler → worker: give this task up if it has not started (work
 * stealing); answered with {@link StealResponseMsg}.
 */
export interface StealRequestMsg {
  readonly op: "steal-request";
  readonly key: Key;
  readonly runId: number;
  readonly stimulusId: string;
}

/** Any message the scheduler sends a worker. */
export type ToWorkerMsg = ComputeTaskMsg | FreeKeysMsg | PutDataMsg | StealRequestMsg;

/** Worker → scheduler: a task's result is in memory (or, when delivered, travels with this message). */
export interface TaskFinishedMsg {
  readonly op: "task-finished";
  readonly key: Key;
  readonly runId: number;
  readonly nbytes: number;
  /** Seconds the task took. */
  readonly duration: number;
  /** Present only when the scheduler asked for delivery. */
  readonly value?: unknown;
  readonly delivered: boolean;
  readonly stimulusId: string;
}

/** Worker → scheduler: a task threw. */
export interface TaskErredMsg {
  readonly op: "task-erred";
  readonly key: Key;
  readonly runId: number;
  readonly error: SerializedError;
  readonly stimulusId: string;
}

/** Worker → scheduler: a dependency could not be fetched from any of the workers said to hold it. */
export interface MissingDataMsg {
  readonly op: "missing-data";
  readonly key: Key;
  readonly errantWorker: string;
  readonly stimulusId: string;
}

/**
 * Worker → scheduler: many results the worker keeps (task-finished without a
 * delivered value), as parallel columns. A run of such messages travels this
 * way, and the scheduler takes each in as its own stimulus without an object
 * per result.
 */
export interface TasksFinishedMsg {
  readonly op: "tasks-finished";
  readonly keys: readonly Key[];
  readonly runIds: Float64Array;
  readonly nbytes: Float64Array;
  /** Seconds each task took. */
  readonly durations: Float64Array;
  readonly stimulusIds: readonly string[];
}

/**
 * Worker → scheduler: whether it gave up a task the scheduler asked to steal
 * (`stolen`: it had not started, and is forgotten here; otherwise it is
 * running or done, and its result will come as usual).
 */
export interface StealResponseMsg {
  readonly op: "steal-response";
  readonly key: Key;
  readonly runId: number;
  readonly stolen: boolean;
  readonly stimulusId: string;
}

/** Any message a worker sends the scheduler. */
export type FromWorkerMsg = TaskFinishedMsg | TaskErredMsg | MissingDataMsg | StealResponseMsg;

/** What reaches the scheduler from a worker: its messages, runs of task-finished possibly packed into one tasks-finished. */
export type WorkerReportMsg = FromWorkerMsg | TasksFinishedMsg;

/** The stimulus id of a report (the first result's, for a packed run). */
export function reportStimulusId(msg: WorkerReportMsg): string {
  return msg.op === "tasks-finished" ? (msg.stimulusIds[0] ?? "tasks-finished") : msg.stimulusId;
}

/** Scheduler → client: a wanted key is done. `value` is present when it was delivered. */
export interface KeyInMemoryMsg {
  readonly op: "key-in-memory";
  readonly key: Key;
  readonly hasValue: boolean;
  readonly value?: unknown;
}

/** Scheduler → client: a wanted key failed, `blame` is the task that threw. */
export interface KeyErredMsg {
  readonly op: "task-erred";
  readonly key: Key;
  readonly blame: Key;
  readonly error: SerializedError;
}

/** Any message the scheduler sends a client. */
export type ToClientMsg = KeyInMemoryMsg | KeyErredMsg;
