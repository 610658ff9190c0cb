/**
 * Writing one partition of a bag as one text file.
 *
 * Policy:
 * - Elements are strings joined by `"\n"`, as Dask writes them: a newline
 *   between elements, and one after the last only with `lastEndline: true`
 *   (an empty partition is an empty file either way). Any other element is
 *   an `InvalidElementError`: map elements to strings first.
 * - Compression follows the path's extension by default (`"infer"`); `null`
 *   writes plain text. Only gzip, and zstd on Node 22.15 and later, can be
 *   written.
 * - Parent directories are created. The file is written under a temporary
 *   name in the same directory and renamed into place, so a task that fails
 *   (or a worker that dies) never leaves a half-written file under the final
 *   name; an existing file of that name is replaced only by a complete one.
 * - Uncompressed text is written as it is produced, in pieces of about a
 *   megabyte, so a partition never has to fit in one string.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { InvalidArgumentError, InvalidElementError } from "../../core/errors.js";
import { assertWritable, compress, resolveCompression, type CompressionOption } from "./compression.js";
import { writeError } from "./fs-errors.js";

/** About how many characters of text to gather before encoding and writing them. */
const PIECE_CHARS = 1 << 20;

/**
 * Options of {@link writeTextFile}.
 *
 * @example
 * ```ts
 * const options: WriteTextOptions = { compression: "infer", encoding: "utf8", lastEndline: true };
 * ```
 */
export interface WriteTextOptions {
  /** `"infer"` (default: by the path's extension), `null` for none, or `"gzip"`/`"zstd"`. */
  compression?: CompressionOption | string;
  /** The text encoding, `"utf8"` by default. */
  encoding?: string;
  /** End the last element with a newline too (default `false`, as in Dask). */
  lastEndline?: boolean;
}

/** A short name for a value's type, for error messages. */
function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "object") {
    const ctor = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof ctor === "string" && ctor !== "" && ctor !== "Object" ? ctor : "object";
  }
  return typeof value;
}

/** The text of `lines`, encoded, in pieces of about {@link PIECE_CHARS} characters. */
function* encodedPieces(path: string, lines: Iterable<string>, encoding: BufferEncoding, lastEndline: boolean): Generator<Buffer> {
  let piece = "";
  let index = 0;
  for (const line of lines as Iterable<unknown>) {
    if (typeof line !== "string") throw new InvalidElementError(path, index, typeName(line));
    piece += index === 0 ? line : `\n${line}`;
    index++;
    if (piece.length >= PIECE_CHARS) {
      yield Buffer.from(piece, encoding);
      piece = "";
    }
  }
  if (lastEndline && index > 0) piece += "\n";
  if (piece !== "") yield Buffer.from(piece, encoding);
}

async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  for (let done = 0; done < data.length; ) done += (await handle.write(data, done, data.length - done)).bytesWritten;
}

/**
 * Write `lines` to `path` as text: joined by `"\n"`, compressed as the path's
 * extension says (by default), through a temporary file renamed into place.
 * Creates parent directories. Returns `path`.
 *
 * @throws InvalidElementError for an element that is not a string;
 *   FileWriteError when the file or its directory cannot be written;
 *   CompressionUnavailableError / UnknownCompressionError for a compression
 *   that cannot be written; InvalidArgumentError for a bad path or encoding.
 * @example
 * ```ts
 * await writeTextFile("out/0.txt.gz", ["a", "b"]); // out/0.txt.gz holds gzip("a\nb")
 * await writeTextFile("out/1.txt", ["c"], { lastEndline: true }); // "c\n"
 * ```
 */
export async function writeTextFile(path: string, lines: Iterable<string>, options: WriteTextOptions = {}): Promise<string> {
  if (typeof path !== "string" || path === "") throw new InvalidArgumentError("path", "The file to write must be a non-empty path.");
  const encoding = (options.encoding ?? "utf8").toLowerCase();
  if (!Buffer.isEncoding(encoding)) {
    throw new InvalidArgumentError("encoding", `Unknown text encoding ${JSON.stringify(options.encoding)}. Use "utf8", "latin1", "ascii" or "utf16le".`);
  }
  const compression = resolveCompression(path, options.compression);
  if (compression !== null) assertWritable(compression);
  const target = resolve(path);
  const dir = dirname(target);
  await mkdir(dir, { recursive: true }).catch((err: unknown) => {
    throw writeError(path, err);
  });
  const temporary = join(dir, `.${basename(target)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temporary, "wx").catch((err: unknown) => {
    throw writeError(path, err);
  });
  let closed = false;
  try {
    const pieces = encodedPieces(path, lines, encoding, options.lastEndline === true);
    if (compression === null) {
      for (const piece of pieces) await writeAll(handle, piece);
    } else {
      await writeAll(handle, await compress(Buffer.concat([...pieces]), compression));
    }
    closed = true;
    await handle.close();
    await rename(temporary, target);
  } catch (err) {
    if (!closed) await handle.close().catch(() => undefined);
    await rm(temporary, { force: true }).catch(() => undefined);
    throw writeError(path, err);
  }
  return path;
}
