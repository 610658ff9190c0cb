// What a group of tasks measured outlives the group: the next computation of
// the same function starts pipelining at once instead of at ceil(1.1 × threads).
import { test } from "node:test";
import assert from "node:assert/strict";
import { SchedulerState } from "../../src/scheduler/state.js";
import { lit, task, type Key } from "../../src/core/graph.js";

const inc = { kind: "source", source: "(x) => x + 1", name: "inc" } as const;

function submit(s: SchedulerState, client: string, n: number, token: string) {
  const tasks = Array.from({ length: n }, (_, i) => [`inc-${token}${i.toString(16).padStart(4, "0")}`, task(inc, [lit(i)])] as const);
  return s.handle({ type: "update-graph", client, tasks, keys: tasks.map(([k]) => k), deliver: true, stimulusId: `ug-${client}` });
}
const sent = (out: ReturnType<SchedulerState["handle"]>): Key[] =>
  out.flatMap((i) => (i.to === "worker" && i.msg.op === "compute-task" ? [i.msg.key] : []));

test("a second computation of a measured group is not throttled to ceil(1.1 × threads)", () => {
  const s = new SchedulerState({ validate: true });
  s.handle({ type: "add-worker", address: "w1", nthreads: 1, stimulusId: "w" });
  const first = sent(submit(s, "c1", 100, "aaaaaaaaaaaa"));
  assert.equal(first.length, 2, "unknown durations: ceil(1.1) root tasks");
  // Finish everything with tiny durations.
  let pending = first;
  while (pending.length > 0) {
    const out = s.handleWorkerMessages(
      "w1",
      pending.map((key) => {
        const ts = s.tasks.get(key)!;
        return { op: "task-finished" as const, key, runId: ts.runId, nbytes: 8, duration: 1e-6, delivered: true, value: 1, stimulusId: `f-${key}` };
      }),
    );
    pending = sent(out);
  }
  assert.equal(s.tasks.size, 0);
  const second = sent(submit(s, "c2", 100, "bbbbbbbbbbbb"));
  assert.equal(second.length, 100, "the group's measured duration widened the slots at once");
});
