/**
 * The partition planner's fast paths (`kernels/plan.ts`) against the
 * generic pipeline they replace, on many random inputs:
 *
 * - the word count (`str.split().flatten().frequencies()`): ASCII and
 *   non-ASCII words, every kind of whitespace, empty lines, `\r\n`, long
 *   words, words whose hashes collide;
 * - `str.split(...).flatten()` pushed piece by piece;
 *
 * First on the kernels directly (thousands of cases), then end to end
 * through `readText` on `sync` and an embedded cluster.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import * as db from "../../src/bag.js";
import { ElementError, InvalidArgumentError, TaskError } from "../../src/core/errors.js";
import { planPipeline } from "../../src/bag/kernels/plan.js";
import { makeSink, type SinkSpec } from "../../src/bag/kernels/sinks.js";
import { compose, type Stage } from "../../src/bag/kernels/stages.js";
import { wordHash } from "../../src/bag/kernels/wordcount.js";
import type { Scheduler } from "../../src/scheduler/types.js";
import { syncAndEmbedded } from "../helpers/schedulers.js";

const { targets } = syncAndEmbedded();

/** A small seeded generator (mulberry32), so failures can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
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

/** Push `items` through the planned pipeline: as a whole block, or one by one. */
function planned(stages: readonly Stage[], spec: SinkSpec, items: readonly string[], how: "push" | "block", text?: string): unknown {
  const plan = planPipeline(stages, spec, how !== "push");
  if (how === "block") {
    assert.ok(plan.block !== undefined, "the plan offers a block scan");
    plan.block(text!);
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

// ---------------------------------------------------------------- end to end

let dir: string;
const wordTexts: string[] = [];
before(() => {
  dir = mkdtempSync(join(tmpdir(), "dask-ts-bag-fast-"));
  const r = rng(99);
  for (let i = 0; i < 4; i++) {
    let text = "";
    for (let k = 0; k < 40; k++) text += randomText(r) + "\n";
    wordTexts.push(text);
    writeFileSync(join(dir, `words-${i}.txt`), text);
  }
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

  });
}
