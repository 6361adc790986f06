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
    const part = new Batch<I, O>(batcher, failed.batchKey);
    part.partition = failed.partition;
    part.closedBy = failed.closedBy;
    for (const i of half) if (!failed.owners[i].settled) part.add(failed.owners[i], failed.startOf(i), failed.countOf(i));
    part.trim();
    if (part.size === 0) continue;
    part.attempt = failed.attempt;
    batcher.price(part);
    const outcome = await runOnce(batcher, part);
    batcher.record(part, !outcome.ok, outcome.ok ? undefined : outcome.error);
    if (outcome.ok) batcher.deliver(part, outcome.out);
    else await bisect(batcher, part, outcome.error);
  }
}
