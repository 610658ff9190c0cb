import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseBytes, planTextBlocks, type TextBlock } from "../../../src/bag/io/blocks.js";
import { FileReadError, InvalidArgumentError, UnknownCompressionError } from "../../../src/core/errors.js";
import { withTempDir } from "./tmp.js";

test("parseBytes reads SI and IEC units, any case, with or without spaces", () => {
  const cases: [number | string, number][] = [
    [4096, 4096],
    ["100", 100],
    ["100B", 100],
    ["5kB", 5000],
    ["5 KB", 5000],
    ["5k", 5000],
    ["5KiB", 5120],
    ["64MiB", 64 * 2 ** 20],
    ["64 mib", 64 * 2 ** 20],
    ["128MB", 128e6],
    ["1 GB", 1e9],
    ["1GiB", 2 ** 30],
    ["2TB", 2e12],
    ["1 TiB", 2 ** 40],
    ["1PB", 1e15],
    ["1.5kB", 1500],
    [".5 KiB", 512],
    ["1e3", 1000],
    ["1e3 kB", 1e6],
    ["2.7B", 2],
    ["  7 MB  ", 7e6],
  ];
  for (const [input, want] of cases) assert.equal(parseBytes(input), want, String(input));
});

test("parseBytes refuses what is not a positive whole number of bytes", () => {
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity, "", "MB", "0", "0.4B", "-5MB", "5 XB", "5 M B", "five", "1,000", "64MiBs"]) {
    assert.throws(
      () => parseBytes(bad),
      (err: unknown) => err instanceof InvalidArgumentError && err.argument === "blocksize" && /"64MiB"/.test(err.message),
      String(bad),
    );
  }
  assert.throws(() => parseBytes(null as unknown as string), InvalidArgumentError);
});

/** Write `files` (name → content) under `dir` and return their absolute paths in order. */
async function makeFiles(dir: string, files: Record<string, string | Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for (const [name, content] of Object.entries(files)) {
    const p = path.join(dir, name);
    await writeFile(p, content);
    out.push(p);
  }
  return out;
}

test("without blocksize each file is one whole-file block, compression inferred per file", async () => {
  await withTempDir(async (dir) => {
    const paths = await makeFiles(dir, { "a.txt": "x\n", "b.txt.gz": "", "c.zst": "" });
    assert.deepEqual(await planTextBlocks(paths), [
      { path: paths[0], start: 0, end: null, compression: null },
      { path: paths[1], start: 0, end: null, compression: "gzip" },
      { path: paths[2], start: 0, end: null, compression: "zstd" },
    ]);
    assert.deepEqual(
      (await planTextBlocks(paths, { compression: null })).map((b) => b.compression),
      [null, null, null],
    );
    assert.deepEqual(
      (await planTextBlocks(paths, { compression: "xz" })).map((b) => b.compression),
      ["xz", "xz", "xz"],
    );
  });
});

test("with blocksize a file is cut into floor(size / blocksize) near-equal ranges covering it", async () => {
  await withTempDir(async (dir) => {
    for (const size of [1, 19, 20, 24, 39, 40, 41, 100, 1000, 1001]) {
      const [p] = await makeFiles(dir, { [`f${size}.txt`]: "x".repeat(size) });
      for (const blocksize of [1, 3, 7, 20, 64, 999, 5000]) {
        const blocks = await planTextBlocks([p!], { blocksize });
        const n = Math.max(1, Math.floor(size / blocksize));
        assert.equal(blocks.length, n, `size ${size}, blocksize ${blocksize}`);
        assert.equal(blocks[0]!.start, 0);
        assert.equal(blocks.at(-1)!.end, null);
        for (let i = 0; i + 1 < n; i++) assert.equal(blocks[i]!.end, blocks[i + 1]!.start);
        const lengths = blocks.map((b) => (b.end ?? size) - b.start);
        assert.ok(Math.max(...lengths) - Math.min(...lengths) <= 1, `near-equal: ${lengths.join(",")}`);
        if (size >= blocksize) assert.ok(Math.min(...lengths) >= blocksize, "no block shorter than blocksize");
      }
    }
    // Dask's example: 24 bytes with blocksize 20 is one block, not 20 + 4.
    const [p24] = await makeFiles(dir, { "d.txt": "y".repeat(24) });
    assert.deepEqual(await planTextBlocks([p24!], { blocksize: "20B" }), [{ path: p24, start: 0, end: null, compression: null }]);
  });
});

test("compressed files are one block whatever the blocksize; empty files one empty block", async () => {
  await withTempDir(async (dir) => {
    const big = "line\n".repeat(1000);
    const paths = await makeFiles(dir, { "a.txt.gz": big, "b.txt.bz2": big, "empty.txt": "", "c.txt": big });
    const blocks = await planTextBlocks(paths, { blocksize: 100 });
    assert.deepEqual(blocks.slice(0, 3), [
      { path: paths[0], start: 0, end: null, compression: "gzip" },
      { path: paths[1], start: 0, end: null, compression: "bz2" },
      { path: paths[2], start: 0, end: null, compression: null },
    ]);
    assert.equal(blocks.length - 3, 50);
    // With compression null the .gz name is plain text, so it is cut.
    assert.equal((await planTextBlocks([paths[0]!], { blocksize: 100, compression: null })).length, 50);
  });
});

test("blocks are plain data that survive structured clone (they are task arguments)", async () => {
  await withTempDir(async (dir) => {
    const paths = await makeFiles(dir, { "a.txt": "a\nb\nc\n".repeat(10), "b.gz": "" });
    const blocks: TextBlock[] = await planTextBlocks(paths, { blocksize: 7 });
    assert.deepEqual(structuredClone(blocks), blocks);
  });
});

test("bad options and unreadable files fail with typed errors naming the path", async () => {
  await withTempDir(async (dir) => {
    const [a] = await makeFiles(dir, { "a.txt": "a\n" });
    assert.throws(() => planTextBlocks([a!], { blocksize: 0 }), InvalidArgumentError);
    assert.throws(() => planTextBlocks([a!], { blocksize: "lots" }), InvalidArgumentError);
    assert.throws(() => planTextBlocks([a!], { compression: "zip" }), UnknownCompressionError);
    const missing = path.join(dir, "missing.txt");
    assert.throws(() => planTextBlocks([a!, missing], { blocksize: 10 }), (err: unknown) => {
      assert.ok(err instanceof FileReadError);
      assert.equal(err.path, missing);
      assert.equal(err.reason, "ENOENT");
      assert.equal((err.cause as NodeJS.ErrnoException).code, "ENOENT");
      assert.match(err.message, /does not exist/);
      return true;
    });
    const sub = path.join(dir, "sub");
    await mkdir(sub);
    assert.throws(() => planTextBlocks([sub], { blocksize: 10 }), (err: unknown) => err instanceof FileReadError && err.reason === "EISDIR");
    assert.deepEqual(await planTextBlocks([]), []);
    const relative = path.relative(process.cwd(), a!);
    assert.deepEqual(await planTextBlocks([relative], { blocksize: 1 }), [{ path: a, start: 0, end: 1, compression: null }, { path: a, start: 1, end: null, compression: null }]);
  });
});
