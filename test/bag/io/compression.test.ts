import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import zlib from "node:zlib";
import {
  assertWritable,
  compress,
  compressions,
  decompress,
  inferCompression,
  loadDecoderPackage,
  resolveCompression,
  writableCompressions,
  type Compression,
} from "../../../src/bag/io/compression.js";
import { CompressionUnavailableError, DecompressionError, UnknownCompressionError } from "../../../src/core/errors.js";
import { TEXT_A, TEXT_B, fixtures } from "./tmp.js";

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8");
const fixture = (name: string): Promise<Buffer> => readFile(path.join(fixtures, name));
const nodeHasZstd = typeof (zlib as unknown as { zstdCompress?: unknown }).zstdCompress === "function";

test("inferCompression goes by the last extension, ignoring case", () => {
  const cases: [string, Compression | undefined][] = [
    ["a.txt.gz", "gzip"],
    ["/d/A.TXT.GZ", "gzip"],
    ["a.bz2", "bz2"],
    ["a.json.xz", "xz"],
    ["a.zst", "zstd"],
    ["a.zstd", "zstd"],
    ["a.txt", undefined],
    ["a.gz.txt", undefined],
    ["gz", undefined],
    [".gz", undefined],
    ["dir.gz/a.txt", undefined],
    ["dir.gz\\a", undefined],
    ["a.tgz", undefined],
    ["a.", undefined],
  ];
  for (const [p, want] of cases) assert.equal(inferCompression(p), want, p);
});

test("resolveCompression: infer by default (also for undefined), null for none, names as given", () => {
  assert.equal(resolveCompression("a.gz"), "gzip");
  assert.equal(resolveCompression("a.gz", undefined), "gzip");
  assert.equal(resolveCompression("a.gz", "infer"), "gzip");
  assert.equal(resolveCompression("a.txt", "infer"), null);
  assert.equal(resolveCompression("a.gz", null), null);
  for (const c of compressions) assert.equal(resolveCompression("a.txt", c), c);
});

test("an unknown compression name is an UnknownCompressionError listing the supported ones", () => {
  for (const bad of ["lz4", "gz", "GZIP", "", "none"]) {
    assert.throws(
      () => resolveCompression("a.txt", bad),
      (err: unknown) => {
        assert.ok(err instanceof UnknownCompressionError);
        assert.equal(err.code, "DASK_ERR_UNKNOWN_COMPRESSION");
        assert.equal(err.compression, bad);
        assert.deepEqual(err.supported, ["gzip", "bz2", "xz", "zstd"]);
        assert.match(err.message, /"gzip", "bz2", "xz", "zstd"/);
        return true;
      },
    );
  }
  assert.throws(() => resolveCompression("a.txt", 3 as unknown as string), UnknownCompressionError);
});

test("gzip: one member, several members (as `gzip -c a >> f` makes) and empty data", async () => {
  const one = zlib.gzipSync(TEXT_A);
  assert.equal(text(await decompress(one, "gzip")), TEXT_A);
  const two = Buffer.concat([zlib.gzipSync(TEXT_A), zlib.gzipSync(TEXT_B)]);
  assert.equal(text(await decompress(two, "gzip")), TEXT_A + TEXT_B);
  assert.equal(text(await decompress(zlib.gzipSync(""), "gzip")), "");
});

for (const [c, ext] of [
  ["bz2", "bz2"],
  ["xz", "xz"],
  ["zstd", "zst"],
] as const) {
  test(`${c}: decodes files made by the system tool, one stream and two concatenated`, async () => {
    assert.equal(text(await decompress(await fixture(`lines.txt.${ext}`), c)), TEXT_A);
    assert.equal(text(await decompress(await fixture(`multi.txt.${ext}`), c)), TEXT_A + TEXT_B);
  });
}

test("zstd: frames written by Node's own encoder, concatenated, decode as one", { skip: nodeHasZstd ? false : "Node's zlib has no zstd before 22.15" }, async () => {
  const two = Buffer.concat([await compress(Buffer.from(TEXT_A), "zstd"), await compress(Buffer.from(TEXT_B), "zstd")]);
  assert.equal(text(await decompress(two, "zstd")), TEXT_A + TEXT_B);
});

test("damaged or mislabelled data is a DecompressionError naming the compression and the path", async () => {
  const gz = zlib.gzipSync(TEXT_A.repeat(50));
  const samples: [Compression, Uint8Array][] = [
    ["gzip", Buffer.from("plain text, not gzip\n")],
    ["gzip", gz.subarray(0, gz.length - 12)],
    ["bz2", Buffer.from("BZh9 but then nothing sensible")],
    ["bz2", (await fixture("lines.txt.bz2")).subarray(0, 30)],
    ["xz", Buffer.from("not xz at all")],
    ["xz", (await fixture("lines.txt.xz")).subarray(0, 40)],
    ["zstd", Buffer.from("not zstd either")],
  ];
  for (const [c, data] of samples) {
    await assert.rejects(decompress(data, c, "/d/file"), (err: unknown) => {
      assert.ok(err instanceof DecompressionError, `${c}: ${String(err)}`);
      assert.equal(err.compression, c);
      assert.equal(err.path, "/d/file");
      assert.match(err.message, new RegExp(`Cannot decompress /d/file as ${c}: `));
      return true;
    });
  }
  await assert.rejects(decompress(Buffer.from("x"), "gzip"), (err: unknown) => err instanceof DecompressionError && err.path === undefined);
});

test("a zero-byte input decodes to nothing in every compression, as Python's readers see an empty file", async () => {
  for (const c of compressions) assert.equal((await decompress(new Uint8Array(0), c)).length, 0, c);
});

test("decompress and compress refuse unknown names", async () => {
  await assert.rejects(decompress(Buffer.alloc(1), "lz4" as Compression), UnknownCompressionError);
  await assert.rejects(compress(Buffer.alloc(1), "lz4" as Compression), UnknownCompressionError);
});

test("compress writes gzip that gunzip reads back", async () => {
  const data = Buffer.from(TEXT_A + TEXT_B);
  assert.deepEqual(zlib.gunzipSync(await compress(data, "gzip")), data);
});

test("zstd can be written exactly where Node's zlib has it", async () => {
  const data = Buffer.from(TEXT_A);
  assert.deepEqual(writableCompressions(), nodeHasZstd ? ["gzip", "zstd"] : ["gzip"]);
  if (nodeHasZstd) {
    assert.equal(text(await decompress(await compress(data, "zstd"), "zstd")), TEXT_A);
  } else {
    await assert.rejects(compress(data, "zstd"), (err: unknown) => {
      assert.ok(err instanceof CompressionUnavailableError);
      assert.equal(err.operation, "write");
      assert.deepEqual(err.available, ["gzip"]);
      assert.match(err.message, /22\.15/);
      return true;
    });
  }
});

test("bz2 and xz cannot be written: the error says which compressions can", async () => {
  for (const c of ["bz2", "xz"] as const) {
    assert.throws(() => assertWritable(c), CompressionUnavailableError);
    await assert.rejects(compress(Buffer.from("a"), c), (err: unknown) => {
      assert.ok(err instanceof CompressionUnavailableError);
      assert.equal(err.code, "DASK_ERR_COMPRESSION_UNAVAILABLE");
      assert.equal(err.compression, c);
      assert.deepEqual(err.available, writableCompressions());
      assert.match(err.message, new RegExp(`Cannot write ${c} files here.*can be written on Node ${process.versions.node}: gzip`));
      return true;
    });
  }
  assert.doesNotThrow(() => assertWritable("gzip"));
});

test("a decoder package that cannot be loaded is a CompressionUnavailableError for reading", () => {
  assert.throws(
    () => loadDecoderPackage("dask-ts-no-such-decoder", "xz"),
    (err: unknown) => {
      assert.ok(err instanceof CompressionUnavailableError);
      assert.equal(err.operation, "read");
      assert.ok(err.available.includes("gzip"));
      assert.match(err.message, /package "dask-ts-no-such-decoder" could not be loaded \(Cannot find module [^\n]*\); reinstall/);
      assert.ok(err.cause instanceof Error);
      return true;
    },
  );
});

test("importing the module loads no decoder package until one is needed", async () => {
  // This test file has already used the decoders; a fresh process shows what the import alone loads.
  const { execFileSync } = await import("node:child_process");
  const modulePath = new URL("../../../src/bag/io/compression.js", import.meta.url).href;
  const script =
    `await import(${JSON.stringify(modulePath)});` +
    `const { createRequire } = await import("node:module");` +
    `const loaded = Object.keys(createRequire(import.meta.url).cache);` +
    `console.log(JSON.stringify(loaded.filter((p) => /seek-bzip|xz-decompress|fzstd/.test(p))));`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  assert.deepEqual(JSON.parse(out), []);
});
