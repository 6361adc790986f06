/*
 * Sizes and small tools shared by the reliability specs.
 *
 * RELIABILITY_SCALE=full (npm run soak) runs the sizes of issue 7; anything else runs the reduced
 * sizes meant for CI (the whole suite in well under 40 s on a shared 2-core machine).
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export const FULL = process.env.RELIABILITY_SCALE === 'full';

/** `full` under `npm run soak`, `ci` otherwise. */
export function scaled<T>(sizes: { ci: T; full: T }): T {
  return FULL ? sizes.full : sizes.ci;
}

export const SCALE_LABEL = FULL ? 'full' : 'ci';

/** mulberry32: a tiny seeded PRNG, so that every run makes the same random choices. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The garbage collector, also when node was not started with --expose-gc (plain `npm test`, CI):
 * V8 hands out `gc` to a context created after the flag is set. Without it a heap reading would
 * count garbage, and a bound on it would fail at random.
 */
function exposeGc(): (() => void) | undefined {
  const own = (globalThis as { gc?: () => void }).gc;
  if (typeof own === 'function') return own;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

const gc = exposeGc();
export const hasGc = gc !== undefined;

/** Heap used after a full collection (several passes, so that weak and finalised objects go too). */
export async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

/** Samples RSS and heap every `ms` until stopped; `peak*` are the highest seen. */
export function memorySampler(ms = 50) {
  const sample = { peakRss: process.memoryUsage().rss, peakHeap: process.memoryUsage().heapUsed };
  const take = () => {
    const m = process.memoryUsage();
    if (m.rss > sample.peakRss) sample.peakRss = m.rss;
    if (m.heapUsed > sample.peakHeap) sample.peakHeap = m.heapUsed;
  };
  const timer = setInterval(take, ms);
  return {
    sample,
    stop() {
      clearInterval(timer);
      take();
      return sample;
    },
  };
}

export const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Busy-waits `ms`: the event loop is blocked meanwhile. */
export function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    /* spin */
  }
}

/**
 * Prints the figures of a spec and, when RELIABILITY_REPORT names a file, merges them into it
 * (JSON, one key per spec), so that `npm run soak` leaves the figures behind for RELIABILITY.md.
 */
export function report(spec: string, figures: Record<string, unknown>): void {
  const line = { spec, scale: SCALE_LABEL, ...figures };
  // eslint-disable-next-line no-console
  console.log(`[reliability] ${JSON.stringify(line)}`);
  const file = process.env.RELIABILITY_REPORT;
  if (!file) return;
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(require('node:fs').readFileSync(file, 'utf8'));
  } catch {
    /* first spec to report */
  }
  all[spec] = line;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(all, null, 2) + '\n');
}
