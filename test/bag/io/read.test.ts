import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, open, writeFile } from "node:fs/promises";
import path from "node:path";
import zlib from "node:zlib";
import { planTextBlocks, type TextBlock } from "../../../src/bag/io/blocks.js";
import { lineNumberAt, readTextBlock } from "../../../src/bag/io/read.js";
import { DecompressionError, FileReadError, InvalidArgumentError } from "../../../src/core/errors.js";
import { TEXT_A, TEXT_B, fixtures, permissionsEnforced, withTempDir } from "./tmp.js";

/** Texts that stress the line rule: empty, no final newline, blank lines, CRLF, multi-byte characters, long lines. */
const texts: Record<string, string> = {
  empty: "",
  oneChar: "a",
  oneNewline: "\n",
  blankLines: "\n\n\n",
  noFinalNewline: "one\ntwo\nthree",
  finalNewline: "one\ntwo\nthree\n",
  crlf: "x\r\ny\r\n\r\nzz\r\n",
  crlfNoFinal: "first\r\nsecond",
  multibyte: "ünï\n€€€€\n😀a😀\n\n日本語のテキスト\nb",
  longLines: `${"α".repeat(9000)}\nshort\n${"z".repeat(40000)}\n${"😀".repeat(3000)}`,
  mixed: Array.from({ length: 200 }, (_, i) => "ab€".repeat(i % 17) + (i % 5 === 0 ? "\r\n" : "\n")).join(""),
};

/** The oracle: each line with the byte offset of its first byte, computed straight from the bytes. */
function linesWithOffsets(bytes: Buffer): { offset: number; bytes: Buffer }[] {
  const out: { offset: number; bytes: Buffer }[] = [];
  let from = 0;
  while (from < bytes.length) {
    const nl = bytes.indexOf(0x0a, from);
    const to = nl < 0 ? bytes.length : nl + 1;
    out.push({ offset: from, bytes: bytes.subarray(from, to) });
    from = to;
  }
  return out;
}

/** What a block must hold: the lines whose first byte lies in [start, end). */
function expected(bytes: Buffer, start: number, end: number | null): string {
  const stop = end ?? Infinity;
  return Buffer.concat(
    linesWithOffsets(bytes)
      .filter((l) => l.offset >= start && l.offset < stop)
      .map((l) => l.bytes),
  ).toString("utf8");
}

/** Fixed cuts every `size` bytes, the last block open-ended. */
function fixedBlocks(p: string, length: number, size: number): TextBlock[] {
  const blocks: TextBlock[] = [];
  for (let start = 0; start < length || blocks.length === 0; start += size) {
    blocks.push({ path: p, start, end: start + size >= length ? null : start + size, compression: null });
  }
  return blocks;
}

test("every line lands in exactly one block, the one holding its first byte; blocks concatenate to the file", async () => {
  await withTempDir(async (dir) => {
    for (const [name, content] of Object.entries(texts)) {
      const p = path.join(dir, `${name}.txt`);
      const bytes = Buffer.from(content, "utf8");
      await writeFile(p, bytes);
      // Tiny blocks only where they make at most a few thousand reads.
      const sizes = [1, 2, 3, 7, 13, 64, 1000, 8191, bytes.length - 1, bytes.length, bytes.length + 1, 100000];
      for (const size of sizes.filter((s) => s >= 1 && bytes.length / s <= 3000)) {
        for (const blocks of [fixedBlocks(p, bytes.length, size), await planTextBlocks([p], { blocksize: size })]) {
          const got: string[] = [];
          for (const b of blocks) got.push(await readTextBlock(b));
          assert.equal(got.join(""), content, `${name}, blocksize ${size}`);
          blocks.forEach((b, i) => assert.equal(got[i], expected(bytes, b.start, b.end), `${name}, block ${b.start}-${b.end}`));
        }
      }
    }
  });
});

test("a block's edges in the middle of a multi-byte character still give whole characters", async () => {
  await withTempDir(async (dir) => {
    const p = path.join(dir, "m.txt");
    const content = "😀😀\n€€\n😀";
    await writeFile(p, content);
    // Lines start at bytes 0, 9 and 16. Byte 2 is inside the first emoji, 10 inside a euro sign, 17 inside the last emoji.
    assert.equal(await readTextBlock({ path: p, start: 0, end: 2, compression: null }), "😀😀\n");
    assert.equal(await readTextBlock({ path: p, start: 2, end: 9, compression: null }), "");
    assert.equal(await readTextBlock({ path: p, start: 9, end: 10, compression: null }), "€€\n");
    assert.equal(await readTextBlock({ path: p, start: 10, end: 17, compression: null }), "😀");
    assert.equal(await readTextBlock({ path: p, start: 17, end: null, compression: null }), "");
  });
});

test("blocks past the end of the file, and empty ranges, are empty", async () => {
  await withTempDir(async (dir) => {
    const p = path.join(dir, "s.txt");
    await writeFile(p, "ab\ncd\n");
    assert.equal(await readTextBlock({ path: p, start: 6, end: null, compression: null }), "");
    assert.equal(await readTextBlock({ path: p, start: 100, end: 200, compression: null }), "");
    assert.equal(await readTextBlock({ path: p, start: 3, end: 3, compression: null }), "");
    assert.equal(await readTextBlock({ path: p, start: 3, end: 4, compression: null }), "cd\n");
    assert.equal(await readTextBlock({ path: p, start: 0, end: 100, compression: null }), "ab\ncd\n");
  });
});

test("a small block of a huge file reads only near its range", async () => {
  await withTempDir(async (dir) => {
    // A 3 GiB sparse file: reading it whole would fail (Node reads at most 2 GiB into one buffer) or take seconds.
    const p = path.join(dir, "huge.txt");
    const handle = await open(p, "w");
    await handle.write("abc\ndef\n");
    await handle.truncate(3 * 2 ** 30);
    await handle.close();
    assert.equal(await readTextBlock({ path: p, start: 0, end: 5, compression: null }), "abc\ndef\n");
    assert.equal(await readTextBlock({ path: p, start: 2, end: 5, compression: null }), "def\n");
  });
});

test("compressed files are decoded whole: gzip made here, bz2/xz/zstd made by the system tools", async () => {
  await withTempDir(async (dir) => {
    const gz = path.join(dir, "a.txt.gz");
    await writeFile(gz, Buffer.concat([zlib.gzipSync(TEXT_A), zlib.gzipSync(TEXT_B)]));
    const paths = [gz, ...["bz2", "xz", "zst"].map((ext) => path.join(fixtures, `multi.txt.${ext}`))];
    for (const block of await planTextBlocks(paths, { blocksize: 3 })) {
      assert.equal(await readTextBlock(block), TEXT_A + TEXT_B, block.path);
    }
    const empty = path.join(dir, "empty.txt.xz");
    await writeFile(empty, "");
    assert.equal(await readTextBlock((await planTextBlocks([empty]))[0]!), "");
    // The line rule applies to the decoded bytes if a compressed block is ever given a range.
    assert.equal(await readTextBlock({ path: gz, start: 1, end: 8, compression: "gzip" }), "beta ünïcødé €\n");
  });
});

test("data that is not what its compression says is a DecompressionError naming the file", async () => {
  await withTempDir(async (dir) => {
    const p = path.join(dir, "plain.txt.gz");
    await writeFile(p, "I am not gzip\n");
    const [block] = await planTextBlocks([p]);
    await assert.rejects(readTextBlock(block!), (err: unknown) => {
      assert.ok(err instanceof DecompressionError);
      assert.equal(err.path, p);
      assert.equal(err.compression, "gzip");
      assert.match(err.message, /pass the right `compression`/);
      return true;
    });
    assert.equal(await readTextBlock((await planTextBlocks([p], { compression: null }))[0]!), "I am not gzip\n");
  });
});

test("encodings: latin1 and ascii cut by bytes; UTF-16 only for whole files; unknown names refused", async () => {
  await withTempDir(async (dir) => {
    const p = path.join(dir, "l1.txt");
    await writeFile(p, Buffer.from("café\nnaïve\n", "latin1"));
    assert.equal(await readTextBlock({ path: p, start: 0, end: 2, compression: null }, "latin1"), "café\n");
    assert.equal(await readTextBlock({ path: p, start: 2, end: null, compression: null }, "LATIN1"), "naïve\n");
    const u = path.join(dir, "u16.txt");
    await writeFile(u, Buffer.from("a\nb\n", "utf16le"));
    assert.equal(await readTextBlock({ path: u, start: 0, end: null, compression: null }, "utf16le"), "a\nb\n");
    await assert.rejects(readTextBlock({ path: u, start: 0, end: 4, compression: null }, "utf16le"), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.equal(err.argument, "encoding");
      assert.match(err.message, /read them whole/);
      return true;
    });
    await assert.rejects(readTextBlock({ path: p, start: 0, end: null, compression: null }, "klingon"), InvalidArgumentError);
  });
});

test("a missing file, a directory or a malformed block fails with a typed error naming it", async () => {
  await withTempDir(async (dir) => {
    const missing = path.join(dir, "missing.txt");
    await assert.rejects(readTextBlock({ path: missing, start: 0, end: null, compression: null }), (err: unknown) => {
      assert.ok(err instanceof FileReadError);
      assert.equal(err.code, "DASK_ERR_FILE_READ");
      assert.equal(err.path, missing);
      assert.equal(err.reason, "ENOENT");
      assert.equal((err.cause as NodeJS.ErrnoException).code, "ENOENT");
      assert.match(err.message, new RegExp(`Cannot read ${missing.replace(/[.\\/]/g, "\\$&")}: it does not exist`));
      return true;
    });
    const sub = path.join(dir, "sub");
    await mkdir(sub);
    for (const compression of [null, "gzip"] as const) {
      await assert.rejects(readTextBlock({ path: sub, start: 0, end: null, compression }), (err: unknown) => {
        assert.ok(err instanceof FileReadError);
        assert.equal(err.reason, "EISDIR");
        assert.match(err.message, /is a directory/);
        return true;
      });
    }
    await assert.rejects(lineNumberAt(sub, 3), (err: unknown) => err instanceof FileReadError && err.reason === "EISDIR");
    await assert.rejects(lineNumberAt(missing, 3), (err: unknown) => err instanceof FileReadError && err.reason === "ENOENT");
    const bad = [{ path: sub, start: -1, end: null }, { path: sub, start: 0, end: 1.5 }, { path: 3, start: 0, end: null }, null];
    for (const block of bad) await assert.rejects(readTextBlock(block as unknown as TextBlock), InvalidArgumentError);
  });
});

test("a file without read permission is a FileReadError with reason EACCES", { skip: permissionsEnforced ? false : "running as root, which permissions do not stop" }, async () => {
  await withTempDir(async (dir) => {
    const p = path.join(dir, "secret.txt");
    await writeFile(p, "x\n");
    await chmod(p, 0o000);
    await assert.rejects(readTextBlock({ path: p, start: 0, end: null, compression: null }), (err: unknown) => {
      assert.ok(err instanceof FileReadError);
      assert.equal(err.reason, "EACCES");
      assert.match(err.message, /permission denied/);
      return true;
    });
  });
});

test("lineNumberAt counts the newlines before an offset", async () => {
  await withTempDir(async (dir) => {
    const p = path.join(dir, "n.txt");
    const content = texts["mixed"]! + "x".repeat(70000) + "\nend";
    const bytes = Buffer.from(content);
    await writeFile(p, bytes);
    for (const offset of [0, 1, 2, 3, 100, 1000, bytes.length - 5, bytes.length, bytes.length + 100]) {
      const want = bytes.subarray(0, offset).filter((b) => b === 0x0a).length + 1;
      assert.equal(await lineNumberAt(p, offset), want, String(offset));
    }
    const lines = linesWithOffsets(bytes);
    for (let i = 0; i < lines.length; i += 7) assert.equal(await lineNumberAt(p, lines[i]!.offset), i + 1);
    for (const bad of [-1, 0.5, Number.NaN]) await assert.rejects(lineNumberAt(p, bad), InvalidArgumentError);
  });
});
