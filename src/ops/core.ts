/**
 * Library operations every collection needs, registered by stable name so
 * workers can find them (see `defineOp`).
 *
 * @module
 */
import { defineOp } from "../core/functions.js";

/** Return the argument unchanged: literal and alias nodes become calls of this. */
export const identity = defineOp("dask.identity", <T>(x: T): T => x, { cheap: true });

/** `obj[key]`: item and field access on a lazy result. */
export const getitem = defineOp(
  "dask.getitem",
  (obj: unknown, key: string | number): unknown => {
    if (obj === null || obj === undefined) throw new TypeError(`Cannot read ${JSON.stringify(key)} of ${String(obj)}`);
    if (obj instanceof Map) return obj.get(key);
    return (obj as Record<string | number, unknown>)[key];
  },
  { cheap: true },
);

/** Build an array from its arguments: a list of lazy values as one value. */
export const toList = defineOp("dask.list", (...items: unknown[]): unknown[] => items, { cheap: true });
