/**
 * `dask-ts/bag`: parallel processing of records, lines and JSON. A bag is a
 * lazy, partitioned list of values, processed with element-wise steps
 * (`map`, `filter`, `pluck`, `flatten`), aggregated with tree reductions
 * (`frequencies`, `topk`, `foldby`, `sum`, `mean`, ...) and regrouped with
 * shuffles (`groupby`, `repartition`). Nothing runs until `compute()`.
 *
 * @example
 * ```ts
 * import * as db from "dask-ts/bag";
 * const b = db.readText("logs/2015-*.jsonl.gz").map(JSON.parse);
 * await b.pluck("name").frequencies().topk(10, ([, n]) => n).compute();
 * ```
 * @module
 */
export { Bag, type BagArg, type BagArgs, type KeySelector } from "./bag/bag.js";
export { fromSequence, range, fromDelayed, concat, map, mapPartitions, type FromSequenceOptions } from "./bag/create.js";
export { readText, type ReadTextOptions } from "./bag/read-text.js";
export type { StringAccessor } from "./bag/str.js";
export type { GroupbyOptions } from "./bag/shuffle.js";
export type { TakeOptions } from "./bag/take.js";
export type { ToTextfilesOptions } from "./bag/to-textfiles.js";
export type { Compression, CompressionOption } from "./bag/io/compression.js";
