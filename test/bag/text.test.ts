/**
 * `readText` and `toTextfiles` on real files: globs, compression, blocks,
 * the path and line of a bad line, and round trips. Runs on the embedded
 * cluster (workers read the files) and on `sync`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync, gunzipSync } from "node:zlib";

import * as db from "../../src/bag.js";
import { ElementError, NoFilesFoundError, TaskError, UnknownCompressionError } from "../../src/core/errors.js";
import type { Scheduler } from "../../src/scheduler/types.js";
import { syncAndEmbedded } from "../helpers/schedulers.js";

const { targets } = syncAndEmbedded();
let dir: string;
const names = ["Ada", "Bob", "Cy", "Ada", "Dee", "Ada", "Bob"];
const records = Array.from({ length: 70 }, (_, i) => ({ id: i, name: names[i % names.length]!, amount: i * 1.5 }));

before(() => {
  dir = mkdtempSync(join(tmpdir(), "dask-ts-bag-text-"));
  // Three files: two plain, one gzip; the last line of one has no newline.
  const lines = records.map((r) => JSON.stringify(r));
  writeFileSync(join(dir, "logs-0.jsonl"), lines.slice(0, 30).join("\n") + "\n");
  writeFileSync(join(dir, "logs-1.jsonl"), lines.slice(30, 50).join("\r\n"));
  writeFileSync(join(dir, "logs-2.jsonl.gz"), gzipSync(lines.slice(50).join("\n") + "\n"));
  writeFileSync(join(dir, "bad.jsonl"), ['{"a": 1}', '{"a": 2}', "{oops", '{"a": 4}'].join("\n") + "\n");
  writeFileSync(join(dir, "data.unknownz"), "x\n");
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});


for (const [label, sched] of targets) {
  describe(`text files on ${label}`, () => {
    const opts = (): { scheduler: Scheduler | "sync" } => ({ scheduler: sched() });

    it("reads globs, plain and gzip, one partition per file, lines without endings", async () => {
      const b = db.readText(join(dir, "logs-*.jsonl*"));
      assert.equal(b.npartitions, 3);
      const lines = await b.compute(opts());
      assert.equal(lines.length, 70);
      assert.deepEqual(lines.map((l) => JSON.parse(l)), records);
      assert.ok(lines.every((l) => !l.endsWith("\n") && !l.endsWith("\r")));
    });

    it("decodes bz2, xz and zstd by extension, several streams per file too", async () => {
      const fixtures = new URL("../../../test/fixtures/bag/", import.meta.url);
      for (const ext of ["bz2", "xz", "zst"]) {
        const lines = await db.readText(fileURLToPath(new URL(`multi.txt.${ext}`, fixtures))).compute(opts());
        assert.deepEqual(lines, ["alpha", "beta ünïcødé €", "gamma", "delta 😀"], ext);
      }
    });

    it("runs the issue's pipeline: parse, pluck, frequencies, topk", async () => {
      const top = await db
        .readText(join(dir, "logs-*.jsonl*"))
        .map(JSON.parse)
        .pluck("name")
        .frequencies()
        .topk(2, ([, n]) => n)
        .compute(opts());
      assert.deepEqual(top, [["Ada", 30], ["Bob", 20]]);
    });

    it("splits uncompressed files into blocks at line boundaries", async () => {
      const whole = await db.readText(join(dir, "logs-0.jsonl")).compute(opts());
      const blocks = db.readText(join(dir, "logs-0.jsonl"), { blocksize: 200 });
      assert.ok(blocks.npartitions > 3, `${blocks.npartitions} blocks`);
      assert.deepEqual(await blocks.compute(opts()), whole);
      // Compressed files are never split.
      assert.equal(db.readText(join(dir, "logs-2.jsonl.gz"), { blocksize: 10 }).npartitions, 1);
    });

    it("keeps line endings on request and pairs lines with their path", async () => {
      const kept = await db.readText(join(dir, "logs-1.jsonl"), { keepEndings: true }).compute(opts());
      assert.ok(kept[0]!.endsWith("\r\n"));
      assert.ok(!kept[kept.length - 1]!.endsWith("\n"));
      const withPath = await db.readText(join(dir, "logs-0.jsonl"), { includePath: true }).take(2, opts());
      assert.deepEqual(withPath.map(([, p]) => p), [join(dir, "logs-0.jsonl"), join(dir, "logs-0.jsonl")]);
    });

    it("a malformed line fails with the file name and line number", async () => {
      for (const blocksize of [undefined, 12]) {
        const b = db.readText(join(dir, "bad.jsonl"), blocksize === undefined ? {} : { blocksize }).map(JSON.parse);
        await assert.rejects(b.compute(opts()), (err: unknown) => {
          assert.ok(err instanceof TaskError, String(err));
          assert.match(err.message, /Line 3 of .*bad\.jsonl could not be processed: SyntaxError/);
          assert.ok(err.cause instanceof ElementError);
          assert.equal(err.cause.line, 3);
          assert.equal(err.cause.path, join(dir, "bad.jsonl"));
          return true;
        });
      }
    });

    it("writes text files and reads them back, compressed by extension", async () => {
      const out = join(dir, `out-${label}`);
      const b = db.fromSequence(records, { npartitions: 3 }).map((r) => JSON.stringify(r));
      const paths = await b.toTextfiles(join(out, "part-*.jsonl.gz"), opts());
      assert.deepEqual(paths, [0, 1, 2].map((i) => join(out, `part-${i}.jsonl.gz`)));
      assert.ok(gunzipSync(readFileSync(paths[0]!)).toString().startsWith('{"id":0,'));
      const back = await db.readText(join(out, "*.jsonl.gz")).map(JSON.parse).compute(opts());
      assert.deepEqual(back, records);
      const plain = await db.fromSequence(["a", "b", "c"], { npartitions: 1 }).toTextfiles(join(out, "plain"), { ...opts(), lastEndline: true });
      assert.equal(readFileSync(plain[0]!, "utf8"), "a\nb\nc\n");
      assert.deepEqual(readdirSync(join(out, "plain")), ["0.part"]);
    });
  });
}

describe("text files: bad input", () => {
  it("a glob that matches nothing names the pattern", () => {
    assert.throws(() => db.readText(join(dir, "nothing-*.txt")), (err: unknown) => err instanceof NoFilesFoundError && err.message.includes("nothing-*.txt"));
  });
  it("an unknown compression is refused with the supported ones", () => {
    assert.throws(() => db.readText(join(dir, "logs-0.jsonl"), { compression: "zip" as "gzip" }), UnknownCompressionError);
  });
  it("unknown options are refused", () => {
    assert.throws(() => db.readText(join(dir, "logs-0.jsonl"), { blocksiz: 10 } as unknown as db.ReadTextOptions), /Unknown readText option "blocksiz"/);
  });
  it("non-string elements cannot be written", async () => {
    await assert.rejects(db.fromSequence([{ a: 1 }]).toTextfiles(join(dir, "never-*.txt"), { scheduler: "sync" }), /not a string/);
  });
});
