/**
 * The counter-based random numbers of the benchmark data sets (the format is
 * specified in the Python baseline's README, "Data format"): the SplitMix64
 * finaliser applied to `seed + (i + 1) * golden-gamma`, all modulo 2^64.
 *
 * The hot path works on 64-bit values as two unsigned 32-bit halves (`hi`,
 * `lo`) so that no BigInt is allocated per number: the text data set alone
 * needs 46 million of them. {@link mix64Big} is the same function on BigInt,
 * kept as the readable definition and used by the self-check.
 * @module
 */

const MASK64 = (1n << 64n) - 1n;
const GAMMA = 0x9e3779b97f4a7c15n;
const M1 = 0xbf58476d1ce4e5b9n;
const M2 = 0x94d049bb133111ebn;

/** SplitMix64's finaliser on a BigInt (the definition; slow). */
export function mix64Big(z: bigint): bigint {
  z &= MASK64;
  z = ((z ^ (z >> 30n)) * M1) & MASK64;
  z = ((z ^ (z >> 27n)) * M2) & MASK64;
  return z ^ (z >> 31n);
}

/** `r(D, f, c)[i]` on BigInt (the definition; slow). */
export function randBig(dataset: number, file: number, stream: number, i: number): bigint {
  const seed = mix64Big(streamKey(dataset, file, stream));
  return mix64Big(seed + BigInt(i + 1) * GAMMA);
}

function streamKey(dataset: number, file: number, stream: number): bigint {
  return (BigInt(dataset) << 48n) | (BigInt(file) << 24n) | BigInt(stream);
}

const hiOf = (x: bigint): number => Number((x >> 32n) & 0xffffffffn);
const loOf = (x: bigint): number => Number(x & 0xffffffffn);

const M1_HI = hiOf(M1);
const M1_LO = loOf(M1);
const M2_HI = hiOf(M2);
const M2_LO = loOf(M2);
const GAMMA_HI = hiOf(GAMMA);
const GAMMA_LO = loOf(GAMMA);

/** High 32 bits of the 64-bit product of two unsigned 32-bit integers (exact, via 16-bit pieces). */
function mulHi32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const m1 = a1 * b0;
  const m2 = a0 * b1;
  const carry = (((a0 * b0) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff)) >>> 16;
  return (a1 * b1 + (m1 >>> 16) + (m2 >>> 16) + carry) >>> 0;
}

/**
 * One stream `r(D, f, c)`: {@link next} advances the counter and leaves the
 * value in {@link hi} / {@link lo}; {@link below} and the reductions read it.
 */
export class Stream {
  /** The value drawn last, as unsigned 32-bit halves. */
  hi = 0;
  lo = 0;
  /** seed + i * gamma, i = values drawn so far. */
  private sh: number;
  private sl: number;

  constructor(dataset: number, file: number, stream: number) {
    const seed = mix64Big(streamKey(dataset, file, stream));
    this.sh = hiOf(seed);
    this.sl = loOf(seed);
  }

  /** Draw the next value into hi / lo. */
  next(): void {
    const l = this.sl + GAMMA_LO;
    const sl = l >>> 0;
    const sh = (this.sh + GAMMA_HI + (l > 0xffffffff ? 1 : 0)) >>> 0;
    this.sl = sl;
    this.sh = sh;
    // z ^= z >> 30; z *= M1
    let zl = (sl ^ ((sl >>> 30) | (sh << 2))) >>> 0;
    let zh = (sh ^ (sh >>> 30)) >>> 0;
    let ph = (mulHi32(zl, M1_LO) + Math.imul(zh, M1_LO) + Math.imul(zl, M1_HI)) >>> 0;
    let pl = Math.imul(zl, M1_LO) >>> 0;
    // z ^= z >> 27; z *= M2
    zl = (pl ^ ((pl >>> 27) | (ph << 5))) >>> 0;
    zh = (ph ^ (ph >>> 27)) >>> 0;
    ph = (mulHi32(zl, M2_LO) + Math.imul(zh, M2_LO) + Math.imul(zl, M2_HI)) >>> 0;
    pl = Math.imul(zl, M2_LO) >>> 0;
    // z ^= z >> 31
    this.lo = (pl ^ ((pl >>> 31) | (ph << 1))) >>> 0;
    this.hi = (ph ^ (ph >>> 31)) >>> 0;
  }

  /** Advance past one value without computing it (a record that does not use this stream). */
  skip(): void {
    const l = this.sl + GAMMA_LO;
    this.sl = l >>> 0;
    this.sh = (this.sh + GAMMA_HI + (l > 0xffffffff ? 1 : 0)) >>> 0;
  }

  /** The next value modulo `m` (see {@link Modulus}). */
  below(m: Modulus): number {
    this.next();
    return m.of(this.hi, this.lo);
  }

  /** The next value as a BigInt (for checks). */
  nextBig(): bigint {
    this.next();
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }
}

/**
 * Reduction of a 64-bit value modulo n, for 1 <= n <= 2^36, with doubles only:
 * `hi * 2^32 + lo = hh * 2^48 + hl * 2^32 + lo` (hh, hl the 16-bit halves of
 * hi), so with A = 2^48 mod n and B = 2^32 mod n the sum `hh*A + hl*B + lo`
 * is below 2^53 (exact) and has the same remainder.
 */
export class Modulus {
  readonly n: number;
  private readonly a: number;
  private readonly b: number;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 36) throw new RangeError(`modulus ${n} out of range 1..2^36`);
    this.n = n;
    this.a = 2 ** 48 % n;
    this.b = 2 ** 32 % n;
  }

  of(hi: number, lo: number): number {
    const n = this.n;
    const x = (hi >>> 16) * this.a + (hi & 0xffff) * this.b + lo;
    // floor(x / n) may be off by one after rounding; the remainder is corrected below.
    let r = x - Math.floor(x / n) * n;
    if (r < 0) r += n;
    else if (r >= n) r -= n;
    return r;
  }
}

/**
 * Zipf(n) ranks: weights W_k = floor(2^32 / (k + 1)), cumulative C_k, total T;
 * the rank of a value u is the smallest k with (u mod T) < C_k. A guide table
 * indexed by (u mod T) / 2^16 gives a starting rank; since every weight is
 * above 2^16 for n <= 65,536, at most one or two steps follow.
 */
export class Zipf {
  readonly n: number;
  readonly total: number;
  private readonly cum: Float64Array;
  private readonly guide: Int32Array;
  private readonly mod: Modulus;

  constructor(n: number) {
    this.n = n;
    const cum = new Float64Array(n);
    let c = 0;
    for (let k = 0; k < n; k++) {
      c += Math.floor(2 ** 32 / (k + 1));
      cum[k] = c;
    }
    this.cum = cum;
    this.total = c;
    this.mod = new Modulus(c);
    const buckets = Math.ceil(c / 65536);
    const guide = new Int32Array(buckets);
    let k = 0;
    for (let b = 0; b < buckets; b++) {
      const start = b * 65536;
      while (cum[k]! <= start) k++;
      guide[b] = k;
    }
    this.guide = guide;
  }

  /** The rank of the next value of `s`. */
  rank(s: Stream): number {
    s.next();
    const u = this.mod.of(s.hi, s.lo);
    let k = this.guide[Math.floor(u / 65536)]!;
    const cum = this.cum;
    while (cum[k]! <= u) k++;
    return k;
  }
}
