/**
 * Dask's bad-input acceptance scenarios (reference §5.2, 32–33), against
 * worker processes on loopback and a scheduler that checks its invariants
 * after every stimulus. Python's "unpicklable" is, in JavaScript, a value
 * the wire cannot carry (a symbol, a function inside an object, a promise,
 * a getter that throws); "undeserializable on the worker" is a function
 * whose module cannot be imported there.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { ModuleResolutionError, SerializeError, TaskError } from "../../../src/core/errors.js";
import { onlyOnTheClient } from "../../fixtures/worker-unloadable.js";
import { killAll } from "../../helpers/cli.js";
import { TestCluster } from "../../helpers/network.js";
import { inc } from "./tasks.js";

let c: TestCluster;
before(async () => {
  c = await TestCluster.start({ workers: 1 });
});
after(async () => {
  await c?.close();
  killAll();
});


/** The cluster still computes, its one worker never left, and the scheduler holds nothing it should not. */
async function healthy(): Promise<void> {
  const f = c.client.submit(inc, 41);
  assert.equal(await f.result(), 42);
  f.release();
  assert.equal(c.server.workerAddresses.length, 1);
  assert.ok(!c.log.some((l) => / removed: /.test(l)), c.log.join("\n"));
}

describe("bad input scenarios", () => {
  it("32 test_robust_unserializable: an argument that cannot be sent fails at the client, naming it; the cluster keeps working", async () => {
    class Tagged {
      readonly tag = Symbol("tag");
    }
    const throwing = Object.defineProperty({}, "secret", {
      enumerable: true,
      get() {
        throw new Error("not readable here");
      },
    });
    const cases: [unknown, RegExp][] = [
      [Symbol("s"), /at args\[1\]: it is a symbol/],
      [{ deep: [1, { fn: (x: number) => x }] }, /at args\[1\]\.deep\[1\]\.fn: it is a function/],
      [new Tagged(), /at args\[1\]\.tag: it is a symbol/],
      [Promise.resolve(1), /at args\[1\]: it is a Promise, which cannot be copied/],
      [throwing, /at args\[1\]: reading it threw Error: not readable here/],
      [Object.assign(new Tagged(), { tag: 1, inner: throwing }), /at args\[1\]\.inner\.secret: reading it threw Error: not readable here/],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => c.client.submit((x: number, v: unknown) => [x, typeof v], 1, value as never),
        (err: unknown) => err instanceof SerializeError && message.test(err.message),
        String(message),
      );
    }
    assert.throws(() => c.client.map((v: unknown) => typeof v, [1, 2, Symbol("third")]), /at items\[2\]: it is a symbol/);
    assert.equal(c.server.shell.state.tasks.size, 0, "nothing reached the scheduler");
    await healthy();
  });

  it("33 test_robust_undeserializable_function: a function whose module cannot load on the worker errs its future with the cause; the cluster stays healthy", async () => {
    const check = (err: Error | undefined): void => {
      assert.ok(err instanceof ModuleResolutionError, String(err));
      assert.match(err.message, /the import failed/);
      assert.ok(err.cause instanceof Error, "the import's own error travels as the cause");
      assert.match(err.cause.message, /cannot be imported on a worker/);
    };
    assert.equal(onlyOnTheClient(2), 4, "it loads here");
    check(await c.client.submit(onlyOnTheClient, 1).exception());
    // ...also as an argument (a function reference the task calls).
    check(await c.client.submit((f: (x: number) => number, x: number) => f(x), onlyOnTheClient, 3).exception());
    await healthy();
  });

  it("33 test_deserialize_error: exceptions the client has no class for still arrive readable", async () => {
    const custom = (): never => {
      class QuotaError extends Error {
        override name = "QuotaError";
        readonly limit = 10;
        readonly token = Symbol("not sendable");
      }
      throw new QuotaError("over quota: 12 of 10");
    };
    const err = await c.client.submit(custom).exception();
    assert.ok(err instanceof TaskError);
    assert.equal(err.remoteName, "QuotaError");
    assert.match(err.message, /QuotaError: over quota: 12 of 10/);
    assert.equal((err.cause as Error).name, "QuotaError");
    assert.match(err.remoteStack, /QuotaError: over quota/);

    const thrownValue = (): never => {
      throw { status: 503, retryAfter: "2s" };
    };
    const err2 = await c.client.submit(thrownValue).exception();
    assert.ok(err2 instanceof TaskError);
    assert.match(err2.message, /a non-Error value was thrown: \{"status":503,"retryAfter":"2s"\}/);
    await healthy();
  });
});
