// A snapshot of every exported name, per entry point: changing the public API
// must show up here, in review, on purpose.
import { test } from "node:test";
import assert from "node:assert/strict";

const expected: Record<string, string[]> = {
  "dask-ts": [
    "ClosedError",
    "ClosureError",
    "CommClosedError",
    "CancelledError",
    "CompressionUnavailableError",
    "ConnectTimeoutError",
    "CycleError",
    "DaskError",
    "DatasetExistsError",
    "DecompressionError",
    "Delayed",
    "ElementError",
    "FileReadError",
    "FileWriteError",
    "FunctionNotShippableError",
    "InvalidAddressError",
    "InvalidArgumentError",
    "InvalidElementError",
    "InvalidTransitionError",
    "KilledWorkerError",
    "LostDataError",
    "MessageTooLargeError",
    "MissingKeyError",
    "ModuleResolutionError",
    "NoClientError",
    "NoFilesFoundError",
    "NotHeldError",
    "NoValidWorkerError",
    "ProtocolError",
    "ProtocolVersionError",
    "SerializeError",
    "TaskError",
    "TimeoutError",
    "UnknownCompressionError",
    "UnknownNameError",
    "UploadError",
    "UploadSourceError",
    "UploadTooLargeError",
    "VisualizeError",
    "compute",
    "cull",
    "defineOp",
    "delayed",
    "fuseLinear",
    "inline",
    "isDaskError",
    "lit",
    "opRef",
    "optimize",
    "order",
    "persist",
    "ref",
    "registerModule",
    "setDefaultScheduler",
    "syncScheduler",
    "task",
    "tokenize",
    "tokenizeSymbol",
    "validateGraph",
    "visualize",
  ],
  "dask-ts/distributed": [
    "Client",
    "Event",
    "Future",
    "LocalCluster",
    "Lock",
    "NetworkWorker",
    "Queue",
    "SchedulerServer",
    "SchedulerState",
    "Semaphore",
    "Variable",
    "WorkerState",
    "asCompleted",
    "closeDefaultLocalCluster",
    "defaultLocalCluster",
    "stimulusChannel",
    "wait",
  ],
  "dask-ts/diagnostics": ["stimulusChannel", "toDot", "visualizeGraph"],
  "dask-ts/array": [],
  "dask-ts/dataframe": [],
  "dask-ts/bag": ["Bag", "concat", "fromDelayed", "fromSequence", "map", "mapPartitions", "range", "readText"],
};

const entry: Record<string, string> = {
  "dask-ts": "../src/index.js",
  "dask-ts/distributed": "../src/distributed.js",
  "dask-ts/diagnostics": "../src/diagnostics.js",
  "dask-ts/array": "../src/array.js",
  "dask-ts/dataframe": "../src/dataframe.js",
  "dask-ts/bag": "../src/bag.js",
};

for (const [name, names] of Object.entries(expected)) {
  test(`exported names of ${name}`, async () => {
    const mod = (await import(entry[name]!)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(mod).sort(), [...names].sort());
  });
}

test("every error class has a stable DASK_ERR_ code", async () => {
  const mod = (await import("../src/index.js")) as Record<string, unknown>;
  const codes = new Set<string>();
  for (const [name, value] of Object.entries(mod)) {
    if (typeof value !== "function" || !/^[A-Z]\w*Error$/.test(name) || name === "DaskError") continue;
    const proto = (value as { prototype: object }).prototype;
    assert.ok((mod["DaskError"] as typeof Error).prototype.isPrototypeOf(proto), `${name} extends DaskError`);
  }
  const errors = await import("../src/core/errors.js");
  const samples = sampleErrors(errors);
  for (const e of samples) {
    assert.match(e.code, /^DASK_ERR_[A-Z_]+$/);
    assert.ok(!codes.has(e.code), `duplicate code ${e.code}`);
    codes.add(e.code);
    assert.ok(errors.isDaskError(e, e.code));
  }
});

test("every error code is documented in docs/errors.md", async () => {
  const { readFileSync } = await import("node:fs");
  const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const src = readFileSync(new URL("../../src/core/errors.ts", import.meta.url), "utf8");
  const codes = [...src.matchAll(/^\s+(DASK_ERR_[A-Z_]+): /gm)].map((m) => m[1]!);
  assert.ok(codes.length >= 18, "found the code list in errors.ts");
  for (const code of codes) assert.ok(doc.includes(`\`${code}\``), `${code} is missing from docs/errors.md`);
});

test("every error class survives serialization as its own class, code and message", async () => {
  const errors = await import("../src/core/errors.js");
  const samples = sampleErrors(errors);
  for (const e of samples) {
    const back = errors.deserializeError(structuredClone(errors.serializeError(e)));
    assert.equal(back.constructor, e.constructor, e.name);
    assert.equal((back as { code?: string }).code, e.code);
    assert.equal(back.message, e.message);
    assert.ok(errors.isDaskError(back, e.code));
  }
});

/** One instance of every error class. */
function sampleErrors(errors: typeof import("../src/core/errors.js")) {
  return [
    new errors.InvalidArgumentError("x", "bad x"),
    new errors.ClosureError("f", ["a", "b"]),
    new errors.FunctionNotShippableError("f", "it is bound"),
    new errors.ModuleResolutionError("file:///m.js", "e", "no such export"),
    new errors.MissingKeyError("k", "t"),
    new errors.CycleError(["a", "b", "a"]),
    new errors.TaskError("k", { name: "TypeError", message: "m", stack: "TypeError: m\n at f" }),
    new errors.KilledWorkerError("k", "w", 3),
    new errors.LostDataError("scatter-abc", "tcp://127.0.0.1:4000"),
    new errors.ClosedError("The cluster"),
    new errors.InvalidTransitionError("k", "d"),
    new errors.VisualizeError("cannot draw"),
    new errors.NoFilesFoundError("data/*.txt"),
    new errors.UnknownCompressionError("lz4", ["gzip", "bz2", "xz", "zstd"]),
    new errors.CompressionUnavailableError("xz", "write", ["gzip"], "no xz encoder is bundled"),
    new errors.DecompressionError("gzip", "/d/a.gz", "incorrect header check"),
    new errors.FileReadError("/d/a.txt", "ENOENT"),
    new errors.FileWriteError("/d/out/0.txt", "EACCES"),
    new errors.InvalidElementError("/d/out/0.txt", 2, "object"),
    new errors.ElementError("/d/logs.jsonl", 17, "SyntaxError: Unexpected token"),
    new errors.CancelledError("inc-1"),
    new errors.InvalidAddressError("tcp://h", "no port"),
    new errors.ConnectTimeoutError("tcp://127.0.0.1:1", 1234, 7, "connect ECONNREFUSED"),
    new errors.ProtocolVersionError("tcp://127.0.0.1:1", 1, 2),
    new errors.ProtocolError("tcp://127.0.0.1:1", "bad frame count"),
    new errors.CommClosedError("tcp://127.0.0.1:1", "peer closed the connection"),
    new errors.MessageTooLargeError(300, 2, 100, 10),
    new errors.SerializeError(".fn", "a function"),
    new errors.TimeoutError('get from Queue "jobs"', 100),
    new errors.NoClientError("Queue"),
    new errors.UnknownNameError("dataset", "nope"),
    new errors.DatasetExistsError("x"),
    new errors.NotHeldError("lock", "db"),
    new errors.UploadSourceError("./tasks.js", "ENOENT"),
    new errors.UploadTooLargeError("/app", 300, 100),
    new errors.UploadError("file:///app/tasks.js", [{ worker: "tcp://127.0.0.1:1", reason: "SyntaxError: Unexpected token" }]),
    new errors.NoValidWorkerError("train-1", ["tcp://10.0.0.9:4000"], ["GPU=1"], 2, 60_000),
  ];
}
