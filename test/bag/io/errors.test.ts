import { test } from "node:test";
import assert from "node:assert/strict";
import { readError, writeError } from "../../../src/bag/io/fs-errors.js";
import {
  CompressionUnavailableError,
  DecompressionError,
  FileReadError,
  FileWriteError,
  InvalidElementError,
  NoFilesFoundError,
  UnknownCompressionError,
  deserializeError,
  serializeError,
} from "../../../src/core/errors.js";

/** A Node-style system error, as fs calls throw them. */
function systemError(code: string, syscall = "open"): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something, ${syscall} '/d/f'`), { code, syscall, errno: -1, path: "/d/f" });
}

test("the bag I/O errors cross threads with their typed fields", () => {
  const samples = [
    new NoFilesFoundError("data/*.txt"),
    new UnknownCompressionError("lz4", ["gzip", "bz2", "xz", "zstd"]),
    new CompressionUnavailableError("zstd", "write", ["gzip"], "Node's zlib writes zstd from version 22.15 on"),
    new DecompressionError("xz", "/d/a.xz", "data is truncated"),
    new DecompressionError("xz", undefined, "data is truncated"),
    new FileReadError("/d/a.txt", "ENOENT"),
    new FileWriteError("/d/out/1.txt", "EACCES"),
    new InvalidElementError("/d/out/1.txt", 7, "Date"),
  ];
  for (const e of samples) {
    const back = deserializeError(structuredClone(serializeError(e)));
    assert.equal(back.constructor, e.constructor);
    assert.equal(back.message, e.message);
    const own = (x: object): Record<string, unknown> => Object.fromEntries(Object.entries(x));
    assert.deepEqual(own(back), own(e), e.name);
  }
});

test("messages say what to do", () => {
  assert.match(new NoFilesFoundError("x/*.csv").message, /No file matches "x\/\*\.csv" \(relative to .+\)\. Check the path/);
  assert.doesNotMatch(new NoFilesFoundError("/abs/*.csv").message, /relative to/);
  assert.match(new FileReadError("/d/a", "EACCES").message, /permission denied\. Check the permissions/);
  assert.match(new FileReadError("/d/a", "ENOTDIR").message, /is a file/);
  assert.match(new FileWriteError("/d/a", "EISDIR").message, /Give a file name/);
  assert.match(new FileReadError("/d/a", "EIO", "EIO: i/o error, read").message, /EIO: i\/o error, read\. Check the path and the file system/);
  assert.match(new InvalidElementError("/o", 0, "object").message, /is an object, not a string/);
  assert.match(new InvalidElementError("/o", 0, "number").message, /is a number, not a string/);
});

test("system errors become FileReadError / FileWriteError with the code and the original as cause", () => {
  for (const code of ["ENOENT", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "ENOSPC", "EMFILE"]) {
    const original = systemError(code);
    const r = readError("/d/f", original);
    assert.ok(r instanceof FileReadError);
    assert.equal(r.reason, code);
    assert.equal(r.path, "/d/f");
    assert.equal(r.cause, original);
    const w = writeError("/d/f", systemError(code, "write"));
    assert.ok(w instanceof FileWriteError);
    assert.equal(w.reason, code);
  }
});

test("errors that are not system errors pass through unchanged", () => {
  const already = new FileReadError("/d/f", "EISDIR");
  const user = new TypeError("from user code");
  const coded = Object.assign(new Error("has a code but no syscall"), { code: "ERR_SOMETHING" });
  for (const err of [already, user, coded, "a string", undefined]) {
    assert.equal(readError("/x", err), err);
    assert.equal(writeError("/x", err), err);
  }
});
