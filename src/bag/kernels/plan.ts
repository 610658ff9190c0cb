/**
 * How one partition's pipeline is put together: the stages composed in
 * front of the sink, with a few well-known sequences replaced by
 * specialised loops. This is the one place that looks at the stage list and
 * the sink as a whole; the stages themselves (`stages.ts`) and the sinks
 * (`sinks.ts`) stay generic. Every rewrite gives exactly what the generic
 * pipeline gives, errors included:
 *
 * - `str.split()` (whitespace, no `maxsplit`) + `flatten` + `frequencies`:
 *   a {@link WordCounter} counts the words of each line in place, without
 *   an array per line or a string per word. When these are the only stages
 *   and the source is a text block, it scans the whole block at once.
 * - `str.split(...)` + `flatten` elsewhere: each line's pieces are pushed
 *   one by one, without an array per line.
 * - `map(JSON.parse)` + `pluck(key)` with a string key: {@link pluckJson}
 *   takes the field from the text without building the object, and hands
 *   anything unusual to `JSON.parse` and the generic pluck. When these are
 *   the first stages and the source is a text block, it reads each line in
 *   place in the block.
 *
 * @module
 */
import { resolvedGlobalPath } from "../../core/execute.js";
import { pluckJson, UNHANDLED } from "./json-pluck.js";
import type { Sink, SinkSpec } from "./sinks.js";
import { makeSink } from "./sinks.js";
import { notAString, pluckOne, stage, type Push, type Stage } from "./stages.js";
import { eachSeparatedPiece, eachWhitespacePiece, isSpace, splitArgs } from "./strings.js";
import { WordCounter } from "./wordcount.js";

/** A partition's pipeline, ready to be fed. */
export interface Plan {
  /** Where the pipeline ends; its `result()` is the partition's. */
  readonly sink: Sink;
  /** Feeds the first stage, one element at a time. */
  readonly head: Push;
  /**
   * When set, a text source without `includePath` may call this for each
   * line instead of `head.push(line)`: the line is `text.slice(start, end)`
   * (exactly the string it would have pushed), and it is not made unless needed.
   */
  readonly line?: (text: string, start: number, end: number) => void;
  /**
   * When set, a text source without `includePath` may call this once with
   * its whole text (all lines with their endings) instead of pushing lines.
   * It never throws.
   */
  readonly block?: (text: string) => void;
}

type StrStage = Extract<Stage, { op: "str" }>;
type MapStage = Extract<Stage, { op: "map" }>;
type PluckStage = Extract<Stage, { op: "pluck" }>;

function isSplit(s: Stage | undefined): s is StrStage {
  return s !== undefined && s.op === "str" && s.method === "split";
}

function isWordSplit(s: Stage | undefined): s is StrStage {
  if (!isSplit(s)) return false;
  const { sep, maxsplit } = splitArgs(s.args);
  return sep === null && maxsplit < 0;
}

function isJsonParse(s: Stage | undefined): s is MapStage {
  return s !== undefined && s.op === "map" && (s.fn === (JSON.parse as unknown) || resolvedGlobalPath(s.fn) === "JSON.parse") && s.args.length === 0;
}

/** A single string key other than `__proto__` (which `JSON.parse` makes an own property, but `pluck` is left to settle). */
function isFieldPluck(s: Stage | undefined): s is PluckStage {
  return s !== undefined && s.op === "pluck" && typeof s.key === "string" && s.key !== "__proto__";
}

/**
 * The pipeline for `stages` ending in the sink `spec`. `textLines` tells
 * whether the elements come from a text source as plain lines (then the
 * plan may offer `line` or `block`).
 *
 * @example
 * ```ts
 * const plan = planPipeline([{ op: "str", method: "split", args: [null, -1] }, { op: "flatten" }], { kind: "frequencies", sort: false }, true);
 * plan.block?.("a b\na\n");
 * plan.sink.result(); // [["a", "b"], [2, 1]]: frequencies' partial
 * ```
 */
export function planPipeline(stages: readonly Stage[], spec: SinkSpec, textLines: boolean): Plan {
  const n = stages.length;
  if (spec.kind === "frequencies" && n >= 2 && isWordSplit(stages[n - 2]) && stages[n - 1]!.op === "flatten") {
    const counter = new WordCounter();
    const sink: Sink = {
      push: (x) => {
        if (typeof x !== "string") throw notAString("split", x);
        counter.scan(x, 0, x.length);
      },
      end: () => undefined,
      result: () => counter.columns(),
    };
    const { head, line } = composeStages(stages.slice(0, n - 2), sink, textLines);
    const block = n === 2 && textLines ? (text: string): void => counter.scan(text, 0, text.length) : undefined;
    return { sink, head, line, block };
  }
  const sink = makeSink(spec);
  return { sink, ...composeStages(stages, sink, textLines) };
}

/** `stages` composed back to front in front of `sink`, with the pairs the module comment lists fused. */
function composeStages(stages: readonly Stage[], sink: Push, textLines: boolean): { head: Push; line?: Plan["line"] } {
  let p: Push = sink;
  let line: Plan["line"];
  for (let i = stages.length - 1; i >= 0; i--) {
    const s = stages[i]!;
    const prev = stages[i - 1];
    if (s.op === "flatten" && isSplit(prev)) {
      p = splitFlatten(prev, p);
      i--;
    } else if (isFieldPluck(s) && isJsonParse(prev)) {
      if (i === 1 && textLines) line = jsonPluckLine(s, p);
      p = jsonPluck(s, p);
      i--;
    } else p = stage(s, p);
  }
  return { head: p, line };
}

/** `str.split(...)` then `flatten`: the pieces pushed one by one. */
function splitFlatten(s: StrStage, next: Push): Push {
  const { sep, maxsplit } = splitArgs(s.args);
  const push = next.push.bind(next);
  const end = next.end.bind(next);
  if (sep !== null) {
    return {
      push: (x) => {
        if (typeof x !== "string") throw notAString("split", x);
        eachSeparatedPiece(x, sep, maxsplit, push);
      },
      end,
    };
  }
  if (maxsplit >= 0) {
    return {
      push: (x) => {
        if (typeof x !== "string") throw notAString("split", x);
        eachWhitespacePiece(x, maxsplit, push);
      },
      end,
    };
  }
  return {
    push: (x) => {
      if (typeof x !== "string") throw notAString("split", x);
      const len = x.length;
      let i = 0;
      while (i < len) {
        if (isSpace(x.charCodeAt(i))) {
          i++;
          continue;
        }
        const from = i;
        while (++i < len && !isSpace(x.charCodeAt(i)));
        push(x.slice(from, i));
      }
    },
    end,
  };
}

/** `map(JSON.parse)` then `pluck(key)`, on elements. */
function jsonPluck(s: PluckStage, next: Push): Push {
  const key = s.key as string;
  const { hasDefault } = s;
  const dflt = s.default;
  const push = next.push.bind(next);
  return {
    push: (x) => {
      if (typeof x === "string") {
        const v = pluckJson(x, 0, x.length, key);
        if (v !== UNHANDLED) {
          push(v);
          return;
        }
      }
      push(pluckOne(JSON.parse(x as string), key, hasDefault, dflt));
    },
    end: next.end.bind(next),
  };
}

/** `map(JSON.parse)` then `pluck(key)`, on lines in place in a block of text. */
function jsonPluckLine(s: PluckStage, next: Push): NonNullable<Plan["line"]> {
  const key = s.key as string;
  const { hasDefault } = s;
  const dflt = s.default;
  const push = next.push.bind(next);
  return (text, start, end) => {
    const v = pluckJson(text, start, end, key);
    push(v !== UNHANDLED ? v : pluckOne(JSON.parse(text.slice(start, end)), key, hasDefault, dflt));
  };
}
