import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { defaultNameFunction, expandPaths, outputPaths } from "../../../src/bag/io/paths.js";
import { FileReadError, InvalidArgumentError, NoFilesFoundError } from "../../../src/core/errors.js";

// One tree for every test; relative patterns are resolved against it (the tests chdir into it).
let root = "";
let previousCwd = "";
const files = [
  "1.txt",
  "2.txt",
  "10.txt",
  ".hidden.txt",
  "br[1].txt",
  "a/3.txt",
  "a/b/4.txt",
  "a/b/c/5.txt",
  "x/6.csv",
  "sp ace/7.txt",
  "dir.txt/8.csv",
];

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "dask-ts-bagio-paths-"));
  for (const f of files) {
    await mkdir(path.dirname(path.join(root, f)), { recursive: true });
    await writeFile(path.join(root, f), f);
  }
  previousCwd = process.cwd();
  process.chdir(root);
});

after(async () => {
  process.chdir(previousCwd);
  await rm(root, { recursive: true, force: true });
});

/** Absolute paths of files in the tree. */
const abs = (...names: string[]): string[] => names.map((n) => path.join(root, n));

test("`*` matches within one directory, sorted as strings, skipping dot-files and directories", async () => {
  assert.deepEqual(await expandPaths("*.txt"), abs("1.txt", "10.txt", "2.txt", "br[1].txt"));
  assert.deepEqual(await expandPaths("*"), abs("1.txt", "10.txt", "2.txt", "br[1].txt"));
});

test("`?`, classes, negated classes and braces", async () => {
  assert.deepEqual(await expandPaths("?.txt"), abs("1.txt", "2.txt"));
  assert.deepEqual(await expandPaths("[12].txt"), abs("1.txt", "2.txt"));
  assert.deepEqual(await expandPaths("[!1].txt"), abs("2.txt"));
  assert.deepEqual(await expandPaths("{a,x}/*"), abs("a/3.txt", "x/6.csv"));
  assert.deepEqual(await expandPaths("{1,10}.txt"), abs("1.txt", "10.txt"));
});

test("`**` crosses any number of directories, including none", async () => {
  assert.deepEqual(await expandPaths("a/**/*.txt"), abs("a/3.txt", "a/b/4.txt", "a/b/c/5.txt"));
  assert.deepEqual(await expandPaths("**/c/*.txt"), abs("a/b/c/5.txt"));
  assert.deepEqual(await expandPaths("**/*.csv"), abs("dir.txt/8.csv", "x/6.csv"));
});

test("plain paths, absolute paths, `..`, spaces and file:// URLs", async () => {
  assert.deepEqual(await expandPaths("a/3.txt"), abs("a/3.txt"));
  assert.deepEqual(await expandPaths("./a/../a/b/4.txt"), abs("a/b/4.txt"));
  assert.deepEqual(await expandPaths(path.join(root, "x/6.csv")), abs("x/6.csv"));
  assert.deepEqual(await expandPaths("sp ace/*.txt"), abs("sp ace/7.txt"));
  assert.deepEqual(await expandPaths(".hidden.txt"), abs(".hidden.txt"));
  assert.deepEqual(await expandPaths(pathToFileURL(path.join(root, "sp ace/7.txt")).href), abs("sp ace/7.txt"));
  assert.deepEqual(await expandPaths(`${pathToFileURL(root).href}/?.txt`), abs("1.txt", "2.txt"));
  assert.deepEqual(await expandPaths(`${pathToFileURL(root).href}/*.csv`.replace("*.csv", "x/*")), abs("x/6.csv"));
});

test("a name that looks like a glob but matches nothing reads the file of that name", async () => {
  assert.deepEqual(await expandPaths("br[1].txt"), abs("br[1].txt"));
});

test("patterns keep their order; duplicates are dropped, the first kept", async () => {
  assert.deepEqual(await expandPaths(["2.txt", "*.txt", "a/3.txt", "1.txt"]), abs("2.txt", "1.txt", "10.txt", "br[1].txt", "a/3.txt"));
});

test("a pattern or path that matches nothing is a NoFilesFoundError naming it", async () => {
  for (const pattern of ["*.json", "missing.txt", "nodir/*.txt", "1.txt/x", "a/**/*.parquet"]) {
    assert.throws(() => expandPaths(["1.txt", pattern]), (err: unknown) => {
      assert.ok(err instanceof NoFilesFoundError, String(err));
      assert.equal(err.code, "DASK_ERR_NO_FILES_FOUND");
      assert.equal(err.pattern, pattern);
      assert.match(err.message, new RegExp(`No file matches "${pattern.replace(/[*.[\]/]/g, "\\$&")}" \\(relative to `));
      return true;
    });
  }
  assert.throws(() => expandPaths(path.join(root, "nope/*.txt")), (err: unknown) => err instanceof NoFilesFoundError && !err.message.includes("relative to"));
});

test("a plain path to a directory is a FileReadError suggesting a pattern", async () => {
  for (const dir of ["a", "dir.txt", root]) {
    assert.throws(() => expandPaths(dir), (err: unknown) => {
      assert.ok(err instanceof FileReadError);
      assert.equal(err.reason, "EISDIR");
      assert.equal(err.path, path.resolve(dir));
      assert.match(err.message, /is a directory.*"dir\/\*"/);
      return true;
    });
  }
});

test("no patterns, an empty pattern or a non-string is an InvalidArgumentError", async () => {
  assert.throws(() => expandPaths([]), InvalidArgumentError);
  assert.throws(() => expandPaths(""), InvalidArgumentError);
  assert.throws(() => expandPaths(["1.txt", 3 as unknown as string]), InvalidArgumentError);
  assert.throws(() => expandPaths("file://remote-host/x"), InvalidArgumentError);
});

test("default output names are zero-padded to the width of the last partition number, as Dask's", () => {
  assert.deepEqual(outputPaths("out/*.txt", 1), abs("out/0.txt"));
  assert.deepEqual(outputPaths("out/*.txt", 3), abs("out/0.txt", "out/1.txt", "out/2.txt"));
  const ten = outputPaths("out/*.txt", 10);
  assert.equal(ten[9], path.join(root, "out/9.txt"));
  const eleven = outputPaths("out/*.txt", 11);
  assert.deepEqual([eleven[0], eleven[10]], abs("out/00.txt", "out/10.txt"));
  assert.equal(defaultNameFunction(101)(7), "007");
  assert.equal(defaultNameFunction(100)(7), "07");
  assert.deepEqual(outputPaths("out/*.txt", 0), []);
});

test("a path without `*` is a directory of <name>.part files; `*` may sit in a directory name", () => {
  assert.deepEqual(outputPaths("out", 2), abs("out/0.part", "out/1.part"));
  assert.deepEqual(outputPaths(path.join(root, "o/"), 1), abs("o/0.part"));
  assert.deepEqual(outputPaths("day-*/data.json", 2), abs("day-0/data.json", "day-1/data.json"));
  assert.deepEqual(outputPaths(`${pathToFileURL(root).href}/f-*.gz`, 1), abs("f-0.gz"));
});

test("a name function names the files, and must give distinct non-empty strings", () => {
  assert.deepEqual(
    outputPaths("out/part-*.txt", 2, (i) => `2024-01-0${i + 1}`),
    abs("out/part-2024-01-01.txt", "out/part-2024-01-02.txt"),
  );
  assert.deepEqual(outputPaths("out/*.txt", 1, () => "$&$1"), abs("out/$&$1.txt"));
  assert.throws(() => outputPaths("out/*.txt", 3, (i) => String(i % 2)), (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError);
    assert.equal(err.argument, "nameFunction");
    assert.match(err.message, /partitions 0 and 2 the same file/);
    return true;
  });
  assert.throws(() => outputPaths("out/*.txt", 1, () => 5 as unknown as string), InvalidArgumentError);
  assert.throws(() => outputPaths("out/*.txt", 1, () => ""), InvalidArgumentError);
});

test("more than one `*`, an empty path or a bad count is an InvalidArgumentError", () => {
  assert.throws(() => outputPaths("out/*/*.txt", 2), (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError);
    assert.equal(err.argument, "path");
    assert.match(err.message, /has 2 `\*`; use exactly one/);
    return true;
  });
  assert.throws(() => outputPaths("", 2), InvalidArgumentError);
  for (const n of [-1, 1.5, Number.NaN, Infinity]) assert.throws(() => outputPaths("out/*.txt", n), InvalidArgumentError);
});
