import { Batch, type BatchHost, type BatchOwner } from './batch';
import { BatchExecutionError, type BatchServingError } from './errors';
import { batchFailed } from './messages';

type Outcome = { ok: true; out: unknown } | { ok: false; error: unknown };

/**
 * What failure isolation needs of the batcher that owns it (batcher.ts, its only user): run a
 * batch, count it, and settle its callers. Named here so that the two files do not import each
 * other; the batcher keeps every settlement, this file only decides which callers are to blame.
 */
export interface Isolating<I, O> extends BatchHost {
  /** Forced shutdown happened: no part runs again. */
  readonly forced: boolean;
  execute(batch: Batch<I, O>, then: (out: unknown) => void, error: (e: unknown) => void): void;
  record(batch: Batch<I, O>, failed: boolean, error?: unknown): void;
  deliver(batch: Batch<I, O>, out: unknown): boolean;
  failAll(batch: Batch<I, O>, error: BatchServingError): void;
  /** Gives a batch made of another's slices its cost (with `.cost`). */
  price(batch: Batch<I, O>): void;
  /**
   * Whether the start gate (rate limit, retryAfterMs pause) lets `part` start, as any batch start:
   * true at once without a gate; else resolves true once counted in the window, or false when no
   * caller of it is left, or shutdown was forced.
   */
  admit(part: Batch<I, O>): true | Promise<boolean>;
  /** `part`, admitted, is over: its place in the rate limit's window starts running out. */
  partDone(part: Batch<I, O>): void;
}

function runOnce<I, O>(batcher: Isolating<I, O>, batch: Batch<I, O>): Promise<Outcome> {
  return new Promise((resolve) =>
    batcher.execute(
      batch,
      (out) => resolve({ ok: true, out }),
      (error) => resolve({ ok: false, error }),
    ),
  );
}

/**
 * `isolateFailures`: a failed batch is cut in two halves by caller and each half re-runs on the
 * same partition, recursively, until the failure is pinned to single callers. Only those fail;
 * the others get their results. Callers that went meanwhile are left out of the re-runs.
 */
export async function bisect<I, O>(batcher: Isolating<I, O>, failed: Batch<I, O>, error: unknown): Promise<void> {
  const live: number[] = [];
  failed.owners.forEach((d: BatchOwner, i) => d.settled || live.push(i));
  if (live.length === 0) return;
  if (live.length === 1 || batcher.forced) {
    batcher.failAll(failed, new BatchExecutionError(batchFailed(batcher.name, failed.size, error), { cause: error }));
    return;
  }
  const middle = live.length >> 1;
  for (const half of [live.slice(0, middle), live.slice(middle)]) {
    const candidate = partOf(batcher, failed, half);
    if (candidate.size === 0) continue;
    let part = candidate;
    // A re-run is a batch start like any other: the rate limit counts it (API.md 9).
    const admitted = batcher.admit(candidate);
    if (admitted !== true) {
      // Not admitted: its callers all left, or forced shutdown failed them.
      if (!(await admitted)) continue;
      // Callers that left while it waited are taken out: their values never run after they settled.
      if (candidate.owners.some((d) => d.settled)) part = partOf(batcher, failed, half);
    }
    const outcome = part.size === 0 ? undefined : await runOnce(batcher, part);
    batcher.partDone(candidate);
    if (!outcome) continue;
    batcher.record(part, !outcome.ok, outcome.ok ? undefined : outcome.error);
    if (outcome.ok) batcher.deliver(part, outcome.out);
    else await bisect(batcher, part, outcome.error);
  }
}

/** The slices of `failed`'s callers at `indices` that are still waiting, as a batch of their own. */
function partOf<I, O>(batcher: Isolating<I, O>, failed: Batch<I, O>, indices: number[]): Batch<I, O> {
  const part = new Batch<I, O>(batcher, failed.batchKey);
  part.partition = failed.partition;
  part.closedBy = failed.closedBy;
  for (const i of indices) if (!failed.owners[i].settled) part.add(failed.owners[i], failed.startOf(i), failed.countOf(i));
  part.trim();
  part.attempt = failed.attempt;
  batcher.price(part);
  return part;
}
