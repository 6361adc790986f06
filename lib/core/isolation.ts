import { Batch } from './batch';
import type { Batcher } from './batcher';
import { BatchExecutionError } from './errors';
import { batchFailed } from './messages';

type Outcome = { ok: true; out: unknown } | { ok: false; error: unknown };

function runOnce<I, O>(batcher: Batcher<I, O>, batch: Batch<I, O>): Promise<Outcome> {
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
export async function bisect<I, O>(batcher: Batcher<I, O>, failed: Batch<I, O>, error: unknown): Promise<void> {
  const live: number[] = [];
  failed.owners.forEach((d, i) => d.settled || live.push(i));
  if (live.length === 0) return;
  if (live.length === 1 || batcher.forced) {
    batcher.failAll(failed, new BatchExecutionError(batchFailed(batcher.name, failed.size, error), { cause: error }));
    return;
  }
  const middle = live.length >> 1;
  for (const half of [live.slice(0, middle), live.slice(middle)]) {
    const part = new Batch<I, O>(batcher, failed.batchKey);
    part.partition = failed.partition;
    for (const i of half) if (!failed.owners[i].settled) part.add(failed.owners[i], failed.startOf(i), failed.countOf(i));
    part.trim();
    if (part.size === 0) continue;
    const outcome = await runOnce(batcher, part);
    batcher.record(part, !outcome.ok, outcome.ok ? undefined : outcome.error);
    if (outcome.ok) batcher.deliver(part, outcome.out);
    else await bisect(batcher, part, outcome.error);
  }
}
