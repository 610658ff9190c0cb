// The run-based priority queue pops exactly what a sort would, whatever the
// order of pushes, and skips items that stopped being live.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PriorityQueue } from "../../src/scheduler/priority-queue.js";
import { rng } from "../helpers/random.js";

function drain<T>(q: PriorityQueue<T>): T[] {
  const out: T[] = [];
  for (let x = q.pop(); x !== undefined; x = q.pop()) out.push(x);
  return out;
}

test("sorted, reversed, random and run-shaped pushes, interleaved with pops, come out in order", () => {
  const random = rng(7);
  for (const shape of ["sorted", "reversed", "random", "runs"] as const) {
    for (let trial = 0; trial < 20; trial++) {
      const n = 1 + Math.floor(random() * 2000);
      const items = Array.from({ length: n }, (_, i) =>
        shape === "sorted" ? i : shape === "reversed" ? n - i : shape === "random" ? Math.floor(random() * 500) : (i % 97) + Math.floor(i / 97) * 3,
      );
      const q = new PriorityQueue<number>((a, b) => a - b);
      const held: number[] = [];
      const out: number[] = [];
      for (const x of items) {
        q.push(x);
        held.push(x);
        // Pop now and then, as the scheduler does while tasks arrive: always the current minimum.
        if (random() < 0.2) {
          const min = Math.min(...held);
          const y = q.pop();
          assert.equal(y, min, `${shape}: pop returned ${y}, the smallest held is ${min}`);
          held.splice(held.indexOf(min), 1);
          out.push(y!);
        }
      }
      const rest = drain(q);
      assert.deepEqual(rest, [...held].sort((a, b) => a - b), `${shape}: the rest comes out sorted`);
      assert.equal(out.length + rest.length, n, `${shape}: every item comes out once`);
    }
  }
});

test("each pop returns the smallest item held at that moment", () => {
  const random = rng(11);
  const q = new PriorityQueue<number>((a, b) => a - b);
  const held: number[] = [];
  for (let step = 0; step < 5000; step++) {
    if (held.length === 0 || random() < 0.6) {
      const x = Math.floor(random() * 1000);
      q.push(x);
      held.push(x);
    } else {
      const min = Math.min(...held);
      assert.equal(q.pop(), min);
      held.splice(held.indexOf(min), 1);
    }
  }
});

test("items that are no longer live are skipped by peek and pop", () => {
  const dead = new Set<number>();
  const q = new PriorityQueue<number>((a, b) => a - b, (x) => !dead.has(x));
  for (const x of [5, 1, 4, 2, 3]) q.push(x);
  dead.add(1);
  dead.add(3);
  assert.equal(q.peek(), 2);
  assert.deepEqual(drain(q), [2, 4, 5]);
  assert.equal(q.peek(), undefined);
});
