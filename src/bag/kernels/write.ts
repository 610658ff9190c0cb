/**
 * `dask.bag.write`: one partition written to one text file (`toTextfiles`).
 *
 * @module
 */
import { defineOp } from "../../core/functions.js";
import { writeTextFile, type WriteTextOptions } from "../io/write.js";

/** Write a partition's strings to `path`; resolves to the path. */
export const writePartition = defineOp("dask.bag.write", (path: string, options: WriteTextOptions, items: readonly string[]): Promise<string> =>
  writeTextFile(path, items, options),
);
