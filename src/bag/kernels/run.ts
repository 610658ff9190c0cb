/**
 * `dask.bag.run`: one partition of a bag, start to end, in one task.
 *
 * A partition task reads its source (a list, a range, zipped lists, or a
 * block of a text file), pushes every element through its element-wise
 * stages, and folds the survivors into its sink (a list, or the partial
 * result of an aggregation). The fusion rule at the bottom lets the
 * optimizer merge a chain of such tasks into one, so
 * `readText(...).map(JSON.parse).pluck("name").frequencies()` reads, parses,
 * plucks and counts each line before reading the next.
 *
 * Errors raised while processing a line of a text file are re-thrown as an
 * `ElementError` naming the file and line.
 *
 * @module
 */
import { defineOp } from "../../core/functions.js";
import { ElementError, InvalidArgumentError } from "../../core/errors.js";
import type { Expr } from "../../core/graph.js";
import type { TextBlock } from "../io/blocks.js";
import { lineNumberAt, readTextBlock } from "../io/read.js";
import { planPipeline, type Plan } from "./plan.js";
import type { Push, Stage } from "./stages.js";
import { combinePartials, finishReductionPartition, type Sink, type SinkSpec } from "./sinks.js";

/** Where a partition's elements come from. */
export type SourceKind = "items" | "zip" | "range" | "text";

/** The input of a text source. */
export interface TextSource {
  readonly block: TextBlock;
  readonly encoding: BufferEncoding;
  readonly keepEndings: boolean;
  readonly includePath: boolean;
}

/** A sink spec as a task carries it: reductions also need to know whether this is the last partition. */
export type RunSink = SinkSpec & { readonly isLast?: boolean };

function feed(items: unknown, p: Push, sink: Sink): void {
  if (Array.isArray(items)) {
    for (let i = 0; i < items.length && sink.done !== true; i++) p.push(items[i]);
    return;
  }
  if (items === null || items === undefined || typeof (items as Iterable<unknown>)[Symbol.iterator] !== "function") {
    throw new InvalidArgumentError("partition", `A bag partition must be an array (or other iterable), got ${items === null ? "null" : typeof items}.`);
  }
  for (const x of items as Iterable<unknown>) {
    if (sink.done === true) break;
    p.push(x);
  }
}

function feedZip(lists: readonly unknown[], p: Push, sink: Sink): void {
  const arrays = lists.map((l) => (Array.isArray(l) ? l : [...(l as Iterable<unknown>)]));
  const n = arrays[0]?.length ?? 0;
  for (const a of arrays) {
    if (a.length !== n) {
      throw new InvalidArgumentError(
        "bags",
        `map: zipped bags have partitions of different lengths (${arrays.map((x) => x.length).join(" vs ")}). Zip bags built the same way, or repartition them alike.`,
      );
    }
  }
  for (let i = 0; i < n && sink.done !== true; i++) p.push(arrays.map((a) => a[i]));
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

async function feedText(src: TextSource, plan: Plan): Promise<void> {
  const { block, keepEndings, includePath } = src;
  const text = await readTextBlock(block, src.encoding);
  if (!includePath && plan.block !== undefined) {
    plan.block(text);
    return;
  }
  const { head: p, sink } = plan;
  const inPlace = includePath ? undefined : plan.line;
  const n = text.length;
  let pos = 0;
  let line = 0;
  try {
    while (pos < n && sink.done !== true) {
      const nl = text.indexOf("\n", pos);
      const stop = nl === -1 ? n : nl + 1;
      let e = stop;
      if (!keepEndings) {
        e = nl === -1 ? n : nl;
        if (e > pos && text.charCodeAt(e - 1) === 13) e--;
      }
      line++;
      if (inPlace !== undefined) inPlace(text, pos, e);
      else {
        const s = text.slice(pos, e);
        p.push(includePath ? [s, block.path] : s);
      }
      pos = stop;
    }
  } catch (err) {
    // The block's first line: the one after the first newline at or after start - 1.
    const first = block.start === 0 ? 1 : (await lineNumberAt(block.path, block.start - 1)) + 1;
    throw new ElementError(block.path, first + line - 1, describeError(err), err);
  }
}

async function finishAsync(pending: Promise<void>, spec: RunSink, sink: Sink): Promise<unknown> {
  await pending;
  return result(spec, sink);
}

function result(spec: RunSink, sink: Sink): unknown {
  if (spec.kind === "reduction") return finishReductionPartition(spec, sink.result() as unknown[], spec.isLast === true);
  return sink.result();
}

function afterFeed(spec: RunSink, sink: Sink, p: Push, fed: void | Promise<void>): unknown {
  if (fed instanceof Promise) return fed.then(() => p.end()).then(() => result(spec, sink));
  const ended = p.end();
  return ended instanceof Promise ? finishAsync(ended, spec, sink) : result(spec, sink);
}

/** Run one partition: read `input` as `from` says, push it through `stages` into `sinkSpec`. */
export const runPartition = defineOp(
  "dask.bag.run",
  (from: SourceKind, input: unknown, stages: readonly Stage[], sinkSpec: RunSink): unknown => {
    const plan = planPipeline(stages, sinkSpec, from === "text" && (input as TextSource).includePath !== true);
    const { sink, head: p } = plan;
    switch (from) {
      case "items":
        return afterFeed(sinkSpec, sink, p, feed(input, p, sink));
      case "zip":
        return afterFeed(sinkSpec, sink, p, feedZip(input as unknown[], p, sink));
      case "range": {
        const [start, stop] = input as [number, number];
        for (let i = start; i < stop && sink.done !== true; i++) p.push(i);
        return afterFeed(sinkSpec, sink, p, undefined);
      }
      case "text":
        return afterFeed(sinkSpec, sink, p, feedText(input as TextSource, plan));
    }
  },
  { fuse: fuseRuns },
);

/** Merge pieces of the tree of partial results (see `sinks.ts`). */
export const aggregatePartials = defineOp("dask.bag.aggregate", (spec: SinkSpec, final: boolean, ...partials: unknown[]): unknown =>
  combinePartials(spec, partials, final),
);

function stageItems(e: Expr): readonly Expr[] | undefined {
  if (e.k === "a") return e.items;
  if (e.k === "v" && Array.isArray(e.v)) return (e.v as unknown[]).map((v) => ({ k: "v", v }) as const);
  return undefined;
}

/**
 * `run("items", run(from, input, stagesA, list), stagesB, sink)` is
 * `run(from, input, stagesA ++ stagesB, sink)`: the inner partition's list
 * is never built.
 */
function fuseRuns(args: readonly Expr[]): readonly Expr[] | undefined {
  const [from, input, stages, sink] = args;
  if (from === undefined || input === undefined || stages === undefined || sink === undefined) return undefined;
  if (from.k !== "v" || from.v !== "items" || input.k !== "t" || input.fn.kind !== "op" || input.fn.name !== "dask.bag.run") return undefined;
  const [innerFrom, innerInput, innerStages, innerSink] = input.args;
  if (innerFrom === undefined || innerInput === undefined || innerStages === undefined || innerSink === undefined) return undefined;
  if (innerSink.k !== "v" || (innerSink.v as SinkSpec).kind !== "list") return undefined;
  const a = stageItems(innerStages);
  const b = stageItems(stages);
  if (a === undefined || b === undefined) return undefined;
  return [innerFrom, innerInput, { k: "a", items: [...a, ...b] }, sink];
}
