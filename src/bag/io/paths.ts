/**
 * Turning what a user names into file paths: glob patterns for reading,
 * a `*` pattern or a directory for writing one file per partition.
 *
 * Policy:
 * - Reading ({@link expandPaths}): each pattern is a plain path or a glob
 *   (`*`, `?`, `**`, `{a,b}`, `[...]`), relative to `process.cwd()`, or a
 *   `file://` URL. Globs match files only; `*` and `?` stay within one
 *   directory and skip names that start with a dot, `**` crosses
 *   directories. Each pattern's matches are sorted as strings (as Dask
 *   does, so `10.txt` sorts before `2.txt`); the patterns' results are
 *   concatenated in the order given and duplicates dropped, the first kept.
 *   A pattern that matches nothing is a `NoFilesFoundError`; a plain path
 *   to a directory is a `FileReadError` that suggests a pattern. A glob that
 *   matches nothing but is itself the name of a file (`data[1].txt`) reads
 *   that file. Paths come back absolute.
 * - Matching is done by `tinyglobby` (with `picomatch` and `fdir`): glob
 *   syntax has many corners (nested braces, classes, `**` at either end,
 *   escapes) that it already gets right, and Node 20 has no `fs.glob`.
 * - Writing ({@link outputPaths}): the single `*` of a pattern is replaced by
 *   the partition's name; a path without `*` is a directory that gets
 *   `<name>.part` files. Names default to Dask's: the partition number
 *   zero-padded to the width of the largest (`0`…`9`, or `00`…`10`).
 *
 * @module
 */
import { statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { globSync, isDynamicPattern } from "tinyglobby";
import { FileReadError, InvalidArgumentError, NoFilesFoundError } from "../../core/errors.js";
import { readError } from "./fs-errors.js";

/**
 * The absolute paths of the files the patterns name, each pattern's matches
 * sorted, in pattern order, without duplicates.
 *
 * @throws NoFilesFoundError naming the first pattern that matches nothing;
 *   FileReadError for a plain path that is a directory or cannot be looked at.
 * @example
 * ```ts
 * expandPaths("logs/*.json.gz"); // ["/srv/app/logs/a.json.gz", "/srv/app/logs/b.json.gz"]
 * expandPaths(["b.txt", "a.txt", "b.txt"]); // ["/srv/app/b.txt", "/srv/app/a.txt"]
 * ```
 */
export function expandPaths(patterns: string | readonly string[]): string[] {
  const list = typeof patterns === "string" ? [patterns] : patterns;
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidArgumentError("urlpath", "Give at least one path or glob pattern of files to read.");
  }
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pattern of list) {
    for (const p of expandOne(pattern)) {
      if (!seen.has(p)) {
        seen.add(p);
        out.push(p);
      }
    }
  }
  return out;
}

/** The sorted absolute paths one pattern names. */
function expandOne(pattern: unknown): string[] {
  if (typeof pattern !== "string" || pattern === "") {
    throw new InvalidArgumentError("urlpath", `A path to read must be a non-empty string, not ${JSON.stringify(pattern) ?? String(pattern)}.`);
  }
  const local = toLocalPath(pattern);
  if (isDynamicPattern(local)) {
    const found = globSync(local, { cwd: process.cwd(), absolute: true, onlyFiles: true, expandDirectories: false });
    if (found.length > 0) return found.sort(byString);
  }
  const path = resolve(local);
  let info: ReturnType<typeof statSync> | undefined;
  try {
    info = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") info = undefined;
    else throw readError(path, err);
  }
  if (info === undefined) throw new NoFilesFoundError(pattern);
  if (info.isDirectory()) throw new FileReadError(path, "EISDIR");
  return [path];
}

/** Plain string order (code units), as Python sorts names. */
function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A `file://` URL as a local path; anything else unchanged. A `?` or `#` in
 * the URL is kept as part of the pattern, not taken as a query or fragment.
 */
function toLocalPath(pattern: string): string {
  if (!/^file:/i.test(pattern)) return pattern;
  const cut = pattern.search(/[?#]/);
  const head = cut < 0 ? pattern : pattern.slice(0, cut);
  const tail = cut < 0 ? "" : pattern.slice(cut);
  try {
    return fileURLToPath(head) + decodeURIComponent(tail);
  } catch (err) {
    throw new InvalidArgumentError("urlpath", `${pattern} is not a usable file URL: ${err instanceof Error ? err.message : String(err)}.`);
  }
}

/**
 * The name Dask gives partition `i` of `n` by default: `i` zero-padded to
 * the number of digits of `n - 1`.
 *
 * @example
 * ```ts
 * const name = defaultNameFunction(12);
 * name(3); // "03"
 * name(11); // "11"
 * ```
 */
export function defaultNameFunction(n: number): (i: number) => string {
  const width = String(Math.max(0, n - 1)).length;
  return (i) => String(i).padStart(width, "0");
}

/**
 * The absolute paths of `n` output files: the one `*` in `pattern` replaced
 * by `nameFunction(i)`, or, for a pattern without `*` (a directory),
 * `pattern/<name>.part`.
 *
 * @throws InvalidArgumentError for a pattern with more than one `*`, a bad
 *   `n`, or a name function that does not return distinct strings.
 * @example
 * ```ts
 * outputPaths("out/part-*.txt.gz", 3); // [".../out/part-0.txt.gz", ".../out/part-1.txt.gz", ".../out/part-2.txt.gz"]
 * outputPaths("out", 2, (i) => `day-${i + 1}`); // [".../out/day-1.part", ".../out/day-2.part"]
 * ```
 */
export function outputPaths(pattern: string, n: number, nameFunction?: (i: number) => string): string[] {
  if (typeof pattern !== "string" || pattern === "") {
    throw new InvalidArgumentError("path", "The output path must be a non-empty string: a pattern with one `*`, or a directory.");
  }
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError("npartitions", `The number of output files must be a whole number ≥ 0, not ${n}.`);
  }
  const local = toLocalPath(pattern);
  const stars = local.split("*").length - 1;
  if (stars > 1) {
    throw new InvalidArgumentError(
      "path",
      `The output path ${JSON.stringify(pattern)} has ${stars} \`*\`; use exactly one (replaced by each partition's name) or none (a directory).`,
    );
  }
  // Substitute before resolving, so a `*` in the working directory's name is left alone.
  const [before, after] = stars === 1 ? (local.split("*") as [string, string]) : [local, ""];
  const pathOf = (part: string): string => (stars === 1 ? resolve(before + part + after) : resolve(join(before, `${part}.part`)));
  const name = nameFunction ?? defaultNameFunction(n);
  const byPath = new Map<string, number>();
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const part = name(i);
    if (typeof part !== "string" || part === "") {
      throw new InvalidArgumentError("nameFunction", `The name function returned ${JSON.stringify(part) ?? String(part)} for partition ${i}; it must return a non-empty string.`);
    }
    const path = pathOf(part);
    const other = byPath.get(path);
    if (other !== undefined) {
      throw new InvalidArgumentError("nameFunction", `The name function gave partitions ${other} and ${i} the same file, ${path}; it must give each partition its own name.`);
    }
    byPath.set(path, i);
    out.push(path);
  }
  return out;
}
