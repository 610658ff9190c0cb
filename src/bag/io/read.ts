/**
 * Reading the text of one block, cut at line boundaries.
 *
 * Policy:
 * - Every line belongs to exactly one block: the one in which the line's
 *   first byte lies. A block `[start, end)` therefore skips the end of a line
 *   that began before `start` (everything up to and including the first
 *   `"\n"` at or after `start - 1`) and reads past `end` to finish its own
 *   last line. Concatenating the texts of a file's blocks gives the file
 *   exactly, whatever the cut, with `"\n"` or `"\r\n"` endings, with or
 *   without a final newline.
 * - Blocks are cut on bytes and decoded after cutting at `"\n"`, a byte that
 *   never occurs inside a UTF-8 (or Latin-1, ASCII) character, so a character
 *   spanning a block edge is decoded whole. Encodings where it can (UTF-16)
 *   are refused for blocks that are not whole files.
 * - One positioned read of `[start - 1, end)`, then small reads, doubling
 *   from 8 KiB, until the last line ends; the rest of the file is not read.
 *   Compressed files are read and decompressed whole.
 * - A missing file, a directory or a permission problem is a `FileReadError`
 *   naming the path, with Node's error as `cause`.
 *
 * @module
 */
import { open, type FileHandle } from "node:fs/promises";
import { FileReadError, InvalidArgumentError } from "../../core/errors.js";
import type { TextBlock } from "./blocks.js";
import { decompress } from "./compression.js";
import { readError } from "./fs-errors.js";

const NEWLINE = 0x0a;
const FIRST_EXTRA_READ = 8 * 1024;
const LARGEST_EXTRA_READ = 1024 * 1024;
const COUNT_CHUNK = 64 * 1024;
const EMPTY = new Uint8Array(0);

/** Encodings in which the byte `"\n"` only ever stands for a newline. */
const lineSafeEncodings = new Set(["utf8", "utf-8", "ascii", "latin1", "binary"]);

/** Random access to bytes: a file, or a buffer already in memory. */
interface ByteSource {
  readonly size: number;
  /** Up to `length` bytes from `position`; fewer only at the end. */
  read(position: number, length: number): Promise<Uint8Array>;
}

function memorySource(data: Uint8Array): ByteSource {
  return { size: data.length, read: async (position, length) => data.subarray(position, position + length) };
}

function fileSource(path: string, handle: FileHandle, size: number): ByteSource {
  return {
    size,
    async read(position, length) {
      const buf = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(buf, filled, length - filled, position + filled).catch((err: unknown) => {
          throw readError(path, err);
        });
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return buf.subarray(0, filled);
    },
  };
}

/** The bytes of the lines whose first byte lies in `[start, end)`. */
async function linesInRange(src: ByteSource, start: number, end: number | null): Promise<Uint8Array> {
  const stop = end === null ? src.size : Math.min(end, src.size);
  if (start >= stop) return EMPTY;
  // Read from the byte before `start`: when it is "\n", a line starts exactly at `start`.
  const from = start === 0 ? 0 : start - 1;
  const head = await src.read(from, stop - from);
  let begin = 0;
  if (start > 0) {
    const nl = head.indexOf(NEWLINE);
    // No "\n" before `stop - 1`: every line here began in an earlier block.
    if (nl < 0 || nl === head.length - 1) return EMPTY;
    begin = nl + 1;
  }
  if (from + head.length >= src.size || head[head.length - 1] === NEWLINE) return head.subarray(begin);
  // The last line runs past `stop`: read on until it ends.
  const parts: Uint8Array[] = [head.subarray(begin)];
  let position = from + head.length;
  let chunk = FIRST_EXTRA_READ;
  while (position < src.size) {
    const more = await src.read(position, Math.min(chunk, src.size - position));
    if (more.length === 0) break;
    const nl = more.indexOf(NEWLINE);
    if (nl >= 0) {
      parts.push(more.subarray(0, nl + 1));
      break;
    }
    parts.push(more);
    position += more.length;
    chunk = Math.min(chunk * 2, LARGEST_EXTRA_READ);
  }
  return Buffer.concat(parts);
}

/** Open a file for reading, refusing directories; the caller closes it. */
async function openFile(path: string): Promise<{ handle: FileHandle; size: number }> {
  const handle = await open(path, "r").catch((err: unknown) => {
    throw readError(path, err);
  });
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw new FileReadError(path, "EISDIR");
    return { handle, size: info.size };
  } catch (err) {
    await handle.close();
    throw readError(path, err);
  }
}

function checkBlock(block: TextBlock): void {
  const offset = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  if (typeof block?.path !== "string" || !offset(block.start) || !(block.end === null || offset(block.end))) {
    throw new InvalidArgumentError("block", `Not a text block: ${JSON.stringify(block)}. Make blocks with planTextBlocks.`);
  }
}

function checkEncoding(encoding: string, whole: boolean): BufferEncoding {
  const name = typeof encoding === "string" ? encoding.toLowerCase() : "";
  if (!Buffer.isEncoding(name)) {
    throw new InvalidArgumentError("encoding", `Unknown text encoding ${JSON.stringify(encoding)}. Use "utf8", "latin1", "ascii" or "utf16le".`);
  }
  if (!whole && !lineSafeEncodings.has(name)) {
    throw new InvalidArgumentError(
      "encoding",
      `Files in ${encoding} cannot be cut into blocks at line boundaries byte by byte; read them whole (no blocksize) or use "utf8" or "latin1".`,
    );
  }
  return name;
}

/**
 * The text of a block: the lines whose first byte lies in
 * `[block.start, block.end)`, each with its line ending. Concatenating the
 * texts of a file's blocks gives the whole file.
 *
 * @throws FileReadError for a missing file, a directory or no permission;
 *   DecompressionError for damaged compressed data; InvalidArgumentError for
 *   an unknown encoding, or UTF-16 on a block that is not the whole file.
 * @example
 * ```ts
 * // a.txt is "one\ntwo\nthree\n"
 * await readTextBlock({ path: "/d/a.txt", start: 0, end: 5, compression: null }); // "one\ntwo\n"
 * await readTextBlock({ path: "/d/a.txt", start: 5, end: null, compression: null }); // "three\n"
 * ```
 */
export async function readTextBlock(block: TextBlock, encoding = "utf8"): Promise<string> {
  checkBlock(block);
  const name = checkEncoding(encoding, block.start === 0 && block.end === null);
  const { path } = block;
  const { handle, size } = await openFile(path);
  let bytes: Uint8Array;
  try {
    if (block.compression === null || block.compression === undefined) {
      bytes = await linesInRange(fileSource(path, handle, size), block.start, block.end);
    } else {
      const raw = await handle.readFile().catch((err: unknown) => {
        throw readError(path, err);
      });
      const data = await decompress(raw, block.compression, path);
      bytes = await linesInRange(memorySource(data), block.start, block.end);
    }
  } finally {
    await handle.close();
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(name);
}

/**
 * The 1-based number of the line that holds byte `byteOffset` of a file: the
 * count of `"\n"` before it, plus one. Reads the file up to that offset, so
 * it is meant for error messages about a block that does not start at 0
 * (so an uncompressed file: compressed files are single blocks).
 *
 * @throws FileReadError when the file cannot be read; InvalidArgumentError
 *   for a negative or fractional offset.
 * @example
 * ```ts
 * // a.txt is "one\ntwo\nthree\n"
 * await lineNumberAt("/d/a.txt", 0); // 1
 * await lineNumberAt("/d/a.txt", 8); // 3
 * ```
 */
export async function lineNumberAt(path: string, byteOffset: number): Promise<number> {
  if (!Number.isSafeInteger(byteOffset) || byteOffset < 0) {
    throw new InvalidArgumentError("byteOffset", `A byte offset must be a whole number ≥ 0, not ${byteOffset}.`);
  }
  const { handle, size } = await openFile(path);
  try {
    const src = fileSource(path, handle, size);
    const stop = Math.min(byteOffset, size);
    let lines = 1;
    for (let position = 0; position < stop; position += COUNT_CHUNK) {
      const chunk = await src.read(position, Math.min(COUNT_CHUNK, stop - position));
      if (chunk.length === 0) break;
      for (let i = chunk.indexOf(NEWLINE); i >= 0; i = chunk.indexOf(NEWLINE, i + 1)) lines++;
    }
    return lines;
  } finally {
    await handle.close();
  }
}
