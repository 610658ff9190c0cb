/**
 * Reading a module — or the directory tree around it — for
 * `client.uploadModule`.
 *
 * - The module is named by a `file:` URL (`import.meta.url`) or a path, and
 *   recorded under the URL Node gives it (`import.meta.url` is the real
 *   path, symbolic links resolved), since that is what `registerModule`
 *   recorded and what tasks name.
 * - With `root`, every file under that directory goes too, so relative
 *   imports between the user's modules work on the workers; entries whose
 *   names start with a dot (`.git`) and `node_modules` are left out:
 *   packages are the workers' own to install.
 * - Sizes are added up before anything is read, and reading stops once they
 *   are over what one message to the scheduler may carry.
 * - The `type` of the package the files come from (ES modules or CommonJS)
 *   travels with them, since their copies on a worker sit outside it.
 *
 * @example
 * ```ts
 * const upload = await readUpload(import.meta.url, { root: new URL(".", import.meta.url) }, 256 * 2 ** 20);
 * ```
 * @module
 */
import type { Dirent, Stats } from "node:fs";
import { readFile, readdir, realpath, stat } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { InvalidArgumentError, UploadSourceError, UploadTooLargeError } from "../core/errors.js";
import type { ModuleUpload } from "../scheduler/protocol.js";

/**
 * Options of `client.uploadModule`.
 *
 * @example
 * ```ts
 * await client.uploadModule(import.meta.url, { root: new URL("..", import.meta.url) });
 * ```
 */
export interface UploadOptions {
  /**
   * Upload this whole directory (a `file:` URL or a path), which must
   * contain the module, so that the module's relative imports of other
   * files in it work on the workers. Entries whose names start with a dot
   * and `node_modules` directories are left out.
   */
  readonly root?: string | URL;
  /**
   * How long each worker may take to store the upload and import the
   * module; a worker that takes longer is reported as failing (its module's
   * top-level code may wait forever). Default 60,000 ms.
   */
  readonly timeoutMs?: number;
}

/**
 * What `client.uploadModule` uploaded.
 *
 * @example
 * ```ts
 * const { module, files, workers } = await client.uploadModule(import.meta.url);
 * console.log(`${module}: ${files} file(s) on ${workers.length} workers`);
 * ```
 */
export interface UploadedModule {
  /** The module's URL, as `registerModule(import.meta.url, ...)` records it. */
  readonly module: string;
  /** The uploaded directory's URL (ending in `/`) with `root`; otherwise the module's own. */
  readonly from: string;
  /** Files uploaded. */
  readonly files: number;
  /** Their bytes. */
  readonly bytes: number;
  /** The workers that stored it and imported the module (addresses); workers that join later get it too. */
  readonly workers: readonly string[];
}

const UPLOAD_OPTIONS = new Set(["root", "timeoutMs"]);

/**
 * Read what `uploadModule(module, options)` sends, refusing more than
 * `maxBytes` of files.
 *
 * @example
 * ```ts
 * const upload = await readUpload("./tasks.js", {}, comm.sendLimits.maxMessageBytes);
 * ```
 */
export async function readUpload(module: string | URL, options: UploadOptions, maxBytes: number): Promise<ModuleUpload> {
  if (typeof options !== "object" || options === null) throw new InvalidArgumentError("options", "uploadModule's options must be an object such as { root }.");
  for (const k of Object.keys(options)) {
    if (!UPLOAD_OPTIONS.has(k)) throw new InvalidArgumentError("options", `Unknown uploadModule option "${k}". The options are: ${[...UPLOAD_OPTIONS].join(", ")}.`);
  }
  const file = await existing(module, "module", "file");
  const moduleUrl = pathToFileURL(file.path).href;
  if (options.root === undefined) {
    if (file.stats.size > maxBytes) throw new UploadTooLargeError(file.path, file.stats.size, maxBytes);
    const data = await readFile(file.path);
    return { from: moduleUrl, module: moduleUrl, type: await packageType(dirname(file.path)), paths: [basename(file.path)], sizes: [data.byteLength], data };
  }
  const root = await existing(options.root, "root", "directory");
  const rel = relative(root.path, file.path);
  if (rel.startsWith(`..${sep}`) || rel === ".." || resolve(root.path, rel) !== file.path) throw new UploadSourceError(String(module), "outside-root");
  const files = await listTree(root.path, maxBytes);
  const entry = rel.split(sep).join("/");
  if (!files.some((f) => f.path === entry)) files.push({ path: entry, size: file.stats.size });
  const contents: Buffer[] = [];
  let total = 0;
  for (const f of files) {
    // Read as the files are now: one may have changed since it was listed.
    const bytes = await readFile(join(root.path, ...f.path.split("/")));
    total += bytes.byteLength;
    if (total > maxBytes) throw new UploadTooLargeError(root.path, total, maxBytes);
    contents.push(bytes);
  }
  return {
    from: `${pathToFileURL(root.path).href}/`,
    module: moduleUrl,
    type: await packageType(root.path),
    paths: files.map((f) => f.path),
    sizes: contents.map((c) => c.byteLength),
    data: Buffer.concat(contents, total),
  };
}

/** The real path of a module file or a root directory that exists and is what it should be. */
async function existing(given: string | URL, argument: string, kind: "file" | "directory"): Promise<{ path: string; stats: Stats }> {
  const label = String(given);
  let path: string;
  if (given instanceof URL || (typeof given === "string" && given.startsWith("file:"))) {
    try {
      path = fileURLToPath(given); // throws for another scheme, or a file URL of another host
    } catch (err) {
      throw new UploadSourceError(label, "not-a-file", err);
    }
  } else if (typeof given === "string" && given !== "") {
    // Another scheme (http:, node:, data:) is not a local file; a single letter is a Windows drive.
    if (/^[a-z][a-z\d+.-]+:/i.test(given)) throw new UploadSourceError(label, "not-a-file");
    path = resolve(given);
  } else {
    throw new InvalidArgumentError(argument, `uploadModule's ${argument} must be a file: URL (such as import.meta.url) or a path.`);
  }
  let real: string;
  let stats: Stats;
  try {
    real = await realpath(path);
    stats = await stat(real);
  } catch (err) {
    throw new UploadSourceError(label, (err as NodeJS.ErrnoException).code ?? (err as Error).message, err);
  }
  if (kind === "file" && stats.isDirectory()) throw new UploadSourceError(label, "EISDIR");
  if (kind === "directory" && !stats.isDirectory()) throw new UploadSourceError(label, "ENOTDIR");
  if (!stats.isFile() && !stats.isDirectory()) throw new UploadSourceError(label, "not-a-file");
  return { path: real, stats };
}

/** The files under `root` (relative `/`-separated paths, sorted), but dot entries and `node_modules`; throws past `maxBytes`. */
async function listTree(root: string, maxBytes: number): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  const seen = new Set<string>([root]);
  let total = 0;
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith(".") || e.name === "node_modules") continue;
      const full = join(dir, e.name);
      // Links are followed; a directory met twice (a link loop) is walked once.
      const st = await stat(full).catch(() => undefined);
      if (st?.isDirectory() === true) {
        const real = await realpath(full);
        if (seen.has(real)) continue;
        seen.add(real);
        await walk(full, `${prefix}${e.name}/`);
      } else if (st?.isFile() === true) {
        total += st.size;
        if (total > maxBytes) throw new UploadTooLargeError(root, total, maxBytes);
        out.push({ path: `${prefix}${e.name}`, size: st.size });
      }
    }
  };
  await walk(root, "");
  return out;
}

/** `"module"` or `"commonjs"`: how Node loads `.js` files in `dir`, by the nearest `package.json`. */
async function packageType(dir: string): Promise<"module" | "commonjs"> {
  for (let d = dir; ; d = dirname(d)) {
    const text = await readFile(join(d, "package.json"), "utf8").catch(() => undefined);
    if (text !== undefined) {
      try {
        return (JSON.parse(text) as { type?: unknown }).type === "module" ? "module" : "commonjs";
      } catch {
        return "commonjs";
      }
    }
    if (dirname(d) === d) return "commonjs";
  }
}
