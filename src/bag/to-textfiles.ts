/**
 * `toTextfiles`: one text file per partition, written by the workers.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.js";
import { lit, ref } from "../core/graph.js";
import { compute, type ComputeOptions } from "../collections/compute.js";
import type { Bag } from "./bag.js";
import { opNode, partition } from "./graph.js";
import { outputPaths } from "./io/paths.js";
import type { CompressionOption } from "./io/compression.js";

/**
 * Options of `toTextfiles`.
 *
 * @example
 * ```ts
 * const opts: ToTextfilesOptions = { compression: "gzip", nameFunction: (i) => `day-${i + 1}`, lastEndline: true };
 * ```
 */
export interface ToTextfilesOptions extends Pick<ComputeOptions, "scheduler" | "priority"> {
  /** The name put in place of `*` for partition `i`. Default: `i` zero-padded to the width of the largest. */
  readonly nameFunction?: (i: number) => string;
  /** `"infer"` (default: from the extension, e.g. `.gz`), `null` for none, or `"gzip"` / `"zstd"`. */
  readonly compression?: CompressionOption;
  /** Text encoding. Default `"utf8"`. */
  readonly encoding?: BufferEncoding;
  /** End the last line of each file with a newline too. Default false, as in Dask. */
  readonly lastEndline?: boolean;
}

/** `toTextfiles` (see `Bag.toTextfiles`). */
export async function toTextfiles(bag: Bag<unknown>, path: string, options: ToTextfilesOptions): Promise<string[]> {
  for (const k of Object.keys(options)) {
    if (!["nameFunction", "compression", "encoding", "lastEndline", "scheduler", "priority"].includes(k)) {
      throw new InvalidArgumentError("options", `Unknown toTextfiles option "${k}". The options are: nameFunction, compression, encoding, lastEndline, scheduler, priority.`);
    }
  }
  const paths = outputPaths(path, bag.npartitions, options.nameFunction);
  const writeOptions = {
    compression: options.compression === undefined ? "infer" : options.compression,
    encoding: options.encoding ?? "utf8",
    lastEndline: options.lastEndline === true,
  };
  const name = `to-textfiles-${bag.name}`;
  const writes = bag.parts.map((p, i) => partition<string>(`${name}[${i}]`, opNode("dask.bag.write", [lit(paths[i]), lit(writeOptions), ref(p.key)]), [p]));
  const { scheduler, priority } = options;
  const [written] = await compute(writes, { ...(scheduler === undefined ? {} : { scheduler }), ...(priority === undefined ? {} : { priority }) });
  return written as unknown as string[];
}
