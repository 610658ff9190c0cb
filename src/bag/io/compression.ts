/**
 * Compressed text files for bags: which compressions exist, how a file name
 * implies one, and turning whole buffers into and out of them.
 *
 * Policy:
 * - Four compressions, named as Dask names them: `gzip` (`.gz`), `bz2`
 *   (`.bz2`), `xz` (`.xz`) and `zstd` (`.zst`, `.zstd`). The `compression`
 *   option is `"infer"` (the default, also when it is left out or
 *   `undefined`: by extension, case-insensitive), `null` (none), or one of
 *   the names; anything else is an `UnknownCompressionError`.
 * - Reading: gzip with `node:zlib`; zstd with the pure-JavaScript `fzstd`,
 *   on every Node, because Node's own zstd decoder (22.15 and later) silently
 *   stops after the first frame (nodejs/node#64741); bz2 with the
 *   pure-JavaScript `seek-bzip`; xz with `xz-decompress` (WebAssembly). None
 *   of them builds native code. Concatenated members, streams or frames (what
 *   `gzip -c a >> f` makes) decode as one, like the command-line tools.
 * - Writing: gzip always, zstd where Node's zlib has it; anything else is a
 *   `CompressionUnavailableError` that lists what can be written here.
 * - The decoder packages are loaded on first use, so importing `dask-ts/bag`
 *   costs nothing for people who never read bz2, xz or zstd.
 * - Whole buffers only: a compressed file is always one block, read whole.
 *
 * @module
 */
import zlib from "node:zlib";
import { createRequire } from "node:module";
import { CompressionUnavailableError, DecompressionError, UnknownCompressionError } from "../../core/errors.js";

/**
 * A compression that bag files can be read in.
 *
 * @example
 * ```ts
 * const c: Compression = "gzip";
 * ```
 */
export type Compression = "gzip" | "bz2" | "xz" | "zstd";

/**
 * What a `compression` option may be: `"infer"` (from the file's extension;
 * also what `undefined`, a left-out option, means), `null` (none), or a
 * compression's name.
 *
 * @example
 * ```ts
 * const opts: { compression: CompressionOption } = { compression: "infer" };
 * ```
 */
export type CompressionOption = Compression | "infer" | null | undefined;

/**
 * Every compression, in the order error messages list them.
 *
 * @example
 * ```ts
 * compressions.includes("xz"); // true
 * ```
 */
export const compressions: readonly Compression[] = Object.freeze(["gzip", "bz2", "xz", "zstd"]);

const byExtension: ReadonlyMap<string, Compression> = new Map([
  ["gz", "gzip"],
  ["bz2", "bz2"],
  ["xz", "xz"],
  ["zst", "zstd"],
  ["zstd", "zstd"],
]);

/**
 * The compression a file name implies by its extension (case-insensitive),
 * or `undefined` when it implies none.
 *
 * @example
 * ```ts
 * inferCompression("logs/2024-01.json.gz"); // "gzip"
 * inferCompression("a.ZST"); // "zstd"
 * inferCompression("a.txt"); // undefined
 * ```
 */
export function inferCompression(path: string): Compression | undefined {
  const name = path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
  const dot = name.lastIndexOf(".");
  return dot <= 0 ? undefined : byExtension.get(name.slice(dot + 1).toLowerCase());
}

/**
 * The compression to use for `path` under a `compression` option: the
 * extension's for `"infer"` (the default, also for `undefined`), none for
 * `null`, the named one otherwise.
 *
 * @throws UnknownCompressionError for any other value.
 * @example
 * ```ts
 * resolveCompression("a.txt.gz"); // "gzip"
 * resolveCompression("a.txt.gz", null); // null
 * resolveCompression("a.dat", "xz"); // "xz"
 * resolveCompression("a.dat", "lz4"); // throws UnknownCompressionError
 * ```
 */
export function resolveCompression(path: string, option: CompressionOption | string = "infer"): Compression | null {
  if (option === null) return null;
  if (option === "infer" || option === undefined) return inferCompression(path) ?? null;
  return checkCompression(option);
}

/** `c` as a `Compression`, or an `UnknownCompressionError`. */
function checkCompression(c: unknown): Compression {
  if (typeof c === "string" && (compressions as readonly string[]).includes(c)) return c as Compression;
  throw new UnknownCompressionError(typeof c === "string" ? c : String(c), compressions);
}

/**
 * Node's zstd encoder, present from Node 22.15 (not in the Node 20 type
 * definitions). Its decoder is not used: it drops every frame after the first.
 */
interface ZlibZstd {
  zstdCompress?: (buf: Uint8Array, callback: (err: Error | null, result: Buffer) => void) => void;
}
const zlibZstd = zlib as unknown as ZlibZstd;

/**
 * The compressions {@link compress} can write on this Node: gzip, and zstd
 * from Node 22.15.
 *
 * @example
 * ```ts
 * writableCompressions(); // ["gzip"] on Node 20, ["gzip", "zstd"] on Node 24
 * ```
 */
export function writableCompressions(): Compression[] {
  return typeof zlibZstd.zstdCompress === "function" ? ["gzip", "zstd"] : ["gzip"];
}

/** Run a callback-style zlib function as a promise. */
function viaZlib(fn: (buf: Uint8Array, callback: (err: Error | null, result: Buffer) => void) => void, data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => fn(data, (err, out) => (err === null ? resolve(out) : reject(err))));
}

/** The packages dask-ts decodes with, by compression (gzip needs none). */
const decoderPackages = { bz2: "seek-bzip", xz: "xz-decompress", zstd: "fzstd" } as const;

/**
 * Load a decoder package (through `require`) on first use, turning a failure into a
 * `CompressionUnavailableError` for reading `compression`.
 *
 * @example
 * ```ts
 * const fzstd = loadDecoderPackage<typeof import("fzstd")>("fzstd", "zstd");
 * ```
 */
export function loadDecoderPackage<T>(name: string, compression: Compression): T {
  try {
    return createRequire(import.meta.url)(name) as T;
  } catch (err) {
    throw new CompressionUnavailableError(
      compression,
      "read",
      ["gzip"],
      `its decoder package "${name}" could not be loaded (${describe(err).split("\n", 1)[0]}); reinstall dask-ts's dependencies`,
      err,
    );
  }
}

interface SeekBzip {
  decode(input: Uint8Array, output?: Uint8Array, multistream?: boolean): Uint8Array;
}

/** Drain a web stream into one buffer. */
async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(parts);
    parts.push(value);
  }
}

async function decodeXz(data: Uint8Array): Promise<Uint8Array> {
  const { XzReadableStream } = loadDecoderPackage<typeof import("xz-decompress")>(decoderPackages.xz, "xz");
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(data);
      controller.close();
    },
  });
  return collect(new XzReadableStream(input));
}

/**
 * Decompress a whole buffer. Concatenated gzip members, bz2 and xz streams and
 * zstd frames decode as one, as the command-line tools do; empty input
 * (a zero-byte file) is empty output. `path`, if given, is only named in errors.
 *
 * @throws DecompressionError when the data is damaged or not in that format;
 *   UnknownCompressionError for an unknown name; CompressionUnavailableError
 *   when a decoder package cannot be loaded.
 * @example
 * ```ts
 * const text = Buffer.from(await decompress(await readFile("a.txt.gz"), "gzip")).toString("utf8");
 * ```
 */
export async function decompress(data: Uint8Array, c: Compression, path?: string): Promise<Uint8Array> {
  const compression = checkCompression(c);
  // An empty file holds no data, as Python's readers see it (no decoder accepts zero bytes as a stream).
  if (data.length === 0) return new Uint8Array(0);
  try {
    switch (compression) {
      case "gzip":
        return await viaZlib(zlib.gunzip, data);
      case "zstd":
        return loadDecoderPackage<typeof import("fzstd")>(decoderPackages.zstd, "zstd").decompress(data);
      case "bz2":
        return loadDecoderPackage<SeekBzip>(decoderPackages.bz2, "bz2").decode(data, undefined, true);
      case "xz":
        return await decodeXz(data);
    }
  } catch (err) {
    if (err instanceof CompressionUnavailableError) throw err;
    throw new DecompressionError(compression, path, describe(err), err);
  }
}

/** A thrown value's message, for wrapping it. */
function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === "string" ? err : String(err);
}

/**
 * Check that `c` can be written on this Node, before any work is done.
 *
 * @throws CompressionUnavailableError for bz2, xz, and zstd before Node
 *   22.15, naming the compressions that can be written here;
 *   UnknownCompressionError for an unknown name.
 * @example
 * ```ts
 * assertWritable("gzip"); // fine everywhere
 * assertWritable("xz"); // throws CompressionUnavailableError
 * ```
 */
export function assertWritable(c: Compression): void {
  const compression = checkCompression(c);
  if (writableCompressions().includes(compression)) return;
  const reason =
    compression === "zstd"
      ? `Node's zlib writes zstd from version 22.15 on`
      : `dask-ts can read ${compression} but bundles no ${compression} encoder`;
  throw new CompressionUnavailableError(compression, "write", writableCompressions(), reason);
}

/**
 * Compress a whole buffer for writing: gzip always, zstd where Node's zlib
 * has it (22.15 and later).
 *
 * @throws CompressionUnavailableError for bz2, xz, and zstd on older Node,
 *   naming the compressions that can be written here.
 * @example
 * ```ts
 * await writeFile("out.txt.gz", await compress(Buffer.from("a\nb"), "gzip"));
 * ```
 */
export async function compress(data: Uint8Array, c: Compression): Promise<Uint8Array> {
  assertWritable(c);
  return c === "zstd" ? viaZlib(zlibZstd.zstdCompress!, data) : viaZlib(zlib.gzip, data);
}
