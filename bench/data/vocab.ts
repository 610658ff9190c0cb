/**
 * The words of the benchmark data sets: syllable numerals (`ba`, `be`, ...,
 * `zu`, `baba`, ...), the tag vocabulary and the person names, and a flat
 * byte table to copy them into an output buffer without encoding each time.
 * @module
 */

const CONSONANTS = "bcdfghjklmnprstvwxyz";
const VOWELS = "aeiou";

/** Syllable s (0..99): consonant s / 5, vowel s % 5. */
const SYLLABLES: readonly string[] = Array.from({ length: 100 }, (_, s) => CONSONANTS[Math.floor(s / 5)]! + VOWELS[s % 5]!);

/** k in bijective base 100, written with the syllables, most significant first. */
export function word(k: number): string {
  const digits: string[] = [];
  for (let n = k; n >= 0; n = Math.floor(n / 100) - 1) digits.push(SYLLABLES[n % 100]!);
  return digits.reverse().join("");
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** Text vocabulary: word(rank), rank 0 the most frequent. */
export const textVocab = (n = 50_000): string[] => Array.from({ length: n }, (_, k) => word(k));

/** Tag vocabulary: word(j), j = 0..999. */
export const tagVocab = (n = 1_000): string[] => Array.from({ length: n }, (_, j) => word(j));

/** The 5,000 names: "First Last", first = word(100 + k / 100), last = word(1000 + k % 100). */
export const personNames = (n = 5_000): string[] =>
  Array.from({ length: n }, (_, k) => `${capitalize(word(100 + Math.floor(k / 100)))} ${capitalize(word(1000 + (k % 100)))}`);

/** ASCII strings packed into one byte array: entry i is bytes[start[i] .. start[i + 1]). */
export class ByteTable {
  readonly bytes: Uint8Array;
  readonly start: Int32Array;

  constructor(strings: readonly string[]) {
    const total = strings.reduce((n, s) => n + s.length, 0);
    this.bytes = new Uint8Array(total);
    this.start = new Int32Array(strings.length + 1);
    let p = 0;
    strings.forEach((s, i) => {
      this.start[i] = p;
      for (let j = 0; j < s.length; j++) {
        const c = s.charCodeAt(j);
        if (c > 0x7f) throw new Error(`not ASCII: ${JSON.stringify(s)}`);
        this.bytes[p++] = c;
      }
    });
    this.start[strings.length] = p;
  }
}
