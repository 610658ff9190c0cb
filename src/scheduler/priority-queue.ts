/**
 * A priority queue tuned for how tasks arrive: a graph's tasks are listed in
 * execution order, so items are mostly pushed already sorted. Items are kept
 * in *runs*, each sorted ascending; a push that does not fit at the end of
 * the newest run starts a new run, and a small binary heap orders runs by
 * their heads. Sorted input costs O(1) per push and pop (one run), where a
 * binary heap would sift every pop through log n levels; arbitrary input
 * degrades gracefully to a heap of runs.
 *
 * Removal is lazy: `live(item)` is checked when an item reaches the front,
 * and dead items are skipped.
 *
 * @example
 * ```ts
 * const q = new PriorityQueue<number>((a, b) => a - b);
 * q.push(1); q.push(3); q.push(2);
 * q.pop(); // 1
 * ```
 * @module
 */
import { keepShape } from "../core/shapes.js";

class Run<T> {
  items: T[] = [];
  head = 0;
}

// A queue empties between computations, and with it every run: see core/shapes.ts.
keepShape(new Run());

export class PriorityQueue<T> {
  private readonly runs: Run<T>[] = [];
  private newest: Run<T> | undefined;

  constructor(
    private readonly compare: (a: T, b: T) => number,
    private readonly live: (item: T) => boolean = () => true,
  ) {}

  push(item: T): void {
    const run = this.newest;
    if (run !== undefined && run.head < run.items.length && this.compare(run.items[run.items.length - 1]!, item) <= 0) {
      run.items.push(item);
      return;
    }
    const fresh = new Run<T>();
    fresh.items.push(item);
    this.newest = fresh;
    this.runs.push(fresh);
    this.siftUp(this.runs.length - 1);
  }

  /** The smallest live item, without removing it. */
  peek(): T | undefined {
    for (;;) {
      const run = this.runs[0];
      if (run === undefined) return undefined;
      const item = run.items[run.head]!;
      if (this.live(item)) return item;
      this.advance(run);
    }
  }

  /** Remove and return the smallest live item. */
  pop(): T | undefined {
    const item = this.peek();
    if (item !== undefined) this.advance(this.runs[0]!);
    return item;
  }

  // Drop the head of the top run, then restore the heap of runs.
  private advance(run: Run<T>): void {
    run.head++;
    if (run.head >= run.items.length) {
      const last = this.runs.pop()!;
      if (this.newest === run) this.newest = undefined;
      if (last !== run) {
        this.runs[0] = last;
        this.siftDown(0);
      }
      return;
    }
    // Reclaim the consumed prefix of long runs now and then.
    if (run.head > 1024 && run.head * 2 > run.items.length) {
      run.items = run.items.slice(run.head);
      run.head = 0;
    }
    this.siftDown(0);
  }

  private less(i: number, j: number): boolean {
    const a = this.runs[i]!;
    const b = this.runs[j]!;
    return this.compare(a.items[a.head]!, b.items[b.head]!) < 0;
  }

  private siftUp(i: number): void {
    const r = this.runs;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) return;
      const t = r[i]!;
      r[i] = r[p]!;
      r[p] = t;
      i = p;
    }
  }

  private siftDown(i: number): void {
    const r = this.runs;
    for (;;) {
      const l = 2 * i + 1;
      const rr = l + 1;
      let m = i;
      if (l < r.length && this.less(l, m)) m = l;
      if (rr < r.length && this.less(rr, m)) m = rr;
      if (m === i) return;
      const t = r[i]!;
      r[i] = r[m]!;
      r[m] = t;
      i = m;
    }
  }
}
