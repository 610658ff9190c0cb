/**
 * `bag.str`: string methods on a bag of strings, after Dask's
 * `Bag.str` accessor. Each method is one library stage (not a user
 * function), so workers need nothing shipped and the partition planner can
 * recognise it: `readText(...).str.split().flatten().frequencies()` counts
 * words straight from the file's text, without building an array per line.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.js";
import type { Bag } from "./bag.js";
import type { StrMethod } from "./kernels/strings.js";

function checkText(method: string, name: string, v: unknown): string {
  if (typeof v !== "string") throw new InvalidArgumentError(name, `str.${method}: ${name} must be a string, got ${typeof v}.`);
  return v;
}

function checkChars(method: string, chars: unknown): string | null {
  if (chars === undefined || chars === null) return null;
  return checkText(method, "chars", chars);
}

/**
 * String methods on every element of a bag of strings (`bag.str`). An
 * element that is not a string fails the task with an
 * `InvalidArgumentError`. Whitespace is JavaScript's `\s` (what `trim()`
 * removes); Python's set differs slightly (it includes U+001C–U+001F and
 * U+0085, not U+FEFF).
 *
 * @example
 * ```ts
 * const words = db.readText("books/*.txt").str.lower().str.split().flatten();
 * await words.frequencies({ sort: true }).take(10);
 * ```
 */
export class StringAccessor {
  private readonly bag: Bag<unknown>;

  /** @internal */
  constructor(bag: Bag<unknown>) {
    this.bag = bag;
  }

  private add<R>(method: StrMethod, args: readonly unknown[]): Bag<R> {
    return this.bag.stage(`str-${method}`, { op: "str", method, args }, [method, ...args]) as Bag<R>;
  }

  /**
   * Split each string into an array, as Python's `str.split`: with no
   * separator (or `null`), on runs of whitespace, dropping empty pieces
   * (`" a  b ".split()` gives `["a", "b"]`); with one, on each occurrence
   * (`String.prototype.split(sep)`, empty pieces kept). `maxsplit` (default
   * -1: no limit) caps the number of splits; the rest of the string is the
   * last piece. Follow with `.flatten()` for a bag of words.
   *
   * @example
   * ```ts
   * lines.str.split();               // ["to", "be", "or", ...] per line
   * lines.str.split(",");            // CSV-ish fields
   * lines.str.split(null, 1);        // [first word, rest of the line]
   * lines.str.split().flatten().frequencies(); // a word count
   * ```
   */
  split(sep?: string | null, maxsplit = -1): Bag<string[]> {
    if (sep !== undefined && sep !== null) {
      checkText("split", "sep", sep);
      if (sep === "") throw new InvalidArgumentError("sep", "str.split: the separator must not be empty (as in Python). Use split() for whitespace.");
    }
    if (!Number.isInteger(maxsplit)) throw new InvalidArgumentError("maxsplit", `str.split: maxsplit must be an integer, got ${String(maxsplit)}.`);
    return this.add<string[]>("split", [sep ?? null, maxsplit < 0 ? -1 : maxsplit]);
  }

  /**
   * Remove leading and trailing whitespace, or, with `chars`, any of those characters.
   *
   * @example
   * ```ts
   * lines.str.strip();      // "  hi \r" → "hi"
   * lines.str.strip("-*");  // "**hi--" → "hi"
   * ```
   */
  strip(chars?: string | null): Bag<string> {
    return this.add("strip", [checkChars("strip", chars)]);
  }

  /**
   * Remove leading whitespace (or `chars`).
   *
   * @example
   * ```ts
   * lines.str.lstrip();     // "  hi " → "hi "
   * ```
   */
  lstrip(chars?: string | null): Bag<string> {
    return this.add("lstrip", [checkChars("lstrip", chars)]);
  }

  /**
   * Remove trailing whitespace (or `chars`).
   *
   * @example
   * ```ts
   * lines.str.rstrip();     // "  hi \n" → "  hi"
   * ```
   */
  rstrip(chars?: string | null): Bag<string> {
    return this.add("rstrip", [checkChars("rstrip", chars)]);
  }

  /**
   * Lower-case each string (`toLowerCase`).
   *
   * @example
   * ```ts
   * words.str.lower();      // "The" → "the"
   * ```
   */
  lower(): Bag<string> {
    return this.add("lower", []);
  }

  /**
   * Upper-case each string (`toUpperCase`).
   *
   * @example
   * ```ts
   * codes.str.upper();      // "nyc" → "NYC"
   * ```
   */
  upper(): Bag<string> {
    return this.add("upper", []);
  }

  /**
   * True where the string starts with `prefix` (Python's `startswith`).
   *
   * @example
   * ```ts
   * lines.str.startsWith("#"); // [true, false, ...]
   * ```
   */
  startsWith(prefix: string): Bag<boolean> {
    return this.add("startsWith", [checkText("startsWith", "prefix", prefix)]);
  }

  /**
   * True where the string ends with `suffix`.
   *
   * @example
   * ```ts
   * paths.str.endsWith(".gz");
   * ```
   */
  endsWith(suffix: string): Bag<boolean> {
    return this.add("endsWith", [checkText("endsWith", "suffix", suffix)]);
  }

  /**
   * True where the string contains `text` (Python's `text in s`).
   *
   * @example
   * ```ts
   * lines.str.includes("ERROR");
   * ```
   */
  includes(text: string): Bag<boolean> {
    return this.add("includes", [checkText("includes", "text", text)]);
  }

  /**
   * True where the regular expression matches somewhere in the string
   * (`regex.test(s)`; a string is taken as a pattern). Anchor with `^` for
   * Python's `re.match`. The `g` and `y` flags are dropped, so no state
   * carries from one element to the next. (Dask's `str.match` filters by a
   * glob pattern instead; here, filter with the booleans.)
   *
   * @example
   * ```ts
   * lines.str.match(/^\d{4}-\d\d-\d\d/); // lines that start with a date
   * ```
   */
  match(regex: RegExp | string): Bag<boolean> {
    if (!(regex instanceof RegExp) && typeof regex !== "string") {
      throw new InvalidArgumentError("regex", `str.match needs a RegExp or a pattern string, got ${typeof regex}.`);
    }
    let re: RegExp;
    try {
      re = typeof regex === "string" ? new RegExp(regex) : regex;
    } catch (err) {
      throw new InvalidArgumentError("regex", `str.match: ${(err as Error).message}`);
    }
    return this.add("match", [re.source, re.flags]);
  }

}
