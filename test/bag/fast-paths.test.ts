/**
 * The partition planner's fast paths (`kernels/plan.ts`) against the
 * generic pipeline they replace, on many random inputs:
 *
 * - the word count (`str.split().flatten().frequencies()`): ASCII and
 *   non-ASCII words, every kind of whitespace, empty lines, `\r\n`, long
 *   words, words whose hashes collide;
 * - `str.split(...).flatten()` pushed piece by piece;
 * - `map(JSON.parse).pluck(key)`: random valid records (escapes, nesting,
 *   numbers of every form, duplicate keys, whitespace everywhere,
 *   `__proto__`) and invalid lines, comparing values and thrown errors.
 *
 * First on the kernels directly (thousands of cases), then end to end
 * through `readText` on `sync` and an embedded cluster, where errors must
 * also name the same line.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import * as db from "../../src/bag.js";
import { resolveFunction } from "../../src/core/execute.js";
import { ElementError, InvalidArgumentError, TaskError } from "../../src/core/errors.js";
import { pluckJson, UNHANDLED } from "../../src/bag/kernels/json-pluck.js";
import { planPipeline } from "../../src/bag/kernels/plan.js";
import { makeSink, type SinkSpec } from "../../src/bag/kernels/sinks.js";
import { compose, type Stage } from "../../src/bag/kernels/stages.js";
import { wordHash } from "../../src/bag/kernels/wordcount.js";
import type { Scheduler } from "../../src/scheduler/types.js";
import { rng } from "../helpers/random.js";
import { syncAndEmbedded } from "../helpers/schedulers.js";

const { targets } = syncAndEmbedded();

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** The lines a text source makes of `text` (as `readText` does without `keepEndings`). */
function linesOf(text: string): string[] {
  const out = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  if (text.endsWith("\n") || text === "") out.pop();
  return out;
}

/** Push `items` through the pipeline without the planner: `compose` of the generic stages. */
function generic(stages: readonly Stage[], spec: SinkSpec, items: readonly unknown[]): unknown {
  const sink = makeSink(spec);
  const p = compose(stages, sink);
  for (const x of items) p.push(x);
  void p.end();
  return sink.result();
}

/** Push `items` through the planned pipeline: as lines in place (`line`), as a whole block, or one by one. */
function planned(stages: readonly Stage[], spec: SinkSpec, items: readonly string[], how: "push" | "line" | "block", text?: string): unknown {
  const plan = planPipeline(stages, spec, how !== "push");
  if (how === "block") {
    assert.ok(plan.block !== undefined, "the plan offers a block scan");
    plan.block(text!);
  } else if (how === "line") {
    assert.ok(plan.line !== undefined, "the plan offers lines in place");
    // All lines in one string, as a text block holds them.
    const joined = items.join("\n");
    let pos = 0;
    for (const l of items) {
      plan.line(joined, pos, pos + l.length);
      pos += l.length + 1;
    }
  } else for (const x of items) plan.head.push(x);
  void plan.head.end();
  return plan.sink.result();
}

// ---------------------------------------------------------------- word count

const SPLIT: Stage = { op: "str", method: "split", args: [null, -1] };
const FLATTEN: Stage = { op: "flatten" };
const FREQ: SinkSpec = { kind: "frequencies", sort: false };

/** Pairs of different words with the same {@link wordHash}, found by brute force. */
function collidingWords(count: number): string[] {
  const r = rng(7);
  const seen = new Map<number, string>();
  const out: string[] = [];
  const alphabet = "abcdefghijklmnopqrstuvwxyzé日";
  while (out.length < 2 * count) {
    let w = "";
    const len = 3 + Math.floor(r() * 6);
    for (let i = 0; i < len; i++) w += pick(r, [...alphabet]);
    const h = wordHash(w);
    const other = seen.get(h);
    if (other !== undefined && other !== w) out.push(other, w);
    else seen.set(h, w);
  }
  return out;
}

const COLLIDING = collidingWords(12);
const SPACES = [" ", " ", " ", "  ", "\t", "\v", "\f", "\u00a0", "\u1680", "\u2000", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", " \t "];
const NOT_SPACES = ["\u0085", "\u200b", "\u180e", "\u001c", "\u0000", "\ud800", "\udc00"];
const WORDS = ["the", "a", "to", "été", "naïve", "日本語", "😀", "x😀y", "ß", "İ", "ﬁ", "Zürich", "e\u0301", "--", "'s", "ab" + "\u0085" + "cd", "a\u200bb", "\ud83d", "\ude00z"];

function randomText(r: () => number): string {
  const lines: string[] = [];
  const nLines = Math.floor(r() * 12);
  for (let i = 0; i < nLines; i++) {
    let line = r() < 0.3 ? pick(r, SPACES) : "";
    const nWords = r() < 0.15 ? 0 : Math.floor(r() * 10);
    for (let k = 0; k < nWords; k++) {
      const u = r();
      let w: string;
      if (u < 0.45) w = pick(r, WORDS);
      else if (u < 0.6) w = pick(r, COLLIDING);
      else if (u < 0.62) w = "w".repeat(1 + Math.floor(r() * 9000)); // long words, past the pool's chunk size
      else if (u < 0.7) w = pick(r, WORDS) + pick(r, NOT_SPACES) + pick(r, WORDS);
      else w = Math.floor(r() * 50).toString(36);
      line += (k > 0 ? pick(r, SPACES) : "") + w;
    }
    if (r() < 0.3) line += pick(r, SPACES);
    lines.push(line);
  }
  const ending = pick(r, ["\n", "\r\n", "\n\n"]);
  return lines.join(ending) + (r() < 0.5 ? ending : "");
}

describe("word count fast path (kernels)", () => {
  it("the colliding words do collide", () => {
    for (let i = 0; i < COLLIDING.length; i += 2) {
      assert.notEqual(COLLIDING[i], COLLIDING[i + 1]);
      assert.equal(wordHash(COLLIDING[i]!), wordHash(COLLIDING[i + 1]!));
    }
  });

  it("counts exactly as split(/\\s+/) + frequencies, in the same first-seen order, on 3000 random texts", () => {
    const r = rng(42);
    const userSplit: Stage = { op: "map", fn: (l: string) => l.split(/\s+/).filter(Boolean), args: [] };
    for (let n = 0; n < 3000; n++) {
      const text = randomText(r);
      const lines = linesOf(text);
      const want = generic([userSplit, FLATTEN], FREQ, lines);
      const ctx = `text ${n}: ${JSON.stringify(text.slice(0, 200))}`;
      assert.deepEqual(generic([SPLIT, FLATTEN], FREQ, lines), want, ctx);
      assert.deepEqual(planned([SPLIT, FLATTEN], FREQ, lines, "push"), want, ctx);
      assert.deepEqual(planned([SPLIT, FLATTEN], FREQ, lines, "block", text), want, ctx);
      // After other stages, and with other sinks.
      const upper: Stage = { op: "str", method: "upper", args: [] };
      assert.deepEqual(planned([upper, SPLIT, FLATTEN], FREQ, lines, "push"), generic([upper, userSplit, FLATTEN], FREQ, lines), ctx);
      assert.deepEqual(planned([SPLIT, FLATTEN], { kind: "list" }, lines, "push"), generic([userSplit, FLATTEN], { kind: "list" }, lines), ctx);
      assert.deepEqual(planned([SPLIT, FLATTEN], { kind: "count" }, lines, "push"), generic([userSplit, FLATTEN], { kind: "count" }, lines), ctx);
    }
  });

  it("splits on separators and with maxsplit piece by piece, as the generic stages", () => {
    const r = rng(5);
    for (let n = 0; n < 500; n++) {
      const lines = linesOf(randomText(r));
      for (const args of [[" ", -1], [",", -1], ["ab", 2], [null, 0], [null, 2], [" ", 1]]) {
        const split: Stage = { op: "str", method: "split", args };
        for (const spec of [{ kind: "list" }, FREQ] as SinkSpec[]) {
          assert.deepEqual(planned([split, FLATTEN], spec, lines, "push"), generic([split, FLATTEN], spec, lines), JSON.stringify(args));
        }
      }
    }
  });

  it("fails on an element that is not a string as the generic stages do", () => {
    for (const spec of [FREQ, { kind: "list" }] as SinkSpec[]) {
      const plan = planPipeline([SPLIT, FLATTEN], spec, false);
      plan.head.push("a b");
      assert.throws(() => plan.head.push(["a b", "/p"]), { name: "InvalidArgumentError", message: 'str.split needs string elements, got ["a b","/p"].' });
      assert.throws(() => compose([SPLIT, FLATTEN], makeSink(spec)).push(["a b", "/p"]), {
        name: "InvalidArgumentError",
        message: 'str.split needs string elements, got ["a b","/p"].',
      });
    }
  });

  it("scans a whole block only when split + flatten are the only stages and the lines are plain", () => {
    assert.ok(planPipeline([SPLIT, FLATTEN], FREQ, true).block !== undefined);
    assert.equal(planPipeline([SPLIT, FLATTEN], FREQ, false).block, undefined);
    assert.equal(planPipeline([{ op: "str", method: "lower", args: [] }, SPLIT, FLATTEN], FREQ, true).block, undefined);
    assert.equal(planPipeline([{ op: "str", method: "split", args: [" ", -1] }, FLATTEN], FREQ, true).block, undefined);
    assert.equal(planPipeline([SPLIT, FLATTEN], { kind: "frequencies", sort: true }, true).block !== undefined, true);
  });
});

// ---------------------------------------------------------------- JSON

const JSON_PARSE_RESOLVED = resolveFunction({ kind: "global", path: "JSON.parse" }) as (s: string) => unknown;
const PARSE: Stage = { op: "map", fn: JSON.parse as never, args: [] };
const PARSE_RESOLVED: Stage = { op: "map", fn: JSON_PARSE_RESOLVED as never, args: [] };
const pluckStage = (key: string, fallback?: [unknown]): Stage =>
  fallback === undefined ? { op: "pluck", key, hasDefault: false } : { op: "pluck", key, hasDefault: true, default: fallback[0] };

const KEYS = ["name", "a", "", "é", "__proto__", "toString", "constructor", "length", "name "];
const RAW_KEYS = [...KEYS.map((k) => JSON.stringify(k)), '"n\\u0061me"', '"na\\u006De"', '"\\u00e9"', '"a\\"b"'];
const NUMBERS = ["0", "-0", "1", "-1", "7", "12345678901234567890", "1.5", "-0.25", "1e5", "1E5", "1e+5", "1e-5", "2.5E-3", "1e400", "-1e400", "0.0", "123.456e7", "9007199254740993"];
const STRING_PIECES = ["abc", "Ada", " ", "é", "日本", "😀", "name", "{", "}", ",", ":", "[", "]", "\\n", '\\"', "\\\\", "\\/", "\\b", "\\f", "\\r", "\\t", "\\u0041", "\\ud83d\\ude00", "\\ud800", "\\u00E9", "\u007f", "\u2028"];
const WS = ["", "", "", " ", "  ", "\t", "\n", "\r", " \r\n "];

function jsonString(r: () => number): string {
  let s = '"';
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) s += pick(r, STRING_PIECES);
  return s + '"';
}

function jsonValue(r: () => number, depth: number): string {
  const u = r();
  if (u < 0.3) return pick(r, NUMBERS);
  if (u < 0.6) return jsonString(r);
  if (u < 0.7) return pick(r, ["true", "false", "null"]);
  if (depth > 3) return "null";
  if (u < 0.85) return jsonObject(r, depth + 1);
  const n = Math.floor(r() * 4);
  const items = Array.from({ length: n }, () => pick(r, WS) + jsonValue(r, depth + 1) + pick(r, WS));
  return `[${items.join(",") || pick(r, WS)}]`;
}

/** An object; with `key`, one of its members (or two) most likely has that key. */
function jsonObject(r: () => number, depth: number, key?: string): string {
  const n = Math.floor(r() * 6);
  const member = (k: string): string => `${pick(r, WS)}${k}${pick(r, WS)}:${pick(r, WS)}${jsonValue(r, depth)}${pick(r, WS)}`;
  const members = Array.from({ length: n }, () => member(pick(r, RAW_KEYS)));
  if (key !== undefined) {
    for (let copies = r() < 0.8 ? 1 : 0; copies > 0 && copies < 3; copies += r() < 0.1 ? 1 : 3) {
      members.splice(Math.floor(r() * (members.length + 1)), 0, member(JSON.stringify(key)));
    }
  }
  return `{${members.join(",") || pick(r, WS)}}`;
}

const BROKEN = [
  "{'a': 1}",
  '{"a": NaN}',
  '{"a": Infinity}',
  '{"a": 1,}',
  '{"a": [1,]}',
  '{"a": "x\ty"}',
  '{"a": "x\u0001"}',
  '{"a": 01}',
  '{"a": 1.}',
  '{"a": .5}',
  '{"a": +1}',
  '{"a": -}',
  '{"a": 1e}',
  '{"a": 1e+}',
  '{"a": tru}',
  '{"a": nul}',
  '{"a" 1}',
  '{"a": 1 "b": 2}',
  "{,}",
  '{"a":1}}',
  '{"a":1} x',
  '{"a":1},',
  '{"a": "\\x41"}',
  '{"a": "\\u12G4"}',
  '{"a": "\\a"}',
  '{"a": "unterminated}',
  '{"a": [1, 2}',
  '{"a": {"b": 1]}',
  '{"a": 1',
  '{"a":',
  '{"a"',
  "{",
  '[{"a":1}]',
  '"a"',
  "1",
  "null",
  "",
  "   ",
  "\ufeff{}",
  '\u00a0{"a": 1}',
  '{"a": 1}\u00a0',
  "[".repeat(600) + "]".repeat(600),
  `{"a": ${"[".repeat(600)}${"]".repeat(600)}}`,
  `{"a": ${"[".repeat(600)}${"]".repeat(599)}}`,
];
const INSERTS = ["'", ",", "}", "]", "{", "[", ":", '"', "\\", "\u0001", "\u001f", "NaN", "x", "01", "-", ".", "e", "+", "\\x", "\\u12", "\n", "\u00a0", " "];

function jsonLine(r: () => number, key?: string): string {
  const u = r();
  if (u < 0.08) return pick(r, BROKEN);
  let line = pick(r, WS) + jsonObject(r, 0, key) + pick(r, WS);
  if (u < 0.25) {
    // Break it somewhere.
    const at = Math.floor(r() * (line.length + 1));
    const v = r();
    if (v < 0.3) line = line.slice(0, at);
    else if (v < 0.7) line = line.slice(0, at) + pick(r, INSERTS) + line.slice(at);
    else line = line.slice(0, at) + pick(r, INSERTS) + line.slice(at + 1);
  }
  return line;
}

type Outcome = { value: unknown } | { error: string; message: string };
function outcome(f: () => unknown): Outcome {
  try {
    return { value: f() };
  } catch (err) {
    return { error: (err as Error).name, message: (err as Error).message };
  }
}

describe("JSON projection fast path (kernels)", () => {
  it("gives JSON.parse + pluck's value or error on 20000 random lines, for every key form", () => {
    const r = rng(1234);
    let fast = 0;
    for (let n = 0; n < 20000; n++) {
      const key = pick(r, KEYS);
      const line = jsonLine(r, key);
      const fallback: [unknown] | undefined = r() < 0.5 ? undefined : [pick(r, [null, 0, "none"])];
      const pluck = pluckStage(key, fallback);
      const want = outcome(() => generic([PARSE, pluck], { kind: "list" }, [line]));
      const ctx = `line ${n}, key ${JSON.stringify(key)}: ${JSON.stringify(line).slice(0, 300)}`;
      const parses: readonly Stage[] = [PARSE, PARSE_RESOLVED];
      for (const parseStage of parses) {
        assert.deepEqual(outcome(() => planned([parseStage, pluck], { kind: "list" }, [line], "push")), want, ctx);
        // (No line in place for __proto__: the plan leaves that key to the generic stages.)
        if (!line.includes("\n") && key !== "__proto__") assert.deepEqual(outcome(() => planned([parseStage, pluck], { kind: "list" }, [line], "line")), want, ctx);
      }
      if (pluckJson(line, 0, line.length, key) !== UNHANDLED) fast++;
    }
    assert.ok(fast > 5000, `the scanner settled ${fast} lines itself`);
  });

  it("combines with the word count: parse, pluck a text field, split, flatten, count", () => {
    const r = rng(77);
    const stages = [PARSE, pluckStage("t"), SPLIT, FLATTEN];
    for (let n = 0; n < 300; n++) {
      const lines = Array.from({ length: 1 + Math.floor(r() * 6) }, () => {
        const u = r();
        if (u < 0.05) return '{"t": 5}'; // not a string: str.split's error
        if (u < 0.1) return '{"t": "a b",}'; // malformed: JSON.parse's error
        return JSON.stringify({ id: n, t: randomText(r), x: [1, { t: "no" }] });
      });
      const want = outcome(() => generic(stages, FREQ, lines));
      assert.deepEqual(outcome(() => planned(stages, FREQ, lines, "push")), want);
      assert.deepEqual(outcome(() => planned(stages, FREQ, lines, "line")), want);
    }
  });

  it("reads a field in place within a longer text, never past the line's end", () => {
    const text = '{"a": 1, "name": "x"}{"name": 2}\n{"name": "abc"} , "junk"';
    assert.equal(pluckJson(text, 0, 21, "name"), "x");
    assert.equal(pluckJson(text, 21, 32, "name"), 2);
    assert.equal(pluckJson(text, 33, 48, "name"), "abc");
    assert.equal(pluckJson(text, 0, 20, "name"), UNHANDLED); // the object is cut short
    assert.equal(pluckJson(text, 33, text.length, "name"), UNHANDLED);
  });

  it("takes the last of duplicate keys, as JSON.parse, and leaves escaped keys, __proto__ and missing keys to it", () => {
    assert.equal(pluckJson('{"name": 1, "name": "b"}', 0, 24, "name"), "b");
    assert.equal(pluckJson('{"n\\u0061me": 1}', 0, 16, "name"), UNHANDLED);
    assert.equal(pluckJson('{"a": 1}', 0, 8, "name"), UNHANDLED);
    assert.equal(planPipeline([PARSE, pluckStage("__proto__")], { kind: "list" }, true).line, undefined);
    const plan = planPipeline([PARSE, pluckStage("toString")], { kind: "list" }, false);
    plan.head.push('{"a": 1}');
    assert.deepEqual(plan.sink.result(), [Object.prototype.toString]);
  });

  it("is only used for the global JSON.parse, without extra arguments, and a string key", () => {
    assert.ok(planPipeline([PARSE, pluckStage("a")], { kind: "list" }, true).line !== undefined);
    assert.ok(planPipeline([PARSE_RESOLVED, pluckStage("a")], { kind: "list" }, true).line !== undefined);
    const lambda: Stage = { op: "map", fn: ((l: string) => JSON.parse(l)) as never, args: [] };
    assert.equal(planPipeline([lambda, pluckStage("a")], { kind: "list" }, true).line, undefined);
    const reviver: Stage = { op: "map", fn: JSON.parse as never, args: [(_k: string, v: unknown) => v] };
    assert.equal(planPipeline([reviver, pluckStage("a")], { kind: "list" }, true).line, undefined);
    assert.equal(planPipeline([PARSE, { op: "pluck", key: 0, hasDefault: false }], { kind: "list" }, true).line, undefined);
    assert.equal(planPipeline([PARSE, { op: "pluck", key: ["a", "b"], hasDefault: false }], { kind: "list" }, true).line, undefined);
  });
});

// ---------------------------------------------------------------- end to end

let dir: string;
const wordTexts: string[] = [];
const jsonLines: string[] = [];
before(() => {
  dir = mkdtempSync(join(tmpdir(), "dask-ts-bag-fast-"));
  const r = rng(99);
  for (let i = 0; i < 4; i++) {
    let text = "";
    for (let k = 0; k < 40; k++) text += randomText(r) + "\n";
    wordTexts.push(text);
    writeFileSync(join(dir, `words-${i}.txt`), text);
  }
  for (let i = 0; i < 400; i++) {
    let line = jsonLine(r).replace(/[\r\n]/g, " ");
    // Valid lines, mostly: an invalid one fails the whole computation.
    if (i !== 300) line = JSON.stringify({ ...JSON.parse(`{"name": ${JSON.stringify(i % 7 === 0 ? `n${i % 5}` : i % 3)}}`), filler: line });
    if (i % 11 === 0) line = `{"other": ${i}}`;
    if (i % 13 === 0) line = ` { "name" : "spaced\\u00e9" , "name": "dup${i % 2}" } `;
    if (i === 300) line = '{"name": "x",}';
    jsonLines.push(line);
  }
  writeFileSync(join(dir, "good.jsonl"), jsonLines.filter((_, i) => i !== 300).join("\n") + "\n");
  writeFileSync(join(dir, "bad.jsonl"), jsonLines.join("\r\n"));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

for (const [label, sched] of targets) {
  describe(`fast paths end to end on ${label}`, () => {
    const opts = (): { scheduler: Scheduler | "sync" } => ({ scheduler: sched() });

    it("word count equals the generic one, whole files, blocks, with endings kept", async () => {
      for (const o of [{}, { blocksize: 700 }, { keepEndings: true }] as db.ReadTextOptions[]) {
        const b = db.readText(join(dir, "words-*.txt"), o);
        const want = await b
          .map((l) => l.split(/\s+/).filter(Boolean))
          .flatten()
          .frequencies()
          .compute(opts());
        assert.deepEqual(await b.str.split().flatten().frequencies().compute(opts()), want, JSON.stringify(o));
        const top = ([, n]: [string, number]): number => n;
        assert.deepEqual(
          await b.str.split().flatten().frequencies({ sort: true }).topk(5, top).compute(opts()),
          await b
            .map((l) => l.split(/\s+/).filter(Boolean))
            .flatten()
            .frequencies({ sort: true })
            .topk(5, top)
            .compute(opts()),
        );
        assert.deepEqual(
          await b.str.split().flatten().compute(opts()),
          await b
            .map((l) => l.split(/\s+/).filter(Boolean))
            .flatten()
            .compute(opts()),
        );
      }
    });

    it("word count of [line, path] pairs fails as the generic str.split does", async () => {
      const b = db.readText(join(dir, "words-0.txt"), { includePath: true }) as unknown as db.Bag<string>;
      await assert.rejects(b.str.split().flatten().frequencies().compute(opts()), (err: unknown) => {
        assert.ok(err instanceof TaskError || err instanceof ElementError || err instanceof InvalidArgumentError, String(err));
        assert.match(err.message, /str\.split needs string elements, got \[/);
        return true;
      });
    });

    it("map(JSON.parse).pluck(key) equals JSON.parse in a function + pluck", async () => {
      const b = db.readText(join(dir, "good.jsonl"), { blocksize: 3000 });
      for (const fallback of [[], ["?"]] as [] | [unknown][]) {
        const want = await b
          .map((l) => JSON.parse(l) as { name: unknown })
          .pluck("name", ...fallback)
          .compute(opts())
          .catch((e: unknown) => e);
        const got = await b
          .map(JSON.parse)
          .pluck("name", ...fallback)
          .compute(opts())
          .catch((e: unknown) => e);
        if (fallback.length === 1) assert.ok(Array.isArray(want));
        // Several lines lack the field, in several partitions: on a cluster, which partition fails first varies.
        const shape = (e: Error): [string, string] => [e.name, e.message.replace(/Task \S+/, "").replace(/Line \d+/, "Line N").replace(/element \{[^}]*\}/, "element {...}")];
        assert.deepEqual(got instanceof Error ? shape(got) : got, want instanceof Error ? shape(want) : want);
      }
      const counts = await b.map(JSON.parse).pluck("name", null).frequencies().compute(opts());
      const wantCounts = await b
        .map((l) => JSON.parse(l) as { name: unknown })
        .pluck("name", null)
        .frequencies()
        .compute(opts());
      assert.deepEqual(counts, wantCounts);
    });

    it("a malformed line fails with the same error and line number as JSON.parse", async () => {
      for (const o of [{}, { blocksize: 2000 }]) {
        const errs: unknown[] = [];
        for (const b of [
          db.readText(join(dir, "bad.jsonl"), o).map(JSON.parse).pluck("name", null),
          db
            .readText(join(dir, "bad.jsonl"), o)
            .map((l) => JSON.parse(l) as { name: unknown })
            .pluck("name", null),
        ]) {
          await assert.rejects(b.compute(opts()), (err: unknown) => {
            errs.push(err);
            return true;
          });
        }
        const [fast, slow] = errs as TaskError[];
        assert.ok(fast instanceof TaskError && slow instanceof TaskError);
        assert.ok(fast.cause instanceof ElementError && slow.cause instanceof ElementError);
        assert.equal(fast.cause.line, 301);
        assert.equal(fast.cause.line, slow.cause.line);
        assert.equal(fast.cause.message, slow.cause.message);
        assert.equal(fast.remoteMessage, slow.remoteMessage);
      }
    });
  });
}
