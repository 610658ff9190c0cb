/**
 * Turning Node's file-system errors into the typed errors of bag I/O, with the
 * path and the system code, keeping the original as `cause`. Anything else
 * (a dask-ts error, an error thrown by user code) passes through unchanged.
 *
 * @module
 */
import { DaskError, FileReadError, FileWriteError } from "../../core/errors.js";

/** The system code of a Node system error (`"ENOENT"`…), or `undefined` for other errors. */
function systemCode(err: unknown): string | undefined {
  if (!(err instanceof Error) || err instanceof DaskError) return undefined;
  const { code, syscall } = err as NodeJS.ErrnoException;
  return typeof code === "string" && typeof syscall === "string" ? code : undefined;
}


/**
 * A system error reading `path` as a `FileReadError`; other errors unchanged.
 *
 * @example
 * ```ts
 * await open(path, "r").catch((err) => { throw readError(path, err); });
 * ```
 */
export function readError(path: string, err: unknown): unknown {
  const code = systemCode(err);
  return code === undefined ? err : new FileReadError(path, code, (err as Error).message, err);
}

/**
 * A system error writing `path` as a `FileWriteError`; other errors unchanged.
 *
 * @example
 * ```ts
 * await mkdir(dir, { recursive: true }).catch((err) => { throw writeError(path, err); });
 * ```
 */
export function writeError(path: string, err: unknown): unknown {
  const code = systemCode(err);
  return code === undefined ? err : new FileWriteError(path, code, (err as Error).message, err);
}
