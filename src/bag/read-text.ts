/**
 * `readText`: a bag of the lines of text files. One partition per file, or
 * per `blocksize` bytes of an uncompressed file (cut at line boundaries, so
 * every line is in exactly one partition). Compressed files are decoded as a
 * whole, by extension. Files are found and measured when the bag is built,
 * read by the workers when it is computed.
 *
 * Lines come without their line ending ("\n" or "\r\n"), the way
 * `readline` and `split(/\r?\n/)` give them; `keepEndings: true` keeps them
 * as Dask does.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.js";
import { lit } from "../core/graph.js";
import { tokenize } from "../core/tokenize.js";
import { Bag } from "./bag.js";
import { partition, partitionKey, runNode } from "./graph.js";
import { planTextBlocks } from "./io/blocks.js";
import type { CompressionOption } from "./io/compression.js";
import { expandPaths } from "./io/paths.js";
import type { TextSource } from "./kernels/run.js";

/**
 * Options of {@link readText}.
 *
 * @example
 * ```ts
 * const opts: ReadTextOptions = { blocksize: "64MiB", includePath: true };
 * ```
 */
export interface ReadTextOptions {
  /** Cut uncompressed files into partitions of about this many bytes (`64e6`, `"64MiB"`). Default: one partition per file. */
  readonly blocksize?: number | string;
  /** `"infer"` (default: by extension: `.gz`, `.bz2`, `.xz`, `.zst`), `null` for none, or a name. */
  readonly compression?: CompressionOption;
  /** Text encoding. Default `"utf8"`. */
  readonly encoding?: BufferEncoding;
  /** Elements are `[line, path]` pairs instead of lines. */
  readonly includePath?: boolean;
  /** Keep each line's ending ("\n"), as Dask does. Default false. */
  readonly keepEndings?: boolean;
}

const OPTIONS = ["blocksize", "compression", "encoding", "includePath", "keepEndings"];

/**
 * A bag of the lines of the files matching `paths` (glob patterns or plain paths).
 *
 * @example
 * ```ts
 * import * as db from "dask-ts/bag";
 * const records = db.readText("logs/2015-*.jsonl.gz").map(JSON.parse);
 * const top = await records.pluck("name").frequencies().topk(10, ([, n]) => n).compute();
 * ```
 */
export function readText(paths: string | readonly string[], options: ReadTextOptions & { readonly includePath: true }): Bag<[string, string]>;
export function readText(paths: string | readonly string[], options?: ReadTextOptions): Bag<string>;
export function readText(paths: string | readonly string[], options: ReadTextOptions = {}): Bag<string> | Bag<[string, string]> {
  for (const k of Object.keys(options)) {
    if (!OPTIONS.includes(k)) throw new InvalidArgumentError("options", `Unknown readText option "${k}". The options are: ${OPTIONS.join(", ")}.`);
  }
  const encoding = options.encoding ?? "utf8";
  if (!Buffer.isEncoding(encoding)) throw new InvalidArgumentError("encoding", `Unknown text encoding ${JSON.stringify(encoding)}. Use "utf8", "latin1", "ascii" or "utf16le".`);
  const files = expandPaths(paths);
  const blocks = planTextBlocks(files, { blocksize: options.blocksize, compression: options.compression ?? "infer" });
  const includePath = options.includePath === true;
  const keepEndings = options.keepEndings === true;
  const name = `read-text-${tokenize(blocks, encoding, includePath, keepEndings)}`;
  return new Bag<string>(
    name,
    blocks.map((block, i) => {
      const source: TextSource = { block, encoding, keepEndings, includePath };
      return partition<string>(partitionKey(name, i), runNode("text", lit(source), [], { kind: "list" }, []), []);
    }),
  );
}
