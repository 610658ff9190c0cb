/**
 * Modules uploaded through the client, on a worker.
 *
 * Policy:
 * - Each upload is written under the worker's own directory in its local
 *   directory (`dask-ts-worker-HOST-PID-RANDOM/uploads/`), in a
 *   subdirectory named by a hash of its contents: a changed module gets a
 *   new URL, so Node, which never forgets a module it imported, imports
 *   the new one afresh; the same contents uploaded again reuse their copy.
 * - The upload is checked again before anything is written (relative
 *   paths that stay inside the upload, sizes that add up): it comes from
 *   the network.
 * - Where the upload has no `package.json`, one is written with the `type`
 *   of the package the files came from, so `.js` files load as ES modules
 *   or CommonJS as they did on the client.
 * - Each thread that imports uploaded modules redirects their original URLs
 *   to the copies (core's `redirectModules`) and registers the resolve hooks
 *   of `upload-hooks.ts`, which find bare imports from the worker's working
 *   directory or beside dask-ts.
 * - The worker's directory is removed when the worker stops. One left behind
 *   by a worker that was killed is removed by the next worker of the same
 *   machine that stores an upload there, once its process is gone.
 *
 * @example
 * ```ts
 * const store = new UploadStore(tmpdir());
 * const stored = await store.store(upload); // { from, to, module, root }
 * hookUploads(stored.root);
 * redirectModules(stored.from, stored.to);
 * await store.remove();
 * ```
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { register } from "node:module";
import { hostname } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { ModuleUpload } from "../scheduler/protocol.js";
import { checkUpload } from "../scheduler/uploads.js";
import type { UploadHookData } from "./upload-hooks.js";

/**
 * An upload stored on this worker: where its URLs now lead.
 *
 * @example
 * ```ts
 * const s: StoredUpload = { from: "file:///app/", to: "file:///tmp/w/uploads/ab12/", module: "file:///app/tasks.js", root: "file:///tmp/w/uploads/" };
 * ```
 */
export interface StoredUpload {
  /** The original URL of the module, or of the uploaded directory (ending in `/`). */
  readonly from: string;
  /** Its copy's URL. */
  readonly to: string;
  /** The original URL of the module to import. */
  readonly module: string;
  /** The URL of the directory every upload of this worker is under (ending in `/`), for the resolve hooks. */
  readonly root: string;
}

const WORKER_DIR = /^dask-ts-worker-(.+)-(\d+)-[0-9a-f]+$/;

/**
 * The uploads of one worker, under its own directory in `localDirectory`
 * (made on the first upload).
 *
 * @example
 * ```ts
 * const store = new UploadStore("/scratch");
 * await store.store(upload);
 * ```
 */
export class UploadStore {
  private dir: Promise<string> | undefined;
  private removed = false;

  constructor(private readonly localDirectory: string) {}

  /** Write an upload's files (unless a copy with the same contents exists) and say where they are. */
  async store(u: ModuleUpload): Promise<StoredUpload> {
    checkUpload(u);
    const uploads = join(await this.workerDir(), "uploads");
    const digest = digestOf(u);
    const target = join(uploads, digest);
    if (!(await exists(target))) {
      // Written aside and renamed, so a copy is never seen half-written.
      const partial = `${target}.partial-${randomBytes(4).toString("hex")}`;
      let offset = 0;
      for (let i = 0; i < u.paths.length; i++) {
        const file = join(partial, ...u.paths[i]!.split("/"));
        await mkdir(join(file, ".."), { recursive: true });
        await writeFile(file, u.data.subarray(offset, offset + u.sizes[i]!));
        offset += u.sizes[i]!;
      }
      if (!u.paths.includes("package.json")) await writeFile(join(partial, "package.json"), JSON.stringify({ type: u.type }));
      await rename(partial, target);
    }
    const directory = u.from.endsWith("/");
    return {
      from: u.from,
      to: directory ? `${pathToFileURL(target).href}/` : pathToFileURL(join(target, ...u.paths[0]!.split("/"))).href,
      module: u.module,
      root: `${pathToFileURL(uploads).href}/`,
    };
  }

  /** Remove the worker's directory and everything stored in it. */
  async remove(): Promise<void> {
    this.removed = true;
    const dir = this.dir;
    this.dir = undefined;
    const path = await dir?.catch(() => undefined);
    if (path !== undefined) await rm(path, { recursive: true, force: true });
  }

  private workerDir(): Promise<string> {
    if (this.removed) return Promise.reject(new Error("the worker is stopping"));
    this.dir ??= (async () => {
      await mkdir(this.localDirectory, { recursive: true });
      await removeStaleWorkerDirs(this.localDirectory);
      const dir = join(this.localDirectory, `dask-ts-worker-${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`);
      await mkdir(dir);
      return dir;
    })();
    return this.dir;
  }
}

/** Directories of workers of this machine whose process has gone (killed before they could clean up). */
async function removeStaleWorkerDirs(localDirectory: string): Promise<void> {
  const host = hostname();
  for (const name of await readdir(localDirectory).catch(() => [])) {
    const m = WORKER_DIR.exec(name);
    if (m === null || m[1] !== host || processAlive(Number(m[2]))) continue;
    await rm(join(localDirectory, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A hash of everything that makes an upload what it is. */
function digestOf(u: ModuleUpload): string {
  return createHash("sha256")
    .update(JSON.stringify([u.type, u.paths, u.sizes]))
    .update(u.data)
    .digest("hex")
    .slice(0, 32);
}

const hooked = new Set<string>();

/**
 * On this thread, resolve bare imports of modules under `root` (a worker's
 * uploads directory) from the working directory or beside dask-ts (see
 * `upload-hooks.ts`). Once per directory and thread.
 *
 * @example
 * ```ts
 * hookUploads(stored.root);
 * ```
 */
export function hookUploads(root: string): void {
  if (hooked.has(root)) return;
  hooked.add(root);
  const data: UploadHookData = { root, cwd: pathToFileURL(join(process.cwd(), "/")).href };
  register(new URL("./upload-hooks.js", import.meta.url), { data });
}
