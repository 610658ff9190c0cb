/**
 * Planning how text files are cut into blocks, one block per bag partition.
 *
 * Policy:
 * - Without `blocksize`, each file is one block (`start: 0, end: null`).
 * - With `blocksize` (bytes, or a string such as `"64MiB"`, `"128MB"`,
 *   `"1 GB"`: SI and IEC units), an uncompressed file of `size` bytes is cut
 *   into `max(1, floor(size / blocksize))` byte ranges of near-equal length,
 *   as Dask cuts them: no block is shorter than `blocksize` unless the file
 *   is, so there is no small leftover block at the end. Block edges are byte
 *   offsets; {@link readTextBlock} moves them to line boundaries.
 * - A compressed file is never cut (it cannot be entered in the middle): it
 *   is one block, whatever `blocksize` says. An empty file is one empty block.
 * - Blocks are plain objects, so they can be sent to worker threads as task
 *   arguments.
 *
 * @module
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { FileReadError, InvalidArgumentError } from "../../core/errors.js";
import { resolveCompression, type Compression, type CompressionOption } from "./compression.js";
import { readError } from "./fs-errors.js";

/**
 * A byte range of one file, the input of one bag partition. The partition
 * holds the lines whose first byte lies in `[start, end)`.
 *
 * @example
 * ```ts
 * const block: TextBlock = { path: "/data/a.txt", start: 0, end: 1 << 20, compression: null };
 * ```
 */
export interface TextBlock {
  /** The file, as an absolute path. */
  path: string;
  /** The first byte offset of the range. */
  start: number;
  /** The byte offset just past the range, or `null` for the end of the file. */
  end: number | null;
  /** How the file is compressed, or `null`. Compressed blocks always cover the whole file. */
  compression: Compression | null;
}

/**
 * Options of {@link planTextBlocks}.
 *
 * @example
 * ```ts
 * const options: PlanTextBlocksOptions = { blocksize: "64MiB", compression: "infer" };
 * ```
 */
export interface PlanTextBlocksOptions {
  /** Cut uncompressed files into blocks of about this many bytes (a number, or a string such as `"64MiB"`). */
  blocksize?: number | string | null | undefined;
  /** `"infer"` (default: by extension), `null` for none, or a compression's name. */
  compression?: CompressionOption | string;
}

const units: ReadonlyMap<string, number> = new Map([
  ["", 1],
  ["b", 1],
  ["k", 1e3],
  ["kb", 1e3],
  ["m", 1e6],
  ["mb", 1e6],
  ["g", 1e9],
  ["gb", 1e9],
  ["t", 1e12],
  ["tb", 1e12],
  ["p", 1e15],
  ["pb", 1e15],
  ["kib", 2 ** 10],
  ["mib", 2 ** 20],
  ["gib", 2 ** 30],
  ["tib", 2 ** 40],
  ["pib", 2 ** 50],
]);

/**
 * A byte count from a number or a string with an optional SI (`kB`, `MB`,
 * `GB`, … powers of 1000) or IEC (`KiB`, `MiB`, `GiB`, … powers of 1024) unit;
 * case and spaces do not matter, fractions are rounded down.
 *
 * @throws InvalidArgumentError (argument `blocksize`) for anything that is not
 *   a positive whole number of bytes.
 * @example
 * ```ts
 * parseBytes("64MiB"); // 67108864
 * parseBytes("128MB"); // 128000000
 * parseBytes("1.5 kB"); // 1500
 * parseBytes(4096); // 4096
 * ```
 */
export function parseBytes(size: number | string): number {
  let bytes = Number.NaN;
  if (typeof size === "number") {
    bytes = Number.isSafeInteger(size) ? size : Number.NaN;
  } else if (typeof size === "string") {
    const m = /^\s*((?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*([a-z]*)\s*$/i.exec(size);
    const unit = m === null ? undefined : units.get(m[2]!.toLowerCase());
    if (m !== null && unit !== undefined) bytes = Math.floor(Number(m[1]) * unit);
  }
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new InvalidArgumentError(
      "blocksize",
      `blocksize must be a positive number of bytes, or a string such as "64MiB", "128MB" or "1 GB", not ${JSON.stringify(size) ?? String(size)}.`,
    );
  }
  return bytes;
}

/**
 * The blocks to read the files in (paths made absolute): one per file, or, with `blocksize`,
 * uncompressed files cut into near-equal byte ranges of at least `blocksize`
 * bytes (fewer when the file is smaller). Compressed files are one block each.
 *
 * @throws InvalidArgumentError for a bad `blocksize`; UnknownCompressionError
 *   for a bad `compression`; FileReadError when a file to cut cannot be
 *   looked at or is a directory.
 * @example
 * ```ts
 * const paths = expandPaths("logs/*.txt");
 * const blocks = planTextBlocks(paths, { blocksize: "64MiB" });
 * // [{ path: ".../logs/a.txt", start: 0, end: 67108864, compression: null }, …]
 * ```
 */
export function planTextBlocks(paths: readonly string[], options: PlanTextBlocksOptions = {}): TextBlock[] {
  const blocksize = options.blocksize === undefined || options.blocksize === null ? null : parseBytes(options.blocksize);
  return paths.flatMap((given): TextBlock[] => {
    const path = resolve(given);
    const compression = resolveCompression(path, options.compression);
    if (blocksize === null || compression !== null) return [{ path, start: 0, end: null, compression }];
    let info: ReturnType<typeof statSync>;
    try {
      info = statSync(path);
    } catch (err) {
      throw readError(path, err);
    }
    if (info.isDirectory()) throw new FileReadError(path, "EISDIR");
    return cutFile(path, info.size, blocksize);
  });
}

/** Dask's cut: `max(1, floor(size / blocksize))` near-equal ranges, the last open-ended. */
function cutFile(path: string, size: number, blocksize: number): TextBlock[] {
  const n = Math.max(1, Math.floor(size / blocksize));
  // The first `size % n` blocks are one byte longer; integer arithmetic stays exact for any file size.
  const base = Math.floor(size / n);
  const longer = size % n;
  const offset = (i: number): number => i * base + Math.min(i, longer);
  const blocks: TextBlock[] = [];
  for (let i = 0; i < n; i++) {
    blocks.push({ path, start: offset(i), end: i === n - 1 ? null : offset(i + 1), compression: null });
  }
  return blocks;
}
