/**
 * What a well-formed module upload is (see {@link ModuleUpload}). The
 * scheduler refuses a malformed one before keeping it, and each worker
 * checks again before it writes a file: an upload comes from the network,
 * and its paths must not lead out of the directory it is written to.
 *
 * @example
 * ```ts
 * checkUpload(args as ModuleUpload); // InvalidArgumentError if it is not well formed
 * ```
 * @module
 */
import { InvalidArgumentError } from "../core/errors.js";
import type { ModuleUpload } from "./protocol.js";

/**
 * Throw unless `u` is a well-formed upload: file URLs with the module under
 * `from`, relative paths that stay inside the upload, sizes that add up to
 * the data.
 *
 * @example
 * ```ts
 * checkUpload({ from: "file:///app/t.js", module: "file:///app/t.js", type: "module", paths: ["t.js"], sizes: [3], data: new Uint8Array(3) });
 * ```
 */
export function checkUpload(u: ModuleUpload): void {
  const bad = (why: string): never => {
    throw new InvalidArgumentError("upload", `Malformed module upload: ${why}.`);
  };
  if (typeof u !== "object" || u === null) bad("it is not an object");
  if (typeof u.from !== "string" || !u.from.startsWith("file:")) bad("`from` is not a file: URL");
  if (typeof u.module !== "string" || !(u.module === u.from || (u.from.endsWith("/") && u.module.startsWith(u.from)))) bad("`module` is not under `from`");
  if (u.type !== "module" && u.type !== "commonjs") bad("`type` is neither module nor commonjs");
  if (!(u.data instanceof Uint8Array) || !Array.isArray(u.paths) || !Array.isArray(u.sizes) || u.paths.length !== u.sizes.length || u.paths.length === 0) {
    bad("it needs as many paths as sizes, and data");
  }
  if (!u.from.endsWith("/") && u.paths.length !== 1) bad("a single module's upload has one file");
  let total = 0;
  const seen = new Set<string>();
  u.paths.forEach((p, i) => {
    if (typeof p !== "string" || p.includes("\\") || p.includes("\0") || p.split("/").some((s) => s === "" || s === "." || s === "..")) {
      bad(`path ${JSON.stringify(p)} is not a relative path inside the upload`);
    }
    if (seen.has(p)) bad(`path ${p} is there twice`);
    seen.add(p);
    const size = u.sizes[i];
    if (!Number.isSafeInteger(size) || size! < 0) bad(`the size of ${p} is not a byte count`);
    total += size!;
  });
  if (total !== u.data.byteLength) bad(`the sizes add up to ${total} bytes, the data has ${u.data.byteLength}`);
}
