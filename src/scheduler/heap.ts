/**
 * A binary min-heap with lazy deletion, for priority queues of tasks
 * (the scheduler's queued root tasks, a worker's ready tasks). Removing an
 * arbitrary item is O(1): the caller marks it stale and `pop` skips it.
 *
 * @example
 * ```ts
 * const h = new Heap<number>((a, b) => a - b);
 * h.push(3); h.push(1); h.pop(); // 1
 * ```
 * @module
 */
export class Heap<T> {
  private readonly items: T[] = [];
  constructor(
    private readonly less: (a: T, b: T) => number,
    private readonly live: (item: T) => boolean = () => true,
  ) {}

  /** Entries, including stale ones not yet skipped. */
  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(a[i]!, a[p]!) >= 0) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  /** The smallest live item, without removing it. */
  peek(): T | undefined {
    this.dropStale();
    return this.items[0];
  }

  /** Remove and return the smallest live item. */
  pop(): T | undefined {
    this.dropStale();
    return this.removeTop();
  }

  private dropStale(): void {
    while (this.items.length > 0 && !this.live(this.items[0]!)) this.removeTop();
  }

  private removeTop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!) < 0) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }

  /** Every live item, in no particular order. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (const x of this.items) if (this.live(x)) yield x;
  }
}
