/**
 * One top-level field of a line of JSON, without building the object: the
 * fast path of `map(JSON.parse).pluck(key)` (see `plan.ts`).
 *
 * The scanner validates the whole text against the JSON grammar (so a
 * malformed line is never accepted) and remembers where the value of `key`
 * lies. It gives up — returns {@link UNHANDLED} — on anything it does not
 * settle by itself: text that is not valid JSON, a top level that is not an
 * object, a missing key, a top-level key written with escapes, nesting
 * deeper than {@link MAX_DEPTH}. The caller then runs `JSON.parse` and the
 * generic pluck, so errors and edge cases are theirs exactly. Duplicate
 * keys are settled as `JSON.parse` does: the last one wins.
 *
 * Values: a string without backslashes is sliced from the text; `true`,
 * `false` and `null` are themselves; numbers, escaped strings and nested
 * objects and arrays go through `JSON.parse` of the value's own text.
 *
 * @module
 */

/** What {@link pluckJson} returns when it leaves the line to `JSON.parse`. */
export const UNHANDLED: unique symbol = Symbol("dask-ts.bag.json-unhandled");

/** Deeper nesting is left to `JSON.parse`. */
export const MAX_DEPTH = 512;

const stack = new Uint8Array(MAX_DEPTH);
/** Set by `skipString` when the string holds a backslash escape. */
let escaped = false;

function ws(t: string, i: number, end: number): number {
  while (i < end) {
    const c = t.charCodeAt(i);
    if (c === 32 || c === 10 || c === 13 || c === 9) i++;
    else break;
  }
  return i;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 102);
}

/** After the string that opens at `t[i]` (a `"`), or -1. */
function skipString(t: string, i: number, end: number): number {
  i++;
  while (i < end) {
    const c = t.charCodeAt(i);
    if (c === 34) return i + 1;
    if (c === 92) {
      escaped = true;
      if (i + 1 >= end) return -1;
      const d = t.charCodeAt(i + 1);
      if (d === 117) {
        if (i + 6 > end || !isHex(t.charCodeAt(i + 2)) || !isHex(t.charCodeAt(i + 3)) || !isHex(t.charCodeAt(i + 4)) || !isHex(t.charCodeAt(i + 5))) return -1;
        i += 6;
      } else if (d === 34 || d === 92 || d === 47 || d === 98 || d === 102 || d === 110 || d === 114 || d === 116) {
        i += 2;
      } else return -1;
    } else if (c < 32) return -1;
    else i++;
  }
  return -1;
}

function skipDigits(t: string, i: number, end: number): number {
  while (i < end) {
    const c = t.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i++;
  }
  return i;
}

/** After the number that starts at `t[i]` (`-` or a digit), or -1. */
function skipNumber(t: string, i: number, end: number): number {
  if (t.charCodeAt(i) === 45) {
    i++;
    if (i >= end) return -1;
  }
  const c = t.charCodeAt(i);
  if (c === 48) i++;
  else if (c >= 49 && c <= 57) i = skipDigits(t, i + 1, end);
  else return -1;
  if (i < end && t.charCodeAt(i) === 46) {
    const s = i + 1;
    i = skipDigits(t, s, end);
    if (i === s) return -1;
  }
  if (i < end && (t.charCodeAt(i) | 32) === 101) {
    i++;
    if (i < end && (t.charCodeAt(i) === 43 || t.charCodeAt(i) === 45)) i++;
    const s = i;
    i = skipDigits(t, s, end);
    if (i === s) return -1;
  }
  return i;
}

function skipWord(t: string, i: number, end: number, word: string): number {
  return i + word.length <= end && t.startsWith(word, i) ? i + word.length : -1;
}

/** After the value (not an object or array) that starts at `t[i]` (`i < end`), or -1. */
function skipScalar(t: string, i: number, end: number, c: number): number {
  if (c === 34) return skipString(t, i, end);
  if (c === 45 || (c >= 48 && c <= 57)) return skipNumber(t, i, end);
  if (c === 116) return skipWord(t, i, end, "true");
  if (c === 102) return skipWord(t, i, end, "false");
  if (c === 110) return skipWord(t, i, end, "null");
  return -1;
}

/** From a member's key at `t[i]`: the start of its value (`< end`), or -1. */
function skipKey(t: string, i: number, end: number): number {
  if (t.charCodeAt(i) !== 34) return -1;
  i = skipString(t, i, end);
  if (i < 0) return -1;
  i = ws(t, i, end);
  if (i >= end || t.charCodeAt(i) !== 58) return -1;
  i = ws(t, i + 1, end);
  return i < end ? i : -1;
}

/** After the value that starts at `t[i]` (`i < end`), or -1; objects and arrays without recursion. */
function skipValue(t: string, i: number, end: number): number {
  let depth = 0;
  for (;;) {
    // A value starts at t[i], i < end.
    let c = t.charCodeAt(i);
    if (c === 123 || c === 91) {
      if (depth === MAX_DEPTH) return -1;
      stack[depth++] = c;
      i = ws(t, i + 1, end);
      if (i >= end) return -1;
      const close = c + 2; // "{" + 2 is "}", "[" + 2 is "]"
      c = t.charCodeAt(i);
      if (c === close) {
        depth--;
        i++;
      } else {
        if (stack[depth - 1] === 123) {
          i = skipKey(t, i, end);
          if (i < 0) return -1;
        }
        continue;
      }
    } else {
      i = skipScalar(t, i, end, c);
      if (i < 0) return -1;
    }
    // A value ended at i; close the containers that end here.
    for (;;) {
      if (depth === 0) return i;
      i = ws(t, i, end);
      if (i >= end) return -1;
      c = t.charCodeAt(i);
      const open = stack[depth - 1]!;
      if (c === 44) {
        i = ws(t, i + 1, end);
        if (i >= end) return -1;
        if (open === 123) {
          i = skipKey(t, i, end);
          if (i < 0) return -1;
        }
        break;
      }
      if (c !== open + 2) return -1;
      depth--;
      i++;
    }
  }
}

/**
 * The value of the top-level field `key` of the JSON text `t[start, end)`,
 * as `JSON.parse(text)[key]` would give it, or {@link UNHANDLED} (see the
 * module comment). Never throws.
 *
 * @example
 * ```ts
 * pluckJson('{"a": 1, "name": "Ada"}', 0, 23, "name"); // "Ada"
 * pluckJson('{"a": 1,}', 0, 9, "a");                   // UNHANDLED (JSON.parse would throw)
 * ```
 */
export function pluckJson(t: string, start: number, end: number, key: string): unknown {
  let i = ws(t, start, end);
  if (i >= end || t.charCodeAt(i) !== 123) return UNHANDLED;
  i = ws(t, i + 1, end);
  if (i >= end) return UNHANDLED;
  let vs = -1;
  let ve = -1;
  let vEscaped = false;
  if (t.charCodeAt(i) === 125) i++;
  else {
    const klen = key.length;
    for (;;) {
      if (t.charCodeAt(i) !== 34) return UNHANDLED;
      escaped = false;
      const ke = skipString(t, i, end);
      if (ke < 0 || escaped) return UNHANDLED;
      const hit = ke - i - 2 === klen && t.startsWith(key, i + 1);
      i = ws(t, ke, end);
      if (i >= end || t.charCodeAt(i) !== 58) return UNHANDLED;
      i = ws(t, i + 1, end);
      if (i >= end) return UNHANDLED;
      const s = i;
      escaped = false;
      i = skipValue(t, i, end);
      if (i < 0) return UNHANDLED;
      if (hit) {
        vs = s;
        ve = i;
        vEscaped = escaped;
      }
      i = ws(t, i, end);
      if (i >= end) return UNHANDLED;
      const c = t.charCodeAt(i);
      if (c === 125) {
        i++;
        break;
      }
      if (c !== 44) return UNHANDLED;
      i = ws(t, i + 1, end);
      if (i >= end) return UNHANDLED;
    }
  }
  if (vs < 0 || ws(t, i, end) !== end) return UNHANDLED;
  const c = t.charCodeAt(vs);
  if (c === 34 && !vEscaped) return t.slice(vs + 1, ve - 1);
  if (c === 116) return true;
  if (c === 102) return false;
  if (c === 110) return null;
  return JSON.parse(t.slice(vs, ve));
}
