/**
 * Replace references to one key inside argument expressions. The building
 * block of fusing and inlining.
 *
 * @module
 */
import type { Expr, Key } from "../graph.js";

/** `e` with every reference to `key` replaced by `by` (shares unchanged subtrees). */
export function substitute(e: Expr, key: Key, by: Expr): Expr {
  switch (e.k) {
    case "v":
    case "f":
      return e;
    case "r":
      return e.key === key ? by : e;
    case "a": {
      const items = e.items.map((i) => substitute(i, key, by));
      return items.every((i, n) => i === e.items[n]) ? e : { k: "a", items };
    }
    case "o": {
      const entries = e.entries.map(([k, i]) => [k, substitute(i, key, by)] as const);
      return entries.every(([, i], n) => i === e.entries[n]![1]) ? e : { k: "o", entries };
    }
    case "t": {
      const args = e.args.map((i) => substitute(i, key, by));
      return args.every((i, n) => i === e.args[n]) ? e : e.key === undefined ? { k: "t", fn: e.fn, args } : { k: "t", fn: e.fn, args, key: e.key };
    }
  }
}

/**
 * True when `key` is referenced exactly once, as a whole top-level argument
 * (not nested in arrays or objects). Fusing anything else would run the inner
 * call more than once, or would hide a Promise inside a container.
 */
export function onlyTopLevel(args: readonly Expr[], key: Key): boolean {
  let direct = 0;
  for (const a of args) if (a.k === "r" && a.key === key) direct++;
  if (direct !== 1) return false;
  const nested = (e: Expr): boolean => {
    switch (e.k) {
      case "r":
        return e.key === key;
      case "a":
        return e.items.some(nested);
      case "o":
        return e.entries.some(([, i]) => nested(i));
      case "t":
        return e.args.some(nested);
      default:
        return false;
    }
  };
  return args.every((a) => a.k === "r" || !nested(a));
}
