/**
 * The string operations of a bag's `.str` namespace, as plain functions of
 * one string. They are library stages (`{ op: "str", method, args }`, see
 * `stages.ts`), so the planner (`plan.ts`) can recognise them and run
 * specialised loops, e.g. a word count that never builds a line's array.
 *
 * Whitespace is JavaScript's `\s` (what `String.prototype.trim` removes):
 * tab, line feed, vertical tab, form feed, carriage return, space, U+00A0,
 * U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 and U+FEFF.
 * Python's `str.split()` also splits on U+001C–U+001F and U+0085, and not on
 * U+FEFF.
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.js";

/** The methods of the `.str` namespace, as stages name them. */
export type StrMethod = "split" | "strip" | "lstrip" | "rstrip" | "lower" | "upper" | "startsWith" | "endsWith" | "includes" | "match";

/** True for the UTF-16 code units of JavaScript's `\s`, above the ASCII range. */
function isWideSpace(c: number): boolean {
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/**
 * True when the UTF-16 code unit `c` is whitespace in the sense of
 * JavaScript's `\s` (every such character is a single code unit).
 *
 * @example
 * ```ts
 * isSpace(" ".charCodeAt(0));      // true
 * isSpace("\u3000".charCodeAt(0)); // true (ideographic space)
 * isSpace("a".charCodeAt(0));      // false
 * ```
 */
export function isSpace(c: number): boolean {
  return c <= 32 ? c === 32 || (c >= 9 && c <= 13) : c >= 0xa0 && isWideSpace(c);
}

/**
 * Calls `emit` with the words of `s` — the pieces between runs of
 * whitespace, never empty — as Python's `str.split()` does. With
 * `maxsplit >= 0`, at most that many splits are made and the rest of the
 * string (from the start of the next word, trailing whitespace kept) is the
 * last piece.
 *
 * @example
 * ```ts
 * const out: string[] = [];
 * eachWhitespacePiece("  a\tb  c ", 1, (w) => out.push(w)); // out: ["a", "b  c "]
 * ```
 */
export function eachWhitespacePiece(s: string, maxsplit: number, emit: (piece: string) => void): void {
  const n = s.length;
  let i = 0;
  let splits = 0;
  while (i < n) {
    while (i < n && isSpace(s.charCodeAt(i))) i++;
    if (i >= n) return;
    if (maxsplit >= 0 && splits >= maxsplit) {
      emit(s.slice(i));
      return;
    }
    const start = i;
    while (i < n && !isSpace(s.charCodeAt(i))) i++;
    emit(s.slice(start, i));
    splits++;
  }
}

/**
 * Calls `emit` with the pieces of `s` between occurrences of `sep`
 * (`String.prototype.split(sep)`); with `maxsplit >= 0`, at most that many
 * splits, the rest being the last piece (as Python's `str.split(sep, maxsplit)`).
 *
 * @example
 * ```ts
 * const out: string[] = [];
 * eachSeparatedPiece("a,b,c", ",", 1, (w) => out.push(w)); // out: ["a", "b,c"]
 * ```
 */
export function eachSeparatedPiece(s: string, sep: string, maxsplit: number, emit: (piece: string) => void): void {
  let start = 0;
  let splits = 0;
  for (;;) {
    if (maxsplit >= 0 && splits >= maxsplit) break;
    const at = s.indexOf(sep, start);
    if (at < 0) break;
    emit(s.slice(start, at));
    start = at + sep.length;
    splits++;
  }
  emit(s.slice(start));
}

/**
 * `s` split as Python's `str.split(sep, maxsplit)`: on runs of whitespace
 * without empty pieces when `sep` is `null`, else on each `sep`.
 *
 * @example
 * ```ts
 * splitString(" a  b ", null, -1); // ["a", "b"]
 * splitString("a,,b", ",", -1);    // ["a", "", "b"]
 * ```
 */
export function splitString(s: string, sep: string | null, maxsplit: number): string[] {
  if (sep !== null && maxsplit < 0) return s.split(sep);
  const out: string[] = [];
  const push = (w: string): void => void out.push(w);
  if (sep === null) eachWhitespacePiece(s, maxsplit, push);
  else eachSeparatedPiece(s, sep, maxsplit, push);
  return out;
}

/**
 * `s` without the leading (`left`) and trailing (`right`) characters that
 * are whitespace, or, when `chars` is given, that occur in `chars`
 * (compared by code point, as Python's `str.strip(chars)`).
 *
 * @example
 * ```ts
 * stripString("  hi \n", null, true, true); // "hi"
 * stripString("xxhixy", "xy", true, false); // "hixy"
 * ```
 */
export function stripString(s: string, chars: string | null, left: boolean, right: boolean): string {
  if (chars === null) return left && right ? s.trim() : left ? s.trimStart() : s.trimEnd();
  const set = new Set<number>();
  for (const ch of chars) set.add(ch.codePointAt(0)!);
  let start = 0;
  let end = s.length;
  if (left) {
    while (start < end) {
      const cp = s.codePointAt(start)!;
      if (!set.has(cp)) break;
      start += cp > 0xffff ? 2 : 1;
    }
  }
  if (right) {
    while (end > start) {
      const lo = s.charCodeAt(end - 1);
      const pair = lo >= 0xdc00 && lo <= 0xdfff && end - 2 >= start && s.charCodeAt(end - 2) >= 0xd800 && s.charCodeAt(end - 2) <= 0xdbff;
      const cp = pair ? s.codePointAt(end - 2)! : lo;
      if (!set.has(cp)) break;
      end -= pair ? 2 : 1;
    }
  }
  return s.slice(start, end);
}

/** The arguments a `split` stage carries: `[sep, maxsplit]`, `sep` null for whitespace. */
export function splitArgs(args: readonly unknown[]): { sep: string | null; maxsplit: number } {
  return { sep: (args[0] as string | null | undefined) ?? null, maxsplit: (args[1] as number | undefined) ?? -1 };
}

/**
 * The function of one string that the stage `{ op: "str", method, args }` applies.
 *
 * @example
 * ```ts
 * strFunction("split", [null, -1])(" a b "); // ["a", "b"]
 * strFunction("match", ["^\\d+$", ""])("42"); // true
 * ```
 */
export function strFunction(method: StrMethod, args: readonly unknown[]): (s: string) => unknown {
  switch (method) {
    case "split": {
      const { sep, maxsplit } = splitArgs(args);
      return (s) => splitString(s, sep, maxsplit);
    }
    case "strip":
    case "lstrip":
    case "rstrip": {
      const chars = (args[0] as string | null | undefined) ?? null;
      const left = method !== "rstrip";
      const right = method !== "lstrip";
      return (s) => stripString(s, chars, left, right);
    }
    case "lower":
      return (s) => s.toLowerCase();
    case "upper":
      return (s) => s.toUpperCase();
    case "startsWith": {
      const p = args[0] as string;
      return (s) => s.startsWith(p);
    }
    case "endsWith": {
      const p = args[0] as string;
      return (s) => s.endsWith(p);
    }
    case "includes": {
      const p = args[0] as string;
      return (s) => s.includes(p);
    }
    case "match": {
      // Built here from its source and flags (a RegExp is not sent as one); no
      // "g"/"y", so test() keeps no state between elements.
      const re = new RegExp(args[0] as string, (args[1] as string).replace(/[gy]/g, ""));
      return (s) => re.test(s);
    }
    default:
      throw new InvalidArgumentError("method", `Unknown string method ${JSON.stringify(method)}.`);
  }
}
