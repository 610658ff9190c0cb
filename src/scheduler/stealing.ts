/**
 * Work stealing: which tasks to move from overloaded workers to idle ones.
 *
 * Placement decides once, when a task becomes ready, from what it knows
 * then; work piles up on a worker when tasks follow their inputs there or
 * when durations turn out longer than guessed. Every balance round (the
 * shell's timer, ~100 ms) this plan looks for:
 *
 * - thieves: workers with an idle thread;
 * - victims: workers with more tasks than threads, busiest first;
 * - candidates: a victim's tasks that will run last (lowest priority), not
 *   yet started as far as the scheduler knows, not holding a root-task slot
 *   (the queue already spreads those) and not already being stolen.
 *
 * A task moves when the thief would finish it sooner than the victim would
 * start it, counting the thief's backlog, the transfer of inputs the thief
 * lacks and a fixed cost for the extra messages:
 * `thiefLoad + transfer + d ≤ victimLoad − d/2`, where loads are seconds of
 * work per thread and `d` the task's expected duration; the half-duration
 * margin stops tasks bouncing between workers of nearly equal load. Tasks
 * whose moving costs more than {@link MAX_COST_RATIO} times their run are
 * left alone: stealing them would only add traffic.
 *
 * The plan is pure and only proposes: the scheduler asks the victim, which
 * gives the task up only if it has not started (see `steal-request`).
 *
 * @module
 */
import { comparePriority } from "./messages.js";
import type { SchedulerTask, SchedulerWorker } from "./state.js";

/** One proposed move. */
export interface StealMove {
  readonly task: SchedulerTask;
  readonly victim: SchedulerWorker;
  readonly thief: SchedulerWorker;
}

/** What moving a task costs besides its inputs: a request, an answer and a new assignment (seconds). */
export const STEAL_LATENCY = 0.001;
/** Moving is pointless past this many times the task's own run time. */
export const MAX_COST_RATIO = 16;
/** Bytes per second assumed for fetching inputs (as placement assumes). */
const BANDWIDTH = 1e9;

/** Inputs: the workers, moves already asked for, and the scheduler's own rules. */
export interface StealContext {
  readonly workers: readonly SchedulerWorker[];
  /** Moves asked for and not yet answered: their duration already counts on the thief, not the victim. */
  readonly inFlight: Iterable<StealMove>;
  /** May the task run on the worker now (restrictions, free resources)? */
  readonly fits: (ts: SchedulerTask, ws: SchedulerWorker) => boolean;
  /** Expected seconds of a task. */
  readonly duration: (ts: SchedulerTask) => number;
}

/** The moves that would balance the workers now (see the module comment). */
export function planSteals(ctx: StealContext): StealMove[] {
  const thieves = ctx.workers.filter((w) => w.processing.size < w.nthreads);
  if (thieves.length === 0) return [];
  const victims = ctx.workers.filter((w) => w.processing.size > w.nthreads);
  if (victims.length === 0) return [];
  // Loads from today's duration estimates: a worker's running occupancy still counts the guesses
  // its tasks were placed with, which is exactly what stealing corrects.
  const load = new Map<SchedulerWorker, number>();
  for (const w of ctx.workers) {
    let seconds = 0;
    for (const t of w.processing) seconds += ctx.duration(t);
    load.set(w, seconds / w.nthreads);
  }
  const stealing = new Set<SchedulerTask>();
  for (const m of ctx.inFlight) {
    stealing.add(m.task);
    const d = ctx.duration(m.task);
    load.set(m.victim, (load.get(m.victim) ?? 0) - d / m.victim.nthreads);
    load.set(m.thief, (load.get(m.thief) ?? 0) + d / m.thief.nthreads);
  }
  victims.sort((a, b) => load.get(b)! - load.get(a)!);
  const moves: StealMove[] = [];
  for (const victim of victims) {
    // The tasks the victim will run last; the first `nthreads` by priority are likely running.
    const queue = [...victim.processing].filter((t) => !t.rootSlot && !stealing.has(t));
    queue.sort((a, b) => comparePriority(b.priority, a.priority));
    const movable = Math.min(queue.length, victim.processing.size - victim.nthreads);
    for (let i = 0; i < movable; i++) {
      const ts = queue[i]!;
      const d = ctx.duration(ts);
      let best: SchedulerWorker | undefined;
      let bestDone = Infinity;
      for (const thief of thieves) {
        if (!ctx.fits(ts, thief)) continue;
        const cost = transferSeconds(ts, thief) + STEAL_LATENCY;
        if (cost > MAX_COST_RATIO * d) continue;
        const done = load.get(thief)! + cost + d;
        if (done < bestDone) {
          best = thief;
          bestDone = done;
        }
      }
      if (best === undefined || bestDone > load.get(victim)! - d / 2) continue;
      moves.push({ task: ts, victim, thief: best });
      load.set(victim, load.get(victim)! - d / victim.nthreads);
      load.set(best, load.get(best)! + d / best.nthreads);
    }
  }
  return moves;
}

/** Seconds to bring a task's inputs to `ws`. */
function transferSeconds(ts: SchedulerTask, ws: SchedulerWorker): number {
  let bytes = 0;
  for (const d of ts.dependencies) if (!d.whoHas.has(ws)) bytes += d.nbytes;
  return bytes / BANDWIDTH;
}
