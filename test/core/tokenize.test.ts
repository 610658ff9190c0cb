/**
 * `tokenize`: deterministic 32-hex-digit names. Equal values give equal
 * tokens; values that differ give different tokens; typed arrays are hashed by
 * content. (Determinism across processes is checked in functions.test.ts.)
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import { delayed, tokenize, tokenizeSymbol } from "../../src/index.js";
import { randomKeys, randomToken } from "../../src/core/tokenize.js";

const HEX32 = /^[0-9a-f]{32}$/;

/** Asserts all the given value lists tokenize differently. */
function allDifferent(...cases: unknown[][]): void {
  const tokens = cases.map((c) => tokenize(...c));
  for (let i = 0; i < tokens.length; i++) {
    for (let j = i + 1; j < tokens.length; j++) {
      assert.notEqual(tokens[i], tokens[j], `case ${i} ${JSON.stringify(String(cases[i]))} vs case ${j} ${JSON.stringify(String(cases[j]))}`);
    }
  }
}

describe("tokenize: basics", () => {
  it("is 32 hex digits and repeatable", () => {
    assert.match(tokenize(), HEX32);
    assert.match(tokenize(1, "a", [null]), HEX32);
    assert.equal(tokenize(1, "a", { b: [2, 3] }), tokenize(1, "a", { b: [2, 3] }));
  });

  it("tells primitive types and values apart", () => {
    allDifferent([1], ["1"], [1n], [true], ["true"], [null], [undefined], ["null"], [0], [-0], [NaN], [Infinity], [""], [[]], [{}], ["T"], ["U"], ["N"]);
    assert.equal(tokenize(NaN), tokenize(Number.NaN));
  });

  it("keeps argument boundaries", () => {
    allDifferent(["ab"], ["a", "b"], [["a", "b"]], [["a"], "b"], ["a", ["b"]], [[["a", "b"]]]);
    allDifferent([1, 2], [12], [[1, 2]], ["1", "2"], [{ 1: 2 }]);
  });

  it("long strings and arrays (past the writer's buffer)", () => {
    const long = "x".repeat(20_000);
    assert.equal(tokenize(long), tokenize("x".repeat(20_000)));
    allDifferent([long], [long + "x"], ["x".repeat(19_999) + "y"]);
    const big = Array.from({ length: 5000 }, (_, i) => `item-${i}`);
    const changed = [...big];
    changed[4999] = "item-x";
    allDifferent([big], [changed]);
  });

  it("Unicode strings", () => {
    assert.equal(tokenize("héllo 😀"), tokenize("héllo 😀"));
    allDifferent(["é"], ["e\u0301"], ["😀"], ["😁"]);
  });

  it("lone surrogates do not collide with U+FFFD or each other", () => {
    allDifferent(["\uD800"], ["\uFFFD"], ["\uDBFF"], ["\uDC00"]);
  });
});

describe("tokenize: objects and collections", () => {
  it("plain objects: key order does not matter, content does", () => {
    assert.equal(tokenize({ a: 1, b: { c: [1, 2] } }), tokenize({ b: { c: [1, 2] }, a: 1 }));
    assert.equal(tokenize(Object.assign(Object.create(null) as object, { a: 1 })), tokenize({ a: 1 }));
    allDifferent([{ a: 1 }], [{ a: 2 }], [{ b: 1 }], [{ a: 1, b: undefined }], [{}], [["a", 1]], [new Map([["a", 1]])]);
  });

  it("Maps and Sets: insertion order does not matter", () => {
    assert.equal(tokenize(new Map<unknown, unknown>([["a", 1], [2, "b"]])), tokenize(new Map<unknown, unknown>([[2, "b"], ["a", 1]])));
    assert.equal(tokenize(new Set([1, "1", 2])), tokenize(new Set([2, 1, "1"])));
    allDifferent([new Set([1, 2])], [new Set([1, 3])], [[1, 2]], [new Map([[1, 2]])], [new Map([[2, 1]])]);
  });

  it("Dates and regular expressions by value", () => {
    assert.equal(tokenize(new Date(86_400_000)), tokenize(new Date(86_400_000)));
    assert.equal(tokenize(/a+b/gi), tokenize(/a+b/gi));
    allDifferent([new Date(1)], [new Date(2)], [/a/], [/a/g], [/b/], ["/a/"]);
  });

  it("arrays and objects that contain themselves do not loop", () => {
    const o: Record<string, unknown> = { a: 1 };
    o["self"] = o;
    const arr: unknown[] = [1];
    arr.push(arr);
    assert.match(tokenize(o), HEX32);
    assert.match(tokenize(arr), HEX32);
    assert.equal(tokenize(o), tokenize(o));
  });

  it("Maps and Sets that contain themselves do not loop", () => {
    const m = new Map<string, unknown>();
    m.set("self", m);
    const s = new Set<unknown>();
    s.add(s);
    assert.match(tokenize(m), HEX32);
    assert.match(tokenize(s), HEX32);
  });

  it("class instances without their own token are identified by identity", () => {
    class Point {
      constructor(readonly x: number) {}
    }
    const p = new Point(1);
    assert.equal(tokenize(p), tokenize(p));
    assert.notEqual(tokenize(p), tokenize(new Point(1)), "equal content is not known to mean equal value");
    assert.notEqual(tokenize(p), tokenize({ x: 1 }));
  });

  it("objects with [tokenizeSymbol] supply their own token", () => {
    const a = { data: 1, [tokenizeSymbol]: () => "custom-a" };
    const b = { data: 2, [tokenizeSymbol]: () => "custom-a" };
    const c = { data: 1, [tokenizeSymbol]: () => "custom-c" };
    assert.equal(tokenize(a), tokenize(b));
    assert.notEqual(tokenize(a), tokenize(c));
    const d = delayed((x: number) => x)(1);
    assert.equal(tokenize(d), tokenize(d));
    assert.notEqual(tokenize(d), tokenize(delayed((x: number) => x)(1)), "different keys, different tokens");
  });

  it("registered symbols by name; other symbols stable per identity", () => {
    assert.equal(tokenize(Symbol.for("app.x")), tokenize(Symbol.for("app.x")));
    assert.notEqual(tokenize(Symbol.for("app.x")), tokenize(Symbol.for("app.y")));
    const s = Symbol("local");
    assert.equal(tokenize(s), tokenize(s));
    assert.notEqual(tokenize(s), tokenize(Symbol("local")));
  });
});

describe("tokenize: typed arrays by content", () => {
  it("equal contents, equal tokens; any change, a different token", () => {
    const a = Float64Array.from({ length: 10_000 }, (_, i) => Math.sin(i));
    const b = Float64Array.from(a);
    assert.notEqual(a, b);
    assert.equal(tokenize(a), tokenize(b));
    b[9_999] = 0;
    assert.notEqual(tokenize(a), tokenize(b));
  });

  it("the element type matters, not only the bytes", () => {
    const bytes = new Uint8Array(8).fill(1);
    const buf = bytes.buffer;
    allDifferent([new Uint8Array(buf)], [new Int8Array(buf)], [new Uint16Array(buf)], [new Float64Array(buf)], [new BigInt64Array(buf)], [new DataView(buf)], [buf]);
  });

  it("a view is hashed by the bytes it shows, not its whole buffer", () => {
    const whole = new Int32Array([9, 1, 2, 3, 9]);
    assert.equal(tokenize(whole.subarray(1, 4)), tokenize(new Int32Array([1, 2, 3])));
    assert.notEqual(tokenize(whole.subarray(1, 4)), tokenize(whole));
  });

  it("ArrayBuffers by content; typed arrays nested in objects", () => {
    assert.equal(tokenize(new Uint8Array([1, 2]).buffer), tokenize(new Uint8Array([1, 2]).buffer));
    allDifferent([new Uint8Array([1, 2]).buffer], [new Uint8Array([1, 3]).buffer], [new Uint8Array([1, 2, 0]).buffer]);
    assert.equal(tokenize({ w: new Float32Array([1, 2]) }), tokenize({ w: new Float32Array([1, 2]) }));
    allDifferent([{ w: new Float32Array([1, 2]) }], [{ w: new Float32Array([1, 3]) }], [{ w: [1, 2] }]);
  });

  it("pure delayed calls on equal typed arrays share a key", () => {
    const norm = delayed((v: Float64Array) => Math.hypot(...v), { pure: true });
    assert.equal(norm(new Float64Array([3, 4])).key, norm(new Float64Array([3, 4])).key);
    assert.notEqual(norm(new Float64Array([3, 4])).key, norm(new Float64Array([4, 3])).key);
  });
});

describe("tokenize: functions", () => {
  it("self-contained functions by source text", () => {
    const f1 = (x: number) => x + 1;
    const f2 = (x: number) => x + 1;
    const g = (x: number) => x + 2;
    assert.equal(tokenize(f1), tokenize(f2));
    assert.notEqual(tokenize(f1), tokenize(g));
    assert.notEqual(tokenize(f1), tokenize(f1.toString()), "a function is not its source string");
  });

  it("globals by path; closures by identity", () => {
    assert.equal(tokenize(Math.sqrt), tokenize(Math.sqrt));
    assert.notEqual(tokenize(Math.sqrt), tokenize(Math.cbrt));
    const k = { n: 1 };
    const c1 = (x: number) => x + k.n;
    const c2 = (x: number) => x + k.n;
    assert.equal(tokenize(c1), tokenize(c1));
    assert.notEqual(tokenize(c1), tokenize(c2), "two closures may see different values");
  });
});

describe("random keys", () => {
  it("are the name and a 32-hex-digit token, all distinct, across the byte boundaries the maker caches", () => {
    const next = randomKeys("inc");
    const other = randomKeys("add");
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      // Interleaved makers share the counter: the cached prefix must follow it.
      for (const k of [next(), other(), randomToken()]) {
        assert.match(k, /^(inc-|add-)?[0-9a-f]{32}$/);
        const token = k.slice(-32);
        assert.ok(!seen.has(token), `token ${token} repeats`);
        seen.add(token);
      }
    }
  });
});
