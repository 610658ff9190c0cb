/**
 * The `.str` namespace of a bag: each method against Python's `str`
 * semantics (as the docs state them), bad arguments, non-string elements,
 * on `sync` and on an embedded cluster.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import * as db from "../../src/bag.js";
import { InvalidArgumentError, TaskError } from "../../src/core/errors.js";
import { isSpace, splitString, stripString } from "../../src/bag/kernels/strings.js";
import type { Scheduler } from "../../src/scheduler/types.js";
import { syncAndEmbedded } from "../helpers/schedulers.js";

const { targets } = syncAndEmbedded();

describe("string helpers", () => {
  it("isSpace is exactly JavaScript's \\s, code unit by code unit", () => {
    for (let c = 0; c < 0x10000; c++) assert.equal(isSpace(c), /\s/.test(String.fromCharCode(c)), `U+${c.toString(16)}`);
  });

  it("split follows Python's str.split, with and without a separator and maxsplit", () => {
    // Expected values from CPython (whitespace limited to ASCII here, where the two sets agree).
    const cases: [string, string | null, number, string[]][] = [
      ["  a  b\tc \n", null, -1, ["a", "b", "c"]],
      ["", null, -1, []],
      ["   ", null, -1, []],
      ["  a  b  c ", null, 1, ["a", "b  c "]],
      ["  a b ", null, 0, ["a b "]],
      ["a ", null, 1, ["a"]],
      ["a b", null, 5, ["a", "b"]],
      ["a,b,,c", ",", -1, ["a", "b", "", "c"]],
      ["a,b,c", ",", 1, ["a", "b,c"]],
      ["a,b,c", ",", 0, ["a,b,c"]],
      ["", ",", -1, [""]],
      [",", ",", -1, ["", ""]],
      ["a--b--", "--", -1, ["a", "b", ""]],
      ["a--b--", "--", 1, ["a", "b--"]],
    ];
    for (const [s, sep, max, want] of cases) assert.deepEqual(splitString(s, sep, max), want, JSON.stringify([s, sep, max]));
  });

  it("strip removes whitespace or the given characters, by code point", () => {
    assert.equal(stripString(" \t hi \r\n", null, true, true), "hi");
    assert.equal(stripString(" hi ", null, true, false), "hi ");
    assert.equal(stripString(" hi ", null, false, true), " hi");
    assert.equal(stripString("xyhiyx", "xy", true, true), "hi");
    assert.equal(stripString("xyhiyx", "xy", false, true), "xyhi");
    assert.equal(stripString("xxxx", "x", true, true), "");
    assert.equal(stripString("abc", "", true, true), "abc");
    // An astral character is stripped whole, and a lone surrogate only when listed.
    assert.equal(stripString("😀hi😀", "😀", true, true), "hi");
    assert.equal(stripString("😁hi", "😀", true, true), "😁hi");
  });
});

for (const [label, sched] of targets) {
  describe(`bag.str on ${label}`, () => {
    const opts = (): { scheduler: Scheduler | "sync" } => ({ scheduler: sched() });
    const lines = ["  Hello World ", "\tfoo,bar,,baz", "", "ÉTÉ été\u3000x", "# comment", "line\r"];
    const b = db.fromSequence(lines, { npartitions: 3 });

    it("split, with and without a separator, and flattened", async () => {
      assert.deepEqual(await b.str.split().compute(opts()), lines.map((l) => l.split(/\s+/).filter(Boolean)));
      assert.deepEqual(await b.str.split(",").compute(opts()), lines.map((l) => l.split(",")));
      assert.deepEqual(await b.str.split(null, 1).compute(opts()), lines.map((l) => splitString(l, null, 1)));
      assert.deepEqual(await b.str.split().flatten().compute(opts()), lines.flatMap((l) => l.split(/\s+/).filter(Boolean)));
      assert.deepEqual(await b.str.split(",").flatten().compute(opts()), lines.flatMap((l) => l.split(",")));
      assert.deepEqual(await b.str.split(",", 1).flatten().compute(opts()), lines.flatMap((l) => splitString(l, ",", 1)));
      assert.deepEqual(await b.str.split(null, 1).flatten().compute(opts()), lines.flatMap((l) => splitString(l, null, 1)));
    });

    it("strip, lstrip, rstrip, lower, upper", async () => {
      assert.deepEqual(await b.str.strip().compute(opts()), lines.map((l) => l.trim()));
      assert.deepEqual(await b.str.lstrip().compute(opts()), lines.map((l) => l.trimStart()));
      assert.deepEqual(await b.str.rstrip().compute(opts()), lines.map((l) => l.trimEnd()));
      assert.deepEqual(await b.str.strip(" #\r").compute(opts()), ["Hello World", "\tfoo,bar,,baz", "", "ÉTÉ été\u3000x", "comment", "line"]);
      assert.deepEqual(await b.str.lower().compute(opts()), lines.map((l) => l.toLowerCase()));
      assert.deepEqual(await b.str.upper().compute(opts()), lines.map((l) => l.toUpperCase()));
    });

    it("startsWith, endsWith, includes and match give booleans", async () => {
      assert.deepEqual(await b.str.startsWith("#").compute(opts()), [false, false, false, false, true, false]);
      assert.deepEqual(await b.str.endsWith("\r").compute(opts()), [false, false, false, false, false, true]);
      assert.deepEqual(await b.str.includes("o").compute(opts()), [true, true, false, false, true, false]);
      assert.deepEqual(await b.str.match(/^\s*\p{Lu}/u).compute(opts()), [true, false, false, true, false, false]);
      // A global regex keeps no state from one element to the next.
      assert.deepEqual(await db.fromSequence(["ab", "ab", "ab"], { npartitions: 1 }).str.match(/a/g).compute(opts()), [true, true, true]);
      assert.deepEqual(await b.str.match("é").compute(opts()), [false, false, false, true, false, false]);
      assert.deepEqual(await b.filter((l) => l.length > 0).str.strip().str.lower().str.split().flatten().frequencies().compute(opts()), [
        ["hello", 1],
        ["world", 1],
        ["foo,bar,,baz", 1],
        ["été", 2],
        ["x", 1],
        ["#", 1],
        ["comment", 1],
        ["line", 1],
      ]);
    });

    it("an element that is not a string fails the task", async () => {
      const mixed = db.fromSequence(["a b", 42, "c"], { npartitions: 1 });
      for (const bag of [mixed.str.split(), mixed.str.split().flatten(), mixed.str.split().flatten().frequencies(), mixed.str.upper()]) {
        // A library error: TaskError on sync, the InvalidArgumentError itself from a cluster.
        await assert.rejects(bag.compute(opts()), (err: unknown) => {
          assert.ok(err instanceof TaskError || err instanceof InvalidArgumentError, String(err));
          assert.match(err.message, /str\.(split|upper) needs string elements, got 42/);
          return true;
        });
      }
    });
  });
}

describe("bag.str arguments", () => {
  const b = db.fromSequence(["a"]);
  it("are checked when the bag is built", () => {
    assert.throws(() => b.str.split(""), InvalidArgumentError);
    assert.throws(() => b.str.split(",", 1.5), InvalidArgumentError);
    assert.throws(() => b.str.split(3 as unknown as string), InvalidArgumentError);
    assert.throws(() => b.str.strip(3 as unknown as string), InvalidArgumentError);
    assert.throws(() => b.str.startsWith(undefined as unknown as string), InvalidArgumentError);
    assert.throws(() => b.str.match("("), InvalidArgumentError);
    assert.throws(() => b.str.match(3 as unknown as string), InvalidArgumentError);
  });

  it("name distinct bags by their arguments", () => {
    assert.equal(b.str.split(",").name, b.str.split(",").name);
    assert.notEqual(b.str.split(",").name, b.str.split(";").name);
    assert.notEqual(b.str.strip().name, b.str.lstrip().name);
    assert.notEqual(b.str.match(/a/).name, b.str.match(/a/i).name);
  });
});
