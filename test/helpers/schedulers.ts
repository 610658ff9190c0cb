/**
 * The schedulers a collection test runs on: `sync`, and an embedded cluster
 * of two worker threads started before the file's tests and closed after.
 * Call at the top level of a test file.
 */
import { after, before } from "node:test";
import { LocalCluster } from "../../src/distributed.js";
import type { Scheduler } from "../../src/scheduler/types.js";

/** A scheduler under test: a label for test names, and a getter (the cluster exists only once `before` ran). */
export type SchedulerTarget = readonly [label: string, scheduler: () => Scheduler | "sync"];

export function syncAndEmbedded(): { targets: readonly SchedulerTarget[]; cluster: () => LocalCluster } {
  let cluster: LocalCluster | undefined;
  before(async () => {
    cluster = await LocalCluster.start({ workers: 2 });
  });
  after(async () => {
    await cluster?.close();
  });
  const get = (): LocalCluster => {
    if (cluster === undefined) throw new Error("the embedded cluster is started in before(): use it inside tests");
    return cluster;
  };
  return { targets: [["sync", () => "sync"], ["embedded", get]], cluster: get };
}
