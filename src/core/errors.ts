/**
 * One error hierarchy for everything a user can meet.
 *
 * Every class has a stable `code` (`DASK_ERR_*`) that programs can switch on,
 * a fixed `name`, typed fields for the facts that explain it, and a message
 * that says what to do. Errors cross threads and sockets as plain records
 * ({@link serializeError}) and are rebuilt on the far side into the same
 * class ({@link deserializeError}), so `instanceof` and `code` survive the trip.
 * Instances are branded with a `Symbol.for` key so `instanceof` also works
 * across two copies of the library in one process.
 *
 * @example
 * ```ts
 * import { isDaskError } from "dask-ts";
 * try { await x.compute(); }
 * catch (err) {
 *   if (isDaskError(err, "DASK_ERR_TASK")) console.error(err.key, err.remoteStack);
 * }
 * ```
 * @module
 */

const kBrand = Symbol.for("dask-ts.error");

/**
 * Every stable error code, mapped to the class that carries it.
 *
 * @example
 * ```ts
 * type E = DaskErrorCodes["DASK_ERR_KILLED_WORKER"]; // KilledWorkerError
 * ```
 */
export interface DaskErrorCodes {
  DASK_ERR_INVALID_ARGUMENT: InvalidArgumentError;
  DASK_ERR_CLOSURE: ClosureError;
  DASK_ERR_FN_NOT_SHIPPABLE: FunctionNotShippableError;
  DASK_ERR_MODULE: ModuleResolutionError;
  DASK_ERR_MISSING_KEY: MissingKeyError;
  DASK_ERR_CYCLE: CycleError;
  DASK_ERR_TASK: TaskError;
  DASK_ERR_KILLED_WORKER: KilledWorkerError;
  DASK_ERR_LOST_DATA: LostDataError;
  DASK_ERR_CLOSED: ClosedError;
  DASK_ERR_INVALID_TRANSITION: InvalidTransitionError;
  DASK_ERR_VISUALIZE: VisualizeError;
  DASK_ERR_INVALID_ADDRESS: InvalidAddressError;
  DASK_ERR_CONNECT_TIMEOUT: ConnectTimeoutError;
  DASK_ERR_PROTOCOL_VERSION: ProtocolVersionError;
  DASK_ERR_PROTOCOL: ProtocolError;
  DASK_ERR_COMM_CLOSED: CommClosedError;
  DASK_ERR_MESSAGE_TOO_LARGE: MessageTooLargeError;
  DASK_ERR_SERIALIZE: SerializeError;
  DASK_ERR_NO_FILES_FOUND: NoFilesFoundError;
  DASK_ERR_UNKNOWN_COMPRESSION: UnknownCompressionError;
  DASK_ERR_COMPRESSION_UNAVAILABLE: CompressionUnavailableError;
  DASK_ERR_DECOMPRESS: DecompressionError;
  DASK_ERR_FILE_READ: FileReadError;
  DASK_ERR_FILE_WRITE: FileWriteError;
  DASK_ERR_INVALID_ELEMENT: InvalidElementError;
  DASK_ERR_ELEMENT: ElementError;
  DASK_ERR_CANCELLED: CancelledError;
  DASK_ERR_TIMEOUT: TimeoutError;
  DASK_ERR_NO_CLIENT: NoClientError;
  DASK_ERR_UNKNOWN_NAME: UnknownNameError;
  DASK_ERR_DATASET_EXISTS: DatasetExistsError;
  DASK_ERR_NOT_HELD: NotHeldError;
  DASK_ERR_UPLOAD_SOURCE: UploadSourceError;
  DASK_ERR_UPLOAD_TOO_LARGE: UploadTooLargeError;
  DASK_ERR_UPLOAD: UploadError;
  DASK_ERR_NO_VALID_WORKER: NoValidWorkerError;
}

/**
 * A stable error code, such as `"DASK_ERR_TASK"`.
 *
 * @example
 * ```ts
 * const code: DaskErrorCode = "DASK_ERR_TASK";
 * if (isDaskError(err, code)) console.log(err.key);
 * ```
 */
export type DaskErrorCode = keyof DaskErrorCodes;

/**
 * The base of every error dask-ts throws on purpose.
 *
 * @example
 * ```ts
 * if (err instanceof DaskError) console.log(err.code);
 * ```
 */
export class DaskError extends Error {
  /** The stable code of this kind of error. */
  readonly code: DaskErrorCode;

  constructor(code: DaskErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, kBrand, { value: true });
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    if (this === DaskError) {
      return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[kBrand] === true;
    }
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/**
 * True when `err` is a dask-ts error, optionally one of the given codes;
 * narrows the type to the matching class.
 *
 * @example
 * ```ts
 * if (isDaskError(err, "DASK_ERR_KILLED_WORKER")) console.log(err.lastWorker);
 * ```
 */
export function isDaskError<C extends DaskErrorCode>(err: unknown, ...codes: C[]): err is DaskErrorCodes[C] {
  if (!(err instanceof DaskError)) return false;
  return codes.length === 0 || (codes as string[]).includes(err.code);
}

/**
 * An argument or option that cannot be used, such as `nout: -1`.
 *
 * @example
 * ```ts
 * delayed(inc, { nout: -1 }); // throws InvalidArgumentError
 * ```
 */
export class InvalidArgumentError extends DaskError {
  override readonly name = "InvalidArgumentError";
  /** The argument or option at fault. */
  readonly argument: string;
  constructor(argument: string, message: string) {
    super("DASK_ERR_INVALID_ARGUMENT", message);
    this.argument = argument;
  }
}

/**
 * A function that reads variables from its enclosing scope was handed to a
 * scheduler that must ship it to another thread or machine. Thrown before
 * anything runs; the message names the variables and the ways to fix it.
 *
 * @example
 * ```ts
 * const k = 3;
 * await delayed((x: number) => x * k)(1).compute(); // ClosureError: names `k`
 * ```
 */
export class ClosureError extends DaskError {
  override readonly name = "ClosureError";
  /** The function's name, or `"<anonymous>"`. */
  readonly functionName: string;
  /** The outer variables the function reads. */
  readonly variables: readonly string[];
  constructor(functionName: string, variables: readonly string[]) {
    const list = variables.map((v) => `\`${v}\``).join(", ");
    const captures = variables.map((v) => `${v}`).join(", ");
    super(
      "DASK_ERR_CLOSURE",
      `Function ${functionName} reads ${list} from its enclosing scope, so it cannot run on another thread ` +
        `(JavaScript cannot send closures). Fix it in one of these ways:\n` +
        `  - pass the values explicitly: delayed(${functionName === "<anonymous>" ? "fn" : functionName}, { captures: { ${captures} } })\n` +
        `  - export the function from a module and register it: registerModule(import.meta.url, { ${functionName === "<anonymous>" ? "fn" : functionName} })\n` +
        `  - make the values arguments of the function\n` +
        `  - or run with { scheduler: "sync" }, which calls closures on this thread.`,
    );
    this.functionName = functionName;
    this.variables = variables;
  }
}

/**
 * A function that has no source text a worker could rebuild (a bound or
 * native function that is not a well-known global) and no module reference.
 *
 * @example
 * ```ts
 * await delayed(Math.max.bind(null, 0))(1).compute(); // FunctionNotShippableError
 * ```
 */
export class FunctionNotShippableError extends DaskError {
  override readonly name = "FunctionNotShippableError";
  /** The function's name, or `"<anonymous>"`. */
  readonly functionName: string;
  constructor(functionName: string, reason: string) {
    super(
      "DASK_ERR_FN_NOT_SHIPPABLE",
      `Function ${functionName} cannot be sent to a worker: ${reason}. Wrap it in a self-contained arrow function, ` +
        `or export it from a module and register it with registerModule(import.meta.url, { ... }).`,
    );
    this.functionName = functionName;
  }
}

/**
 * A worker could not load a function by module reference: the module failed
 * to import, or it has no such export.
 *
 * @example
 * ```ts
 * registerModule(import.meta.url, { notExported }); // ModuleResolutionError at compute
 * ```
 */
export class ModuleResolutionError extends DaskError {
  override readonly name = "ModuleResolutionError";
  /** The module's URL or package specifier. */
  readonly specifier: string;
  /** The export that was looked up. */
  readonly exportName: string;
  constructor(specifier: string, exportName: string, reason: string, cause?: unknown) {
    super("DASK_ERR_MODULE", `Cannot load export \`${exportName}\` of ${specifier}: ${reason}`, { cause });
    this.specifier = specifier;
    this.exportName = exportName;
  }
}

/**
 * A task refers to a key that is neither in the graph nor held by the
 * scheduler, or a requested key is not in the graph.
 *
 * @example
 * ```ts
 * await syncScheduler.compute(new Map(), ["x"]); // MissingKeyError: key "x"
 * ```
 */
export class MissingKeyError extends DaskError {
  override readonly name = "MissingKeyError";
  /** The key that could not be found. */
  readonly key: string;
  /** The task that referred to it, if any. */
  readonly referencedBy: string | undefined;
  constructor(key: string, referencedBy?: string) {
    super(
      "DASK_ERR_MISSING_KEY",
      referencedBy === undefined
        ? `Key "${key}" is not in the graph or is no longer held (a persisted value that was released). Check the keys you asked for.`
        : `Task "${referencedBy}" depends on key "${key}", which is not in the graph. Add a node for it or fix the reference.`,
    );
    this.key = key;
    this.referencedBy = referencedBy;
  }
}

/**
 * The graph has a cycle, so no order can run it.
 *
 * @example
 * ```ts
 * // a depends on b and b on a
 * await syncScheduler.compute(graph, ["a"]); // CycleError: a -> b -> a
 * ```
 */
export class CycleError extends DaskError {
  override readonly name = "CycleError";
  /** The keys on the cycle, first key repeated at the end. */
  readonly cycle: readonly string[];
  constructor(cycle: readonly string[]) {
    super("DASK_ERR_CYCLE", `The task graph has a cycle: ${cycle.join(" -> ")}. A task cannot depend on itself.`);
    this.cycle = cycle;
  }
}

/**
 * A task threw. Carries the task's key, the original error's name, message
 * and stack as seen on the worker; `cause` is the rebuilt original error.
 * Tasks that depended on it fail with the same error.
 *
 * @example
 * ```ts
 * try { await bad(1).compute(); }
 * catch (e) { if (e instanceof TaskError) console.log(e.key, e.remoteMessage); }
 * ```
 */
export class TaskError extends DaskError {
  override readonly name = "TaskError";
  /** The key of the task that threw. */
  readonly key: string;
  /** The thrown error's `name`. */
  readonly remoteName: string;
  /** The thrown error's `message`. */
  readonly remoteMessage: string;
  /** The thrown error's stack, as the worker saw it. */
  readonly remoteStack: string;
  constructor(key: string, remote: { name: string; message: string; stack: string }, cause?: unknown) {
    super("DASK_ERR_TASK", `Task ${key} failed: ${remote.name}: ${remote.message}`, { cause });
    this.key = key;
    this.remoteName = remote.name;
    this.remoteMessage = remote.message;
    this.remoteStack = remote.stack;
  }
}

/**
 * A task was running on workers that died `allowedFailures` times; it is
 * failed rather than retried forever.
 *
 * @example
 * ```ts
 * await delayed(() => process.exit(1))().compute(); // KilledWorkerError
 * ```
 */
export class KilledWorkerError extends DaskError {
  override readonly name = "KilledWorkerError";
  /** The task's key. */
  readonly key: string;
  /** The last worker that died while running it. */
  readonly lastWorker: string;
  /** How many worker deaths the task was allowed. */
  readonly allowedFailures: number;
  constructor(key: string, lastWorker: string, allowedFailures: number) {
    super(
      "DASK_ERR_KILLED_WORKER",
      `Task ${key} was running on ${allowedFailures} workers that died (last: ${lastWorker}); it is marked failed ` +
        `instead of being retried again. The task probably crashes its worker (process.exit, out of memory, a native fault).`,
    );
    this.key = key;
    this.lastWorker = lastWorker;
    this.allowedFailures = allowedFailures;
  }
}

/**
 * A value that exists only as data — put on the cluster with `scatter`, not
 * computed — was on workers that all left, so it cannot be recomputed. Its
 * future and every task that needed it fail with this error.
 *
 * @example
 * ```ts
 * const [table] = await client.scatter([lookup]);   // one copy, on one worker
 * // ...that worker dies...
 * await table.result(); // LostDataError: scatter it again, or scatter with { broadcast: true }
 * ```
 */
export class LostDataError extends DaskError {
  override readonly name = "LostDataError";
  /** The key of the lost value. */
  readonly key: string;
  /** The last worker that held it. */
  readonly lastWorker: string;
  constructor(key: string, lastWorker: string) {
    super(
      "DASK_ERR_LOST_DATA",
      `Scattered value ${key} was lost: the last worker holding it (${lastWorker}) left, and data that was never computed cannot be ` +
        `recomputed. Scatter it again; scatter with { broadcast: true } to keep a copy on every worker.`,
    );
    this.key = key;
    this.lastWorker = lastWorker;
  }
}

/**
 * The scheduler, cluster or connection was closed while work was pending or
 * was asked to do something after closing.
 *
 * @example
 * ```ts
 * await cluster.close(); await x.compute({ scheduler: cluster }); // ClosedError
 * ```
 */
export class ClosedError extends DaskError {
  override readonly name = "ClosedError";
  constructor(what: string, cause?: unknown) {
    super("DASK_ERR_CLOSED", `${what} is closed. Start a new one to run more work.`, cause === undefined ? undefined : { cause });
  }
}

/**
 * A state machine was asked to make a transition it does not allow. This is a
 * bug in dask-ts; the message carries the story needed to report it.
 *
 * @example
 * ```ts
 * // only seen when validation is on and an invariant breaks
 * ```
 */
export class InvalidTransitionError extends DaskError {
  override readonly name = "InvalidTransitionError";
  /** The key whose transition failed. */
  readonly key: string;
  constructor(key: string, detail: string) {
    super("DASK_ERR_INVALID_TRANSITION", `Invalid transition for ${key}: ${detail}. This is a bug in dask-ts; please report it.`);
    this.key = key;
  }
}

/**
 * The graph could not be drawn or written (for example an unknown file format).
 *
 * @example
 * ```ts
 * await x.visualize({ filename: "g.gif" }); // VisualizeError: use .dot, .svg or .png
 * ```
 */
export class VisualizeError extends DaskError {
  override readonly name = "VisualizeError";
  constructor(message: string, cause?: unknown) {
    super("DASK_ERR_VISUALIZE", message, { cause });
  }
}

/**
 * A path or glob pattern given to read files matched no file.
 *
 * @example
 * ```ts
 * await expandPaths("data/*.json"); // NoFilesFoundError when data/ has no .json file
 * ```
 */
export class NoFilesFoundError extends DaskError {
  override readonly name = "NoFilesFoundError";
  /** The path or pattern, as it was given. */
  readonly pattern: string;
  constructor(pattern: string) {
    super(
      "DASK_ERR_NO_FILES_FOUND",
      `No file matches ${JSON.stringify(pattern)}${/^(?:[/\\]|[A-Za-z]:|file:)/.test(pattern) ? "" : ` (relative to ${process.cwd()})`}. ` +
        `Check the path and the pattern; \`*\` does not match a leading dot or cross "/", \`**\` does.`,
    );
    this.pattern = pattern;
  }
}

/**
 * A `compression` option names a compression dask-ts does not know.
 *
 * @example
 * ```ts
 * resolveCompression("a.txt", "lz4"); // UnknownCompressionError: use gzip, bz2, xz or zstd
 * ```
 */
export class UnknownCompressionError extends DaskError {
  override readonly name = "UnknownCompressionError";
  /** The name that was given. */
  readonly compression: string;
  /** The names that are understood. */
  readonly supported: readonly string[];
  constructor(compression: string, supported: readonly string[]) {
    super(
      "DASK_ERR_UNKNOWN_COMPRESSION",
      `Unknown compression ${JSON.stringify(compression)}. Use one of ${supported.map((c) => `"${c}"`).join(", ")}, ` +
        `"infer" (by file extension) or null (no compression).`,
    );
    this.compression = compression;
    this.supported = supported;
  }
}

/**
 * A known compression cannot be used here: writing it needs a newer Node, or
 * the package that reads it could not be loaded.
 *
 * @example
 * ```ts
 * await compress(data, "xz"); // CompressionUnavailableError: writable here: gzip
 * ```
 */
export class CompressionUnavailableError extends DaskError {
  override readonly name = "CompressionUnavailableError";
  /** The compression that was asked for. */
  readonly compression: string;
  /** `"read"` or `"write"`. */
  readonly operation: string;
  /** The compressions that can be used for that operation on this Node. */
  readonly available: readonly string[];
  constructor(compression: string, operation: "read" | "write", available: readonly string[], reason: string, cause?: unknown) {
    super(
      "DASK_ERR_COMPRESSION_UNAVAILABLE",
      `Cannot ${operation} ${compression} files here: ${reason}. ` +
        `Compressions that can be ${operation === "read" ? "read" : "written"} on Node ${process.versions.node}: ${available.join(", ") || "none"}.`,
      cause === undefined ? undefined : { cause },
    );
    this.compression = compression;
    this.operation = operation;
    this.available = available;
  }
}

/**
 * Compressed data could not be decompressed: the file is damaged, truncated,
 * or not in the format its name or the `compression` option says.
 *
 * @example
 * ```ts
 * await readTextBlock({ path: "notgzip.gz", start: 0, end: null, compression: "gzip" }); // DecompressionError
 * ```
 */
export class DecompressionError extends DaskError {
  override readonly name = "DecompressionError";
  /** The compression the data was decoded as. */
  readonly compression: string;
  /** The file the data came from, when known. */
  readonly path: string | undefined;
  constructor(compression: string, path: string | undefined, detail: string, cause?: unknown) {
    super(
      "DASK_ERR_DECOMPRESS",
      `Cannot decompress ${path === undefined ? "the data" : path} as ${compression}: ${detail}. ` +
        `The file is damaged or is not ${compression} data; check its name or pass the right \`compression\` (null for none).`,
      cause === undefined ? undefined : { cause },
    );
    this.compression = compression;
    this.path = path;
  }
}

/** What to say about a file-system error code, and what to do about it. */
function fileProblem(op: "read" | "write", code: string, detail: string): string {
  switch (code) {
    case "ENOENT":
      return op === "read" ? "it does not exist. Check the path" : "a directory on its path does not exist and could not be made. Check the path";
    case "EACCES":
    case "EPERM":
      return "permission denied. Check the permissions of the file and its directories";
    case "EISDIR":
      return op === "read"
        ? 'it is a directory. To read the files in it, give a pattern such as "dir/*" or "dir/**/*"'
        : "it is a directory. Give a file name, or a pattern with one `*`";
    case "ENOTDIR":
      return "a part of the path that should be a directory is a file. Check the path";
    default:
      return `${detail}${detail === "" ? "" : ". "}Check the path and the file system`;
  }
}

/**
 * What {@link FileReadError} and {@link FileWriteError} share: the file and
 * the system error code.
 *
 * @example
 * ```ts
 * if (err instanceof FileAccessError) console.error(err.path, err.reason);
 * ```
 */
export abstract class FileAccessError extends DaskError {
  /** The file. */
  readonly path: string;
  /** The system error code (`"ENOENT"`, `"EACCES"`, `"EISDIR"`, …) or a short description. */
  readonly reason: string;
  protected constructor(code: "DASK_ERR_FILE_READ" | "DASK_ERR_FILE_WRITE", path: string, reason: string, detail: string, cause: unknown) {
    const op = code === "DASK_ERR_FILE_READ" ? "read" : "write";
    super(code, `Cannot ${op} ${path}: ${fileProblem(op, reason, detail)}.`, cause === undefined ? undefined : { cause });
    this.path = path;
    this.reason = reason;
  }
}

/**
 * A file could not be read: it is missing, unreadable, or a directory.
 *
 * @example
 * ```ts
 * await readTextBlock({ path: "gone.txt", start: 0, end: null, compression: null }); // FileReadError, reason "ENOENT"
 * ```
 */
export class FileReadError extends FileAccessError {
  override readonly name = "FileReadError";
  constructor(path: string, reason: string, detail = "", cause?: unknown) {
    super("DASK_ERR_FILE_READ", path, reason, detail, cause);
  }
}

/**
 * A file could not be written: permission denied, a directory in the way, or
 * another file-system error. Nothing is left under the file's name.
 *
 * @example
 * ```ts
 * await writeTextFile("/proc/x.txt", ["a"]); // FileWriteError
 * ```
 */
export class FileWriteError extends FileAccessError {
  override readonly name = "FileWriteError";
  constructor(path: string, reason: string, detail = "", cause?: unknown) {
    super("DASK_ERR_FILE_WRITE", path, reason, detail, cause);
  }
}

/**
 * An element that cannot be written as a line of text (text files take
 * strings only).
 *
 * @example
 * ```ts
 * await writeTextFile("out.txt", [{ a: 1 }] as unknown as string[]); // InvalidElementError: map to strings first
 * ```
 */
export class InvalidElementError extends DaskError {
  override readonly name = "InvalidElementError";
  /** The file being written. */
  readonly path: string;
  /** The element's position in its partition. */
  readonly index: number;
  /** The element's type: `typeof`, or `"null"`, `"array"`, or a class name. */
  readonly elementType: string;
  constructor(path: string, index: number, elementType: string) {
    super(
      "DASK_ERR_INVALID_ELEMENT",
      `Element ${index} of the partition written to ${path} is ${/^[aeiou]/.test(elementType) ? "an" : "a"} ${elementType}, not a string. ` +
        `Text files hold strings only: map the elements to strings first, for example with JSON.stringify.`,
    );
    this.path = path;
    this.index = index;
    this.elementType = elementType;
  }
}

/**
 * Processing one element read from a file failed (for example `JSON.parse`
 * on a malformed line). Names the file and the line, and carries the
 * original error as `cause`.
 *
 * @example
 * ```ts
 * try { await readText("logs/*.jsonl").map(JSON.parse).compute(); }
 * catch (e) { if (e instanceof TaskError && e.cause instanceof ElementError) console.log(e.cause.path, e.cause.line); }
 * ```
 */
export class ElementError extends DaskError {
  override readonly name = "ElementError";
  /** The file the element came from. */
  readonly path: string;
  /** Its 1-based line number in that file. */
  readonly line: number;
  constructor(path: string, line: number, detail: string, cause?: unknown) {
    super(
      "DASK_ERR_ELEMENT",
      `Line ${line} of ${path} could not be processed: ${detail}. Fix the input, or handle the case in your function (e.g. filter the line out first).`,
      cause === undefined ? undefined : { cause },
    );
    this.path = path;
    this.line = line;
  }
}

/**
 * A network address that cannot be used: not `tcp://HOST:PORT`, a port out
 * of range, or a scheme this transport does not speak.
 *
 * @example
 * ```ts
 * await connect("tcp://127.0.0.1"); // InvalidAddressError: no port
 * ```
 */
export class InvalidAddressError extends DaskError {
  override readonly name = "InvalidAddressError";
  /** The address as given. */
  readonly address: string;
  constructor(address: string, reason: string) {
    super(
      "DASK_ERR_INVALID_ADDRESS",
      `Invalid address ${JSON.stringify(address)}: ${reason}. Write it as tcp://HOST:PORT, for example tcp://127.0.0.1:8786 or tcp://[::1]:8786.`,
    );
    this.address = address;
  }
}

/**
 * No connection could be made to an address before the connect timeout,
 * although it was retried with backoff the whole time.
 *
 * @example
 * ```ts
 * await connect("tcp://127.0.0.1:9", { timeoutMs: 500 }); // ConnectTimeoutError after ~500 ms
 * ```
 */
export class ConnectTimeoutError extends DaskError {
  override readonly name = "ConnectTimeoutError";
  /** The address that could not be reached. */
  readonly address: string;
  /** Milliseconds spent trying. */
  readonly elapsedMs: number;
  /** Connection attempts made. */
  readonly attempts: number;
  /** The last attempt's failure, as text. */
  readonly lastError: string;
  constructor(address: string, elapsedMs: number, attempts: number, lastError: string, cause?: unknown) {
    super(
      "DASK_ERR_CONNECT_TIMEOUT",
      `Could not connect to ${address} within ${Math.round(elapsedMs)} ms (${attempts} attempts; last error: ${lastError}). ` +
        `Check that the scheduler or worker is running and reachable at that address, or allow more time with timeoutMs.`,
      cause === undefined ? undefined : { cause },
    );
    this.address = address;
    this.elapsedMs = Math.round(elapsedMs);
    this.attempts = attempts;
    this.lastError = lastError;
  }
}

/**
 * The peer speaks another version of the wire protocol, so the connection was
 * closed right after the handshake.
 *
 * @example
 * ```ts
 * await connect(oldScheduler); // ProtocolVersionError: peer speaks 0, this process 1
 * ```
 */
export class ProtocolVersionError extends DaskError {
  override readonly name = "ProtocolVersionError";
  /** The peer's address. */
  readonly address: string;
  /** The protocol version this process speaks. */
  readonly localVersion: number;
  /** The protocol version the peer announced. */
  readonly peerVersion: number;
  constructor(address: string, localVersion: number, peerVersion: number) {
    super(
      "DASK_ERR_PROTOCOL_VERSION",
      `${address} speaks wire protocol version ${peerVersion}, this process speaks version ${localVersion}, so the connection was closed. ` +
        `Run the same dask-ts version on every machine of the cluster.`,
    );
    this.address = address;
    this.localVersion = localVersion;
    this.peerVersion = peerVersion;
  }
}

/**
 * A peer sent bytes that are not the dask-ts wire protocol: garbage, a
 * truncated or absurd length, a message over the size limits, a malformed
 * header, or a request for an operation nobody handles. The connection is
 * closed; the process carries on.
 *
 * @example
 * ```ts
 * decodeFrames([new Uint8Array([0xc1])]); // ProtocolError: malformed message header
 * ```
 */
export class ProtocolError extends DaskError {
  override readonly name = "ProtocolError";
  /** The peer's address, or `""` when the data was not read from a connection. */
  readonly address: string;
  /** What was wrong. */
  readonly reason: string;
  constructor(address: string, reason: string, cause?: unknown) {
    super(
      "DASK_ERR_PROTOCOL",
      `${address === "" ? "Malformed wire data" : `Malformed data from ${address}`}: ${reason}. ` +
        `The peer is not a dask-ts process of this version, or the data was corrupted; the connection is closed.`,
      cause === undefined ? undefined : { cause },
    );
    this.address = address;
    this.reason = reason;
  }
}

/**
 * A connection was used after it closed, or closed while a request on it was
 * waiting for its reply. The reason says which side closed it and why.
 *
 * @example
 * ```ts
 * await rpc.request("ping"); // CommClosedError if the peer went away meanwhile
 * ```
 */
export class CommClosedError extends DaskError {
  override readonly name = "CommClosedError";
  /** The peer's address. */
  readonly address: string;
  /** Why the connection closed. */
  readonly reason: string;
  constructor(address: string, reason: string) {
    super(
      "DASK_ERR_COMM_CLOSED",
      `The connection to ${address} is closed (${reason}). Open a new connection to go on; if the peer went away, start it again.`,
    );
    this.address = address;
    this.reason = reason;
  }
}

/**
 * One message is larger than a connection allows (in bytes, or in binary
 * frames). It is refused when it is sent, before anything goes on the wire.
 *
 * @example
 * ```ts
 * comm.send({ data: new Float64Array(2 ** 26) }); // MessageTooLargeError with maxMessageBytes: 2 ** 20
 * ```
 */
export class MessageTooLargeError extends DaskError {
  override readonly name = "MessageTooLargeError";
  /** The message's encoded size in bytes. */
  readonly bytes: number;
  /** Its binary frames (the header included). */
  readonly frames: number;
  /** The connection's byte limit. */
  readonly maxBytes: number;
  /** The connection's frame limit. */
  readonly maxFrames: number;
  /**
   * Which byte limit it is over: `maxMessageBytes` (what one envelope
   * carries inline: the header and small buffers) or `maxValueBytes` (a
   * whole message, its streamed buffers included).
   */
  readonly limit: "maxMessageBytes" | "maxValueBytes";
  constructor(bytes: number, frames: number, maxBytes: number, maxFrames: number, limit: "maxMessageBytes" | "maxValueBytes" = "maxMessageBytes") {
    super(
      "DASK_ERR_MESSAGE_TOO_LARGE",
      limit === "maxValueBytes"
        ? `A message of ${bytes} bytes is over this connection's maxValueBytes limit (${maxBytes} bytes). ` +
            `Send the data in smaller pieces, or raise maxValueBytes on both ends of the connection.`
        : `A message of ${bytes} bytes in ${frames} frames is over this connection's limits (${maxBytes} bytes, ${maxFrames} frames). ` +
            `Send the data in smaller pieces, or raise maxMessageBytes / maxFrames on both ends of the connection.`,
    );
    this.bytes = bytes;
    this.frames = frames;
    this.maxBytes = maxBytes;
    this.maxFrames = maxFrames;
    this.limit = limit;
  }
}

/**
 * A value cannot be encoded for the wire: a function, a symbol, a promise,
 * or a structure nested too deeply (a cycle). The path says where it is.
 *
 * @example
 * ```ts
 * comm.send({ op: "x", fn: () => 1 }); // SerializeError: the value at .fn is a function
 * ```
 */
export class SerializeError extends DaskError {
  override readonly name = "SerializeError";
  /** Where in the value the culprit sits, such as `.args[0]`; `""` for the value itself. */
  readonly path: string;
  /** What is wrong with it. */
  readonly reason: string;
  constructor(path: string, reason: string) {
    super(
      "DASK_ERR_SERIALIZE",
      `Cannot send the value at ${path === "" ? "the top level" : path}: ${reason}. Connections carry plain data: objects, arrays, strings, numbers, ` +
        `booleans, null, undefined, bigint, Date, Map, Set, RegExp, Error and binary buffers; send functions by reference (registerModule).`,
    );
    this.path = path;
    this.reason = reason;
  }
}

/**
 * The computation of a future was cancelled (by `cancel()`, on it or on another future of the same key).
 *
 * @example
 * ```ts
 * const f = client.submit(slow, 1);
 * await f.cancel();
 * await f.result(); // CancelledError
 * ```
 */
export class CancelledError extends DaskError {
  override readonly name = "CancelledError";
  /** The key that was cancelled. */
  readonly key: string;
  constructor(key: string) {
    super("DASK_ERR_CANCELLED", `The computation of ${key} was cancelled. Submit it again to compute it.`);
    this.key = key;
  }
}

/**
 * Waiting on the cluster took longer than the timeout that was given: a
 * queue stayed empty (or full), a variable or dataset was never set, a
 * lock was not released in time.
 *
 * @example
 * ```ts
 * await new Queue("jobs").get({ timeoutMs: 100 }); // TimeoutError when nothing arrives within 100 ms
 * ```
 */
export class TimeoutError extends DaskError {
  override readonly name = "TimeoutError";
  /** What was waited for, such as `get from Queue "jobs"`. */
  readonly operation: string;
  /** The timeout that ran out, in milliseconds. */
  readonly timeoutMs: number;
  constructor(operation: string, timeoutMs: number) {
    super("DASK_ERR_TIMEOUT", `Timed out after ${timeoutMs} ms waiting to ${operation}. Allow more time with timeoutMs, or check that another client does its part.`);
    this.operation = operation;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A coordination primitive (queue, variable, lock, event, semaphore) was
 * created with no client given and no `Client` open to default to.
 *
 * @example
 * ```ts
 * new Queue("jobs"); // NoClientError unless a Client is connected
 * ```
 */
export class NoClientError extends DaskError {
  override readonly name = "NoClientError";
  /** What needed the client, such as `Queue`. */
  readonly what: string;
  constructor(what: string) {
    super(
      "DASK_ERR_NO_CLIENT",
      `${what === "" ? "This" : `A ${what}`} needs a network cluster's Client, and none is open. ` +
        `Connect one first (await Client.connect(...) makes it the default while it is open) or pass { client }.`,
    );
    this.what = what;
  }
}

/**
 * A name the scheduler does not know: a dataset that was never published (or
 * was unpublished), a variable that was never set (or was deleted).
 *
 * @example
 * ```ts
 * await client.unpublishDataset("nope"); // UnknownNameError: no dataset named "nope"
 * ```
 */
export class UnknownNameError extends DaskError {
  override readonly name = "UnknownNameError";
  /** The kind of thing looked up: `dataset`, `variable`, ... */
  readonly kind: string;
  /** The name that was not found. */
  readonly unknownName: string;
  constructor(kind: string, unknownName: string) {
    super("DASK_ERR_UNKNOWN_NAME", `There is no ${kind} named ${JSON.stringify(unknownName)} on the scheduler. Check the name, or create it first.`);
    this.kind = kind;
    this.unknownName = unknownName;
  }
}

/**
 * A dataset was published under a name that is already taken.
 *
 * @example
 * ```ts
 * await client.publishDataset("x", 1);
 * await client.publishDataset("x", 2); // DatasetExistsError; pass { override: true } to replace it
 * ```
 */
export class DatasetExistsError extends DaskError {
  override readonly name = "DatasetExistsError";
  /** The dataset's name. */
  readonly dataset: string;
  constructor(dataset: string) {
    super(
      "DASK_ERR_DATASET_EXISTS",
      `A dataset named ${JSON.stringify(dataset)} is already published. Pass { override: true } to replace it, or unpublish it first.`,
    );
    this.dataset = dataset;
  }
}

/**
 * A lock or semaphore was released by a holder that does not hold it: it was
 * never acquired through this instance, was released already, or was taken
 * back because its client disconnected.
 *
 * @example
 * ```ts
 * await new Lock("db").release(); // NotHeldError: this instance does not hold it
 * ```
 */
export class NotHeldError extends DaskError {
  override readonly name = "NotHeldError";
  /** `lock` or `semaphore`. */
  readonly kind: string;
  /** The lock's or semaphore's name. */
  readonly heldName: string;
  constructor(kind: string, heldName: string) {
    super(
      "DASK_ERR_NOT_HELD",
      `Cannot release ${kind} ${JSON.stringify(heldName)}: this instance does not hold it. Release only what the same instance acquired, once per acquire.`,
    );
    this.kind = kind;
    this.heldName = heldName;
  }
}

/** What to say about a module or directory that cannot be uploaded, and what to do about it. */
function uploadProblem(reason: string): string {
  switch (reason) {
    case "ENOENT":
      return "it does not exist. Give the module's file URL (import.meta.url) or a path to it; a package cannot be uploaded, install it where the workers run";
    case "EISDIR":
      return "it is a directory, not a module. Give the module's file, and upload the directory around it with { root: directory }";
    case "ENOTDIR":
      return "`root` must be a directory that contains the module";
    case "outside-root":
      return "the module is not inside `root`. Give a root directory that contains it";
    case "not-a-file":
      return "only local files can be uploaded: give a file: URL (import.meta.url) or a path";
    case "EACCES":
    case "EPERM":
      return "permission denied. Check the permissions of the file and its directories";
    default:
      return `${reason}. Check the path`;
  }
}

/**
 * A module (or the `root` directory around it) given to
 * `client.uploadModule` cannot be uploaded: it does not exist, a directory
 * was given where a module file is expected (or a file as `root`), the
 * module is not inside `root`, or it is not a local file.
 *
 * @example
 * ```ts
 * await client.uploadModule("./no-such-file.js"); // UploadSourceError, reason "ENOENT"
 * ```
 */
export class UploadSourceError extends DaskError {
  override readonly name = "UploadSourceError";
  /** The module or directory, as given. */
  readonly path: string;
  /** `"ENOENT"`, `"EISDIR"`, `"ENOTDIR"`, `"outside-root"`, `"not-a-file"`, or another system error code. */
  readonly reason: string;
  constructor(path: string, reason: string, cause?: unknown) {
    super("DASK_ERR_UPLOAD_SOURCE", `Cannot upload ${path}: ${uploadProblem(reason)}.`, cause === undefined ? undefined : { cause });
    this.path = path;
    this.reason = reason;
  }
}

/**
 * An upload is larger than one message to the scheduler may be (the
 * connection's `maxMessageBytes`, 256 MiB by default). Refused before
 * anything is sent.
 *
 * @example
 * ```ts
 * await client.uploadModule(import.meta.url, { root: "." }); // UploadTooLargeError if "." holds data files
 * ```
 */
export class UploadTooLargeError extends DaskError {
  override readonly name = "UploadTooLargeError";
  /** The module, or the `root` directory, that was to be uploaded. */
  readonly path: string;
  /** Bytes it takes, at least (counting stops once over the limit). */
  readonly bytes: number;
  /** The most one message may carry. */
  readonly maxBytes: number;
  constructor(path: string, bytes: number, maxBytes: number) {
    super(
      "DASK_ERR_UPLOAD_TOO_LARGE",
      `Uploading ${path} takes at least ${bytes} bytes, over the ${maxBytes} one message to the scheduler may carry. ` +
        "Upload code only: give a `root` that holds just your modules, and keep data files out of it (read them on the workers from shared storage, or scatter them).",
    );
    this.path = path;
    this.bytes = bytes;
    this.maxBytes = maxBytes;
  }
}

/**
 * Why an upload failed on one worker.
 *
 * @example
 * ```ts
 * const f: UploadFailure = { worker: "tcp://10.0.0.7:40123", reason: "SyntaxError: Unexpected token" };
 * ```
 */
export interface UploadFailure {
  /** The worker's address. */
  readonly worker: string;
  /** What went wrong there: the import's error, or why the files could not be stored. */
  readonly reason: string;
}

/**
 * An uploaded module could not be stored or imported on some workers (a
 * syntax error, an import of a package the workers lack, an exception at its
 * top level). The workers that failed are named; the others have the module,
 * and the cluster carries on.
 *
 * @example
 * ```ts
 * try { await client.uploadModule(import.meta.url); }
 * catch (e) { if (e instanceof UploadError) for (const f of e.failures) console.error(f.worker, f.reason); }
 * ```
 */
export class UploadError extends DaskError {
  override readonly name = "UploadError";
  /** The module's URL (as `registerModule` records it). */
  readonly module: string;
  /** The workers where it failed, and why. */
  readonly failures: readonly UploadFailure[];
  constructor(module: string, failures: readonly UploadFailure[]) {
    const list = failures.map((f) => `\n  - ${f.worker}: ${f.reason}`).join("");
    super(
      "DASK_ERR_UPLOAD",
      `Module ${module} could not be loaded on ${failures.length} worker${failures.length === 1 ? "" : "s"}:${list}\n` +
        "Fix the module (importing it where you run shows most such errors) and upload it again; the packages it imports must be installed where the workers run. " +
        "The other workers have it, and so will workers that join later.",
    );
    this.module = module;
    this.failures = failures;
  }
}

/**
 * A task waited longer than the scheduler's `noWorkersTimeoutMs` for a
 * worker that could ever run it: none is connected, or none of those
 * connected is among its allowed `workers` or offers the `resources` it
 * needs (a worker with them that is merely busy does not count).
 *
 * @example
 * ```ts
 * // scheduler started with { noWorkersTimeoutMs: 60_000 }
 * await client.submitWith({ resources: { GPU: 1 } }, train, data).result(); // NoValidWorkerError when no worker offers a GPU
 * ```
 */
export class NoValidWorkerError extends DaskError {
  override readonly name = "NoValidWorkerError";
  /** The task's key. */
  readonly key: string;
  /** The workers it may run on; empty when any would do. */
  readonly workers: string[];
  /** What it needs of its worker, such as `["GPU=1"]`; empty when nothing. */
  readonly resources: string[];
  /** Workers connected when it gave up. */
  readonly connectedWorkers: number;
  /** How long it waited. */
  readonly timeoutMs: number;
  constructor(key: string, workers: readonly string[], resources: readonly string[], connectedWorkers: number, timeoutMs: number) {
    const needs = [workers.length > 0 ? `it may run only on ${workers.join(", ")}` : "", resources.length > 0 ? `it needs ${resources.join(", ")}` : ""].filter((s) => s !== "");
    super(
      "DASK_ERR_NO_VALID_WORKER",
      `Task ${key} found no worker that could run it within ${timeoutMs} ms: ` +
        (connectedWorkers === 0
          ? "no worker is connected. Start workers (dask-ts worker ADDRESS), or allow more time with noWorkersTimeoutMs."
          : `${needs.join(" and ")}, and none of the ${connectedWorkers} connected workers ${workers.length > 0 && resources.length > 0 ? "is one of those with them" : workers.length > 0 ? "is one of those" : "offers that much"}. ` +
            "Check the addresses (client.run(() => 0) lists the workers') or the workers' --resources."),
    );
    this.key = key;
    this.workers = [...workers];
    this.resources = [...resources];
    this.connectedWorkers = connectedWorkers;
    this.timeoutMs = timeoutMs;
  }
}

/** An error as a plain record that survives structured clone and msgpack. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack: string;
  readonly code?: string;
  /** The key of the task that threw, when it ran fused inside the reporting task. */
  readonly taskKey?: string;
  /** Typed fields of a dask-ts error, by name. */
  readonly fields?: Record<string, unknown>;
  /** The error's `cause`, when it is an error too (Dask's `__cause__` chain). */
  readonly cause?: SerializedError;
}

/** Causes carried at most this deep: a chain is rarely longer, and a cycle must end. */
const MAX_CAUSE_DEPTH = 8;

/** Turn any thrown value into a plain record. */
export function serializeError(err: unknown, depth = 0): SerializedError {
  if (err instanceof Error) {
    const out: { name: string; message: string; stack: string; code?: string; fields?: Record<string, unknown>; cause?: SerializedError } = {
      name: err.name,
      message: err.message,
      stack: err.stack ?? `${err.name}: ${err.message}`,
    };
    // The cause chain travels too (scenario 31, Dask's chained error message): a worker's
    // "could not read the record" arrives with the SyntaxError that explains it.
    if (err.cause instanceof Error && depth < MAX_CAUSE_DEPTH) out.cause = serializeError(err.cause, depth + 1);
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string") out.code = code;
    if (err instanceof DaskError) {
      const fields: Record<string, unknown> = {};
      for (const k of Object.keys(err)) {
        const v = (err as unknown as Record<string, unknown>)[k];
        if (k !== "code" && k !== "name" && (typeof v !== "object" || v === null || Array.isArray(v))) fields[k] = v;
      }
      out.fields = fields;
    }
    return out;
  }
  let text: string;
  try {
    text = typeof err === "string" ? err : JSON.stringify(err) ?? String(err);
  } catch {
    text = String(err);
  }
  return { name: "NonErrorThrown", message: `a non-Error value was thrown: ${text}`, stack: "" };
}

/** JavaScript's own error classes, rebuilt as themselves (as structured clone does). */
const BUILTIN_ERRORS: Readonly<Record<string, ErrorConstructor>> = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };

/**
 * Rebuild an error from its record: dask-ts errors as their own class,
 * JavaScript's built-in errors (`TypeError`, …) as theirs, others as `Error`
 * with the same name.
 */
export function deserializeError(rec: SerializedError): Error {
  const f = rec.fields ?? {};
  const s = (k: string): string => String(f[k] ?? "");
  // Rebuild with the right class and fields, then restore the exact message and the remote stack.
  let err: Error;
  switch (rec.code) {
    case "DASK_ERR_CLOSURE":
      err = new ClosureError(s("functionName"), (f["variables"] as string[] | undefined) ?? []);
      break;
    case "DASK_ERR_FN_NOT_SHIPPABLE":
      err = new FunctionNotShippableError(s("functionName"), "");
      break;
    case "DASK_ERR_MODULE":
      err = new ModuleResolutionError(s("specifier"), s("exportName"), "");
      break;
    case "DASK_ERR_MISSING_KEY":
      err = new MissingKeyError(s("key"), f["referencedBy"] as string | undefined);
      break;
    case "DASK_ERR_CYCLE":
      err = new CycleError((f["cycle"] as string[] | undefined) ?? []);
      break;
    case "DASK_ERR_INVALID_ARGUMENT":
      err = new InvalidArgumentError(s("argument"), rec.message);
      break;
    case "DASK_ERR_TASK":
      err = new TaskError(s("key"), { name: s("remoteName"), message: s("remoteMessage"), stack: s("remoteStack") });
      break;
    case "DASK_ERR_KILLED_WORKER":
      err = new KilledWorkerError(s("key"), s("lastWorker"), Number(f["allowedFailures"] ?? 0));
      break;
    case "DASK_ERR_LOST_DATA":
      err = new LostDataError(s("key"), s("lastWorker"));
      break;
    case "DASK_ERR_CLOSED":
      err = new ClosedError("");
      break;
    case "DASK_ERR_INVALID_TRANSITION":
      err = new InvalidTransitionError(s("key"), "");
      break;
    case "DASK_ERR_VISUALIZE":
      err = new VisualizeError(rec.message);
      break;
    case "DASK_ERR_NO_FILES_FOUND":
      err = new NoFilesFoundError(s("pattern"));
      break;
    case "DASK_ERR_UNKNOWN_COMPRESSION":
      err = new UnknownCompressionError(s("compression"), (f["supported"] as string[] | undefined) ?? []);
      break;
    case "DASK_ERR_COMPRESSION_UNAVAILABLE":
      err = new CompressionUnavailableError(s("compression"), f["operation"] === "write" ? "write" : "read", (f["available"] as string[] | undefined) ?? [], "");
      break;
    case "DASK_ERR_DECOMPRESS":
      err = new DecompressionError(s("compression"), f["path"] as string | undefined, "");
      break;
    case "DASK_ERR_FILE_READ":
      err = new FileReadError(s("path"), s("reason"));
      break;
    case "DASK_ERR_FILE_WRITE":
      err = new FileWriteError(s("path"), s("reason"));
      break;
    case "DASK_ERR_INVALID_ELEMENT":
      err = new InvalidElementError(s("path"), Number(f["index"] ?? 0), s("elementType"));
      break;
    case "DASK_ERR_CANCELLED":
      err = new CancelledError(s("key"));
      break;
    case "DASK_ERR_TIMEOUT":
      err = new TimeoutError(s("operation"), Number(f["timeoutMs"] ?? 0));
      break;
    case "DASK_ERR_NO_CLIENT":
      err = new NoClientError(s("what"));
      break;
    case "DASK_ERR_UNKNOWN_NAME":
      err = new UnknownNameError(s("kind"), s("unknownName"));
      break;
    case "DASK_ERR_DATASET_EXISTS":
      err = new DatasetExistsError(s("dataset"));
      break;
    case "DASK_ERR_NO_VALID_WORKER":
      err = new NoValidWorkerError(s("key"), (f["workers"] as string[] | undefined) ?? [], (f["resources"] as string[] | undefined) ?? [], Number(f["connectedWorkers"] ?? 0), Number(f["timeoutMs"] ?? 0));
      break;
    case "DASK_ERR_NOT_HELD":
      err = new NotHeldError(s("kind"), s("heldName"));
      break;
    case "DASK_ERR_UPLOAD_SOURCE":
      err = new UploadSourceError(s("path"), s("reason"));
      break;
    case "DASK_ERR_UPLOAD_TOO_LARGE":
      err = new UploadTooLargeError(s("path"), Number(f["bytes"] ?? 0), Number(f["maxBytes"] ?? 0));
      break;
    case "DASK_ERR_UPLOAD":
      err = new UploadError(s("module"), (f["failures"] as UploadFailure[] | undefined) ?? []);
      break;
    case "DASK_ERR_ELEMENT":
      err = new ElementError(s("path"), Number(f["line"] ?? 0), "");
      break;
    case "DASK_ERR_INVALID_ADDRESS":
      err = new InvalidAddressError(s("address"), "");
      break;
    case "DASK_ERR_CONNECT_TIMEOUT":
      err = new ConnectTimeoutError(s("address"), Number(f["elapsedMs"] ?? 0), Number(f["attempts"] ?? 0), s("lastError"));
      break;
    case "DASK_ERR_PROTOCOL_VERSION":
      err = new ProtocolVersionError(s("address"), Number(f["localVersion"] ?? 0), Number(f["peerVersion"] ?? 0));
      break;
    case "DASK_ERR_PROTOCOL":
      err = new ProtocolError(s("address"), s("reason"));
      break;
    case "DASK_ERR_COMM_CLOSED":
      err = new CommClosedError(s("address"), s("reason"));
      break;
    case "DASK_ERR_MESSAGE_TOO_LARGE":
      err = new MessageTooLargeError(Number(f["bytes"] ?? 0), Number(f["frames"] ?? 0), Number(f["maxBytes"] ?? 0), Number(f["maxFrames"] ?? 0), f["limit"] === "maxValueBytes" ? "maxValueBytes" : "maxMessageBytes");
      break;
    case "DASK_ERR_SERIALIZE":
      err = new SerializeError(s("path"), s("reason"));
      break;
    default: {
      const builtin = rec.code === undefined && Object.hasOwn(BUILTIN_ERRORS, rec.name) ? BUILTIN_ERRORS[rec.name] : undefined;
      if (builtin !== undefined) err = new builtin(rec.message);
      else {
        err = new Error(rec.message);
        Object.defineProperty(err, "name", { value: rec.name, configurable: true, writable: true });
        if (rec.code !== undefined) Object.assign(err, { code: rec.code });
      }
    }
  }
  err.message = rec.message;
  err.stack = rec.stack;
  if (rec.cause !== undefined) Object.defineProperty(err, "cause", { value: deserializeError(rec.cause), configurable: true, writable: true });
  return err;
}
