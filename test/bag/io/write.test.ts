import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import zlib from "node:zlib";
import { planTextBlocks } from "../../../src/bag/io/blocks.js";
import { writableCompressions } from "../../../src/bag/io/compression.js";
import { readTextBlock } from "../../../src/bag/io/read.js";
import { writeTextFile } from "../../../src/bag/io/write.js";
import {
  CompressionUnavailableError,
  FileWriteError,
  InvalidArgumentError,
  InvalidElementError,
  UnknownCompressionError,
} from "../../../src/core/errors.js";
import { withTempDir } from "./tmp.js";

const read = (p: string): Promise<string> => readFile(p, "utf8");

test("elements are joined by newlines, with a final one only for lastEndline", async () => {
  await withTempDir(async (dir) => {
    const cases: [string[], boolean, string][] = [
      [["a", "b", "c"], false, "a\nb\nc"],
      [["a", "b", "c"], true, "a\nb\nc\n"],
      [["only"], false, "only"],
      [[""], true, "\n"],
      [["", ""], false, "\n"],
      [[], false, ""],
      [[], true, ""],
      [["ünï €", "😀"], true, "ünï €\n😀\n"],
      [["x\r", "y\r"], false, "x\r\ny\r"],
    ];
    for (const [i, [lines, lastEndline, want]] of cases.entries()) {
      const p = path.join(dir, `${i}.txt`);
      assert.equal(await writeTextFile(p, lines, { lastEndline }), p);
      assert.equal(await read(p), want, JSON.stringify(lines));
    }
  });
});

test("any iterable works, and a large partition is written in pieces without changing the text", async () => {
  await withTempDir(async (dir) => {
    function* gen(): Generator<string> {
      for (let i = 0; i < 200000; i++) yield `line ${i} ${"€".repeat(i % 13)}`;
    }
    const p = path.join(dir, "big.txt");
    await writeTextFile(p, gen(), { lastEndline: true });
    const want = [...gen()].join("\n") + "\n";
    assert.ok(want.length > 3 * (1 << 20), "bigger than several pieces");
    assert.equal(await read(p), want);
    await writeTextFile(path.join(dir, "set.txt"), new Set(["a", "b"]));
    assert.equal(await read(path.join(dir, "set.txt")), "a\nb");
  });
});

test("what is written reads back, by blocks, as the same lines", async () => {
  await withTempDir(async (dir) => {
    const lines = Array.from({ length: 500 }, (_, i) => `${i}:${"ab😀".repeat(i % 7)}`);
    const p = path.join(dir, "rt.txt");
    await writeTextFile(p, lines, { lastEndline: true });
    const blocks = await planTextBlocks([p], { blocksize: 333 });
    assert.ok(blocks.length > 5);
    const texts = await Promise.all(blocks.map((b) => readTextBlock(b)));
    assert.deepEqual(texts.join("").split("\n").slice(0, -1), lines);
  });
});

test("parent directories are created", async () => {
  await withTempDir(async (dir) => {
    const p = path.join(dir, "a", "b", "c", "0.txt");
    await writeTextFile(p, ["x"]);
    assert.equal(await read(p), "x");
  });
});

test("compression follows the extension by default; null writes plain text; a name overrides", async () => {
  await withTempDir(async (dir) => {
    const gz = path.join(dir, "0.txt.gz");
    await writeTextFile(gz, ["a", "b"]);
    assert.equal(zlib.gunzipSync(await readFile(gz)).toString(), "a\nb");
    const plain = path.join(dir, "1.txt.gz");
    await writeTextFile(plain, ["a", "b"], { compression: null });
    assert.equal(await read(plain), "a\nb");
    const named = path.join(dir, "2.dat");
    await writeTextFile(named, ["c"], { compression: "gzip", lastEndline: true });
    assert.equal(zlib.gunzipSync(await readFile(named)).toString(), "c\n");
    // Read back through the read path too.
    assert.equal(await readTextBlock((await planTextBlocks([gz]))[0]!), "a\nb");
  });
});

test("zstd is written where Node can, and refused before any file or directory is made where it cannot", async () => {
  await withTempDir(async (dir) => {
    const p = path.join(dir, "z", "0.txt.zst");
    if (writableCompressions().includes("zstd")) {
      await writeTextFile(p, ["a", "b"]);
      assert.equal(await readTextBlock((await planTextBlocks([p]))[0]!), "a\nb");
    } else {
      await assert.rejects(writeTextFile(p, ["a"]), CompressionUnavailableError);
      await assert.rejects(stat(path.join(dir, "z")), { code: "ENOENT" });
    }
    for (const name of ["0.txt.xz", "0.txt.bz2"]) {
      await assert.rejects(writeTextFile(path.join(dir, "y", name), ["a"]), (err: unknown) => {
        assert.ok(err instanceof CompressionUnavailableError);
        assert.equal(err.operation, "write");
        return true;
      });
    }
    await assert.rejects(writeTextFile(path.join(dir, "w.txt"), ["a"], { compression: "snappy" }), UnknownCompressionError);
    assert.deepEqual(await readdir(dir), writableCompressions().includes("zstd") ? ["z"] : []);
  });
});

test("a non-string element is an InvalidElementError, and nothing is left under the name or beside it", async () => {
  await withTempDir(async (dir) => {
    const cases: [unknown[], number, string][] = [
      [["a", 1], 1, "number"],
      [[{ a: 1 }], 0, "object"],
      [["a", "b", null], 2, "null"],
      [[undefined], 0, "undefined"],
      [[["x"]], 0, "array"],
      [[new Date(0)], 0, "Date"],
      [[Buffer.from("x")], 0, "Buffer"],
      [[Object.create(null) as object], 0, "object"],
    ];
    for (const [lines, index, elementType] of cases) {
      const p = path.join(dir, "out.txt");
      await assert.rejects(writeTextFile(p, lines as string[]), (err: unknown) => {
        assert.ok(err instanceof InvalidElementError, String(err));
        assert.equal(err.code, "DASK_ERR_INVALID_ELEMENT");
        assert.equal(err.path, p);
        assert.equal(err.index, index);
        assert.equal(err.elementType, elementType);
        assert.match(err.message, /map the elements to strings first, for example with JSON\.stringify/);
        return true;
      });
      assert.deepEqual(await readdir(dir), []);
    }
  });
});

test("a failed write keeps the previous file, and an error from the elements' iterator passes through", async () => {
  await withTempDir(async (dir) => {
    const p = path.join(dir, "keep.txt");
    await writeTextFile(p, ["old"]);
    await assert.rejects(writeTextFile(p, ["new", 5] as string[]), InvalidElementError);
    function* failing(): Generator<string> {
      yield "new";
      throw new RangeError("boom in user code");
    }
    await assert.rejects(writeTextFile(p, failing()), (err: unknown) => err instanceof RangeError && err.message === "boom in user code");
    assert.equal(await read(p), "old");
    assert.deepEqual(await readdir(dir), ["keep.txt"]);
    await writeTextFile(p, ["new"]);
    assert.equal(await read(p), "new");
  });
});

test("file-system failures are FileWriteErrors naming the path, and leave no temporary file", async () => {
  await withTempDir(async (dir) => {
    const asDir = path.join(dir, "is-a-dir");
    await mkdir(asDir);
    await assert.rejects(writeTextFile(asDir, ["a"]), (err: unknown) => {
      assert.ok(err instanceof FileWriteError, String(err));
      assert.equal(err.code, "DASK_ERR_FILE_WRITE");
      assert.equal(err.path, asDir);
      assert.equal(err.reason, "EISDIR");
      assert.match(err.message, /is a directory/);
      return true;
    });
    const file = path.join(dir, "plain-file");
    await writeFile(file, "x");
    const under = path.join(file, "sub", "0.txt");
    await assert.rejects(writeTextFile(under, ["a"]), (err: unknown) => {
      assert.ok(err instanceof FileWriteError);
      assert.equal(err.path, under);
      assert.ok(["ENOTDIR", "EEXIST"].includes(err.reason), err.reason);
      assert.ok(err.cause instanceof Error);
      return true;
    });
    assert.deepEqual((await readdir(dir)).sort(), ["is-a-dir", "plain-file"]);
    assert.deepEqual(await readdir(asDir), []);
  });
});

test("bad paths and encodings are InvalidArgumentErrors; other encodings are honoured", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(writeTextFile("", ["a"]), InvalidArgumentError);
    await assert.rejects(writeTextFile(path.join(dir, "e.txt"), ["a"], { encoding: "klingon" }), InvalidArgumentError);
    const p = path.join(dir, "l1.txt");
    await writeTextFile(p, ["café", "naïve"], { encoding: "latin1" });
    assert.deepEqual(await readFile(p), Buffer.from("café\nnaïve", "latin1"));
    assert.deepEqual(await readdir(dir), ["l1.txt"]);
  });
});
