/**
 * Dask's retries-and-errors acceptance scenarios (reference §5.2, 29–31),
 * against worker processes on loopback and a scheduler that checks its
 * invariants after every stimulus. Tasks count their runs in files (they
 * run in other processes, and retries may land on another worker).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

import { TaskError } from "../../../src/core/errors.js";
import { killAll } from "../../helpers/cli.js";
import { TestCluster } from "../../helpers/network.js";
import { scratchDir } from "./tasks.js";

const path = scratchDir("retries");
let c: TestCluster;
before(async () => {
  c = await TestCluster.start({ workers: 2 });
});
after(async () => {
  await c?.close();
  killAll();
});

/** Runs so far, as counted by the tasks in `file`. */
const runs = (file: string): number => (existsSync(file) ? readFileSync(file, "utf8").length : 0);

/** Attempt n (counted in `file`) returns `outcomes[n]`, or throws it when it is a string `"Class: message"`. */
const varying = async (item: { outcomes: (number | string)[]; file: string }): Promise<number> => {
  const fs = await import("node:fs");
  fs.appendFileSync(item.file, "x");
  const n = fs.readFileSync(item.file, "utf8").length - 1;
  const out = item.outcomes[Math.min(n, item.outcomes.length - 1)]!;
  if (typeof out === "number") return out;
  const [cls, message] = out.split(": ");
  throw cls === "RangeError" ? new RangeError(message) : new TypeError(message);
};

describe("retries and errors scenarios", () => {
  it("29 test_map_retries: retries 2, 1 and 0 over sequences of varying exceptions give exactly the expected value or error", async () => {
    const sequences: (number | string)[][] = [
      ["RangeError: one", 2, 3],
      [4, 5, 6],
      ["TypeError: seven", "RangeError: eight", 9],
    ];
    const expected: Record<number, (number | [string, string])[]> = {
      2: [2, 4, 9],
      1: [2, 4, ["RangeError", "eight"]],
      0: [["RangeError", "one"], 4, ["TypeError", "seven"]],
    };
    for (const retries of [2, 1, 0]) {
      const items = sequences.map((outcomes, i) => ({ outcomes, file: path(`29-${retries}-${i}`) }));
      const fs = c.client.map(varying, items, { retries });
      for (const [i, f] of fs.entries()) {
        const want = expected[retries]![i]!;
        if (typeof want === "number") assert.equal(await f.result(), want, `retries ${retries}, item ${i}`);
        else {
          const err = await f.exception();
          assert.ok(err instanceof TaskError, `retries ${retries}, item ${i}: ${String(err)}`);
          assert.equal(err.remoteName, want[0]);
          assert.equal(err.remoteMessage, want[1]);
          assert.ok(err.cause instanceof Error && err.cause.name === want[0], "the original error, rebuilt as its class");
        }
      }
    }
  });

  it("30 test_retry_dependencies: y.retry() reruns the erred dependency once the configuration is fixed", async () => {
    const config = path("30.json");
    const readConfig = async (path: string): Promise<number> => {
      const fs = await import("node:fs");
      return JSON.parse(fs.readFileSync(path, "utf8")).foo; // throws while the file is missing
    };
    const x = c.client.submit(readConfig, config);
    const y = c.client.submit((v: number) => v + 1, x);
    const err = await y.exception();
    assert.ok(err instanceof TaskError && /ENOENT/.test(err.message), String(err));
    assert.equal(x.status, "error");
    writeFileSync(config, JSON.stringify({ foo: 100 }));
    await y.retry();
    assert.equal(await y.result(), 101);
    assert.equal(await x.result(), 100, "the erred input reran too");
    // Retrying what finished changes nothing.
    await y.retry();
    await x.retry();
    assert.equal(await y.result(), 101);
  });

  it("31 test_dont_recompute_if_erred: asking again for an erred key re-raises its error without running anything", async () => {
    const log = path("31.log");
    const failing = async (x: number, log: string): Promise<number> => {
      (await import("node:fs")).appendFileSync(log, "x");
      throw new RangeError(`bad ${x}`);
    };
    const first = c.client.submit(failing, 1, log);
    await assert.rejects(first.result(), /bad 1/);
    const again = c.client.submit(failing, 1, log);
    assert.equal(again.key, first.key);
    await assert.rejects(again.result(), /bad 1/);
    const dependent = c.client.submit((v: number) => v + 1, again);
    await assert.rejects(dependent.result(), /bad 1/);
    assert.equal(runs(log), 1, "it ran once");
  });

  it("31 test_chained_error_message: the error's cause chain reaches the client", async () => {
    const chained = (x: number): number => {
      try {
        JSON.parse(`{${x}`);
      } catch (inner) {
        throw new Error("could not read the record", { cause: inner });
      }
      return x;
    };
    const err = await c.client.submit(chained, 1).exception();
    assert.ok(err instanceof TaskError);
    const outer = err.cause as Error;
    assert.equal(outer.message, "could not read the record");
    assert.ok(outer.cause instanceof SyntaxError, `the inner cause arrives: ${String(outer.cause)}`);
    assert.match(outer.cause.message, /JSON/);
  });
});
