/**
 * The main demo (`npm start`): the same CPU-bound job — counting primes in
 * 16 ranges — first as plain sequential code, then as a lazy graph with
 * `delayed`, computed on every core by the embedded cluster. Prints both
 * times and the speed-up.
 */
import { availableParallelism } from "node:os";
import { compute, delayed } from "../src/index.js";

// Self-contained (reads nothing from outside), so its source travels to the worker threads.
function countPrimes(lo: number, hi: number): number {
  let count = 0;
  for (let n = Math.max(lo, 2); n < hi; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

const N = 6_000_000;
const CHUNKS = 16;
const ranges = Array.from({ length: CHUNKS }, (_, i) => [Math.floor((i * N) / CHUNKS), Math.floor(((i + 1) * N) / CHUNKS)] as const);

console.log(`Counting primes below ${N.toLocaleString("en")} in ${CHUNKS} chunks on ${availableParallelism()} cores.\n`);

let t0 = performance.now();
const sequential = sum(ranges.map(([lo, hi]) => countPrimes(lo, hi)));
const tSeq = performance.now() - t0;
console.log(`sequential:       ${sequential} primes in ${(tSeq / 1000).toFixed(2)} s`);

// Start the worker threads first, so the timing below is the computation itself.
await compute(delayed(sum)([1]));

t0 = performance.now();
const count = delayed(countPrimes);
const total = delayed(sum)(ranges.map(([lo, hi]) => count(lo, hi)));
const [parallel] = await compute(total);
const tPar = performance.now() - t0;
console.log(`dask-ts (delayed): ${parallel} primes in ${(tPar / 1000).toFixed(2)} s`);

if (parallel !== sequential) {
  console.error("The results differ: this is a bug.");
  process.exitCode = 1;
}
console.log(`\nspeed-up: ${(tSeq / tPar).toFixed(2)}x`);
