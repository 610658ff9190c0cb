/**
 * Counting whitespace-separated words straight from text, for the pipeline
 * `….str.split().flatten().frequencies()` (see `plan.ts`).
 *
 * The generic path builds an array of fresh strings per line and looks each
 * one up in a `Map`, which hashes it again. Here the scanner walks the
 * characters once, hashing each word as it goes, and counts in its own
 * open-addressing table keyed by (hash, length, characters): a word already
 * seen is compared character by character against its stored key, in
 * place, so no string is made for a word already seen. The result is the
 * frequencies sink's partial exactly: the words in first-seen order and
 * their counts.
 *
 * Words are the maximal runs of characters that are not whitespace in the
 * sense of JavaScript's `\s` (`strings.ts`); every such character is one
 * UTF-16 code unit, so scanning code units splits exactly as the generic
 * `str.split()` does, whatever the text holds (surrogate pairs are never
 * whitespace and stay inside their word). Line endings are whitespace too,
 * so a whole block of a text file can be scanned at once, lines and all.
 *
 * @module
 */
import { isSpace } from "./strings.js";

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** The final mix of a word's running FNV-1a hash (murmur3's fmix32: a bijection, so collisions are the FNV ones). */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * The 32-bit hash the word table keys `word` by (exposed so tests can find
 * words that collide).
 *
 * @example
 * ```ts
 * wordHash("the") === wordHash("the"); // true
 * ```
 */
export function wordHash(word: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), FNV_PRIME);
  return mix(h);
}

/** A slot's count is carried into {@link WordCounter}'s `carried` map when it reaches this, so it never overflows. */
const CARRY = 0x40000000;

/**
 * A word-frequency table fed with text. `columns()` gives what
 * `frequencies()`' partition sink gives for the same words.
 *
 * Each slot is four int32: the word's hash, its length + 1 (0: an empty
 * slot), the offset of its characters in `pool`, and its count. A word is
 * compared against the pool character by character, so nothing is
 * allocated for a word already seen; its string is made once, by
 * `columns()`, from the pool (a flat copy that keeps no block of text
 * alive).
 *
 * @example
 * ```ts
 * const wc = new WordCounter();
 * wc.scan("to be or\nnot to be", 0, 18);
 * wc.entries(); // [["to", 2], ["be", 2], ["or", 1], ["not", 1]]
 * ```
 */
export class WordCounter {
  private slots = new Int32Array(4 * 1024);
  private mask = 1023;
  /** The characters of the distinct words, one after another in first-seen order. */
  private pool = new Uint16Array(1 << 14);
  private poolLength = 0;
  /** The pool offset of each distinct word, in first-seen order (so ascending). */
  private starts = new Int32Array(1024);
  private size = 0;
  /** Counts beyond {@link CARRY} per pool offset (rarely used). */
  private readonly carried = new Map<number, number>();

  /** Count the words of `text[start, end)`. */
  scan(text: string, start: number, end: number): void {
    let i = start;
    while (i < end) {
      let c = text.charCodeAt(i);
      if (c <= 32 ? c === 32 || (c >= 9 && c <= 13) : c >= 0xa0 && isSpace(c)) {
        i++;
        continue;
      }
      const from = i;
      let h = FNV_OFFSET;
      for (;;) {
        h = Math.imul(h ^ c, FNV_PRIME);
        if (++i >= end) break;
        c = text.charCodeAt(i);
        if (c <= 32 ? c === 32 || (c >= 9 && c <= 13) : c >= 0xa0 && isSpace(c)) break;
      }
      h = mix(h);
      const len = i - from;
      const slots = this.slots;
      const mask = this.mask;
      const pool = this.pool;
      let j = h & mask;
      for (;;) {
        const s = 4 * j;
        const l = slots[s + 1]!;
        if (l === 0) {
          this.insert(text, from, len, h, s);
          break;
        }
        if (l === len + 1 && slots[s] === h) {
          const off = slots[s + 2]!;
          let m = 0;
          while (m < len && pool[off + m] === text.charCodeAt(from + m)) m++;
          if (m === len) {
            if (++slots[s + 3]! === CARRY) this.carry(s);
            break;
          }
        }
        j = (j + 1) & mask;
      }
    }
  }

  /** A new word `text[from, from + len)` with hash `h`, in the empty slot at `s`. */
  private insert(text: string, from: number, len: number, h: number, s: number): void {
    if (this.poolLength + len > this.pool.length) {
      const pool = new Uint16Array(Math.max(2 * this.pool.length, this.poolLength + len));
      pool.set(this.pool.subarray(0, this.poolLength));
      this.pool = pool;
    }
    const off = this.poolLength;
    const pool = this.pool;
    for (let m = 0; m < len; m++) pool[off + m] = text.charCodeAt(from + m);
    this.poolLength += len;
    const slots = this.slots;
    slots[s] = h;
    slots[s + 1] = len + 1;
    slots[s + 2] = off;
    slots[s + 3] = 1;
    if (this.size === this.starts.length) {
      const starts = new Int32Array(2 * this.size);
      starts.set(this.starts);
      this.starts = starts;
    }
    this.starts[this.size++] = off;
    if (2 * this.size > this.mask) this.grow();
  }

  private carry(s: number): void {
    const off = this.slots[s + 2]!;
    this.carried.set(off, (this.carried.get(off) ?? 0) + CARRY);
    this.slots[s + 3] = 0;
  }

  private grow(): void {
    const old = this.slots;
    const mask = 2 * (this.mask + 1) - 1;
    const slots = new Int32Array(4 * (mask + 1));
    for (let s = 0; s < old.length; s += 4) {
      if (old[s + 1] === 0) continue;
      let j = old[s]! & mask;
      while (slots[4 * j + 1] !== 0) j = (j + 1) & mask;
      slots.set(old.subarray(s, s + 4), 4 * j);
    }
    this.slots = slots;
    this.mask = mask;
  }

  /**
   * The distinct words in first-seen order and their counts, as two
   * columns: the frequencies sink's partial (see `FrequenciesPartial`).
   */
  columns(): [string[], number[]] {
    const words = new Array<string>(this.size);
    const counts = new Array<number>(this.size);
    const { slots, starts, pool } = this;
    for (let s = 0; s < slots.length; s += 4) {
      const l = slots[s + 1]!;
      if (l === 0) continue;
      const off = slots[s + 2]!;
      // The word's rank in first-seen order: where its offset is in `starts`.
      let lo = 0;
      let hi = this.size - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (starts[mid]! < off) lo = mid + 1;
        else hi = mid;
      }
      words[lo] = charsOf(pool, off, l - 1);
      counts[lo] = slots[s + 3]! + (this.carried.get(off) ?? 0);
    }
    return [words, counts];
  }

  /** The `[word, count]` pairs, in first-seen order. */
  entries(): [string, number][] {
    const [words, counts] = this.columns();
    return words.map((w, i) => [w, counts[i]!]);
  }
}

/** The string of `pool[off, off + len)`. */
function charsOf(pool: Uint16Array, off: number, len: number): string {
  if (len <= 4096) return String.fromCharCode.apply(null, pool.subarray(off, off + len) as unknown as number[]);
  let s = "";
  for (let k = 0; k < len; k += 4096) s += String.fromCharCode.apply(null, pool.subarray(off + k, off + Math.min(len, k + 4096)) as unknown as number[]);
  return s;
}
