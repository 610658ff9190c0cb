// The result types of compute(): a trailing options object is not a result,
// whether the values are listed or spread from an array.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compute, delayed, type Delayed } from "../../src/index.js";

type Equal<A, B> = (<G>() => G extends A ? 1 : 2) extends <G>() => G extends B ? 1 : 2 ? true : false;
const check = <T extends true>(): T => true as T;

test("compute's result type drops the options, for listed and spread values", async () => {
  const a = delayed((x: number) => x + 1)(1);
  const b = delayed((s: string) => s.length)("abc");
  const listed = await compute(a, b, { scheduler: "sync" });
  check<Equal<typeof listed, [number, number]>>();
  const many: Delayed<number>[] = [a, a];
  const spread = await compute(...many, { scheduler: "sync" });
  check<Equal<typeof spread, number[]>>();
  const plain = await compute(a, { total: b });
  check<Equal<typeof plain, [number, { total: number }]>>();
  assert.deepEqual([listed, spread, plain], [[2, 3], [2, 2], [2, { total: 3 }]]);
});
