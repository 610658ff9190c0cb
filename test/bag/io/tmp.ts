// Temporary directories for the bag I/O tests, and the fixtures made by the system tools.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** test/fixtures/bag/ in the source tree (tests run from dist/test/bag/io/). */
export const fixtures = fileURLToPath(new URL("../../../../test/fixtures/bag/", import.meta.url));

/** The uncompressed texts of the fixtures: `lines.*` hold A, `multi.*` hold A then B as two streams. */
export const TEXT_A = "alpha\nbeta ünïcødé €\n";
export const TEXT_B = "gamma\r\ndelta 😀";

/** Run `fn` with a fresh directory under the system temp dir, removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "dask-ts-bagio-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether permission bits are enforced for this process (they are not for root). */
export const permissionsEnforced = typeof process.getuid !== "function" || process.getuid() !== 0;
