/**
 * The error a caller sees for a failed key: the user's exception wrapped in
 * a {@link TaskError} naming the task that threw; errors about running the
 * task at all (the worker died, scattered data was lost, the module would not load, the arguments
 * could not be sent, no worker could run it) keep their own class.
 *
 * @module
 */
import { InvalidArgumentError, KilledWorkerError, LostDataError, ModuleResolutionError, NoValidWorkerError, TaskError, deserializeError, type SerializedError } from "../core/errors.js";
import type { Key } from "../core/graph.js";

/** Rebuild the error of a failed key (`blame`: the task that threw). */
export function taskError(blame: Key, rec: SerializedError): Error {
  const original = deserializeError(rec);
  if (original instanceof KilledWorkerError || original instanceof LostDataError || original instanceof ModuleResolutionError || original instanceof InvalidArgumentError || original instanceof NoValidWorkerError) return original;
  return new TaskError(rec.taskKey ?? blame, rec, original);
}
