import { Batch, type BatchHost } from './batch';
import type { CostBudget } from './cost-budget';

/** A failed batch that is to run again, and when it may. */
interface Pending {
  readonly from: Batch;
  readonly attempt: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Batches waiting to run again: after a backoff or a provider's `retryAfterMs`, or at once (the
 * halves of a split). A batch is rebuilt when it is about to start, from the callers it still
 * has, so that a value whose caller settled meanwhile (timed out, aborted) never runs again.
 */
export class RetryQueue {
  /** Due now, oldest first. */
  private readonly ready: Pending[] = [];
  private readonly waiting = new Set<Pending>();
  /** Values waiting to run again, as they were put in (for stats().queued). */
  values = 0;

  constructor(
    private readonly host: BatchHost,
    private readonly budget: CostBudget | undefined,
    /** A waiting batch became due: start what may start. */
    private readonly wake: () => void,
  ) {}

  get size(): number {
    return this.ready.length + this.waiting.size;
  }

  /** `from` runs again as `attempt`, in `delayMs` (at once when 0). */
  add(from: Batch, attempt: number, delayMs: number): void {
    const pending: Pending = { from, attempt, timer: undefined };
    this.values += from.size;
    if (delayMs <= 0) {
      this.ready.push(pending);
      return;
    }
    this.waiting.add(pending);
    // Whole milliseconds, rounded up: never earlier than asked (a provider's retry-after).
    pending.timer = setTimeout(() => {
      this.waiting.delete(pending);
      this.ready.push(pending);
      this.wake();
    }, Math.ceil(delayMs));
  }

  /** The next batch due, rebuilt from the callers still there; undefined when none is due. */
  peek(): Batch | undefined {
    while (this.ready.length > 0) {
      const batch = this.rebuild(this.ready[0]);
      if (batch) return batch;
      this.take();
    }
    return undefined;
  }

  /** The batch `peek` gave starts. */
  take(): void {
    this.values -= this.ready.shift()!.from.size;
  }

  /** Every batch waiting, with its timer stopped: shutdown fails their callers. */
  drain(): Batch[] {
    const all = [...this.ready, ...this.waiting];
    for (const pending of this.waiting) clearTimeout(pending.timer);
    this.ready.length = 0;
    this.waiting.clear();
    this.values = 0;
    return all.map((pending) => pending.from);
  }

  private rebuild({ from, attempt }: Pending): Batch | undefined {
    const batch = new Batch(this.host, from.batchKey);
    for (let i = 0; i < from.owners.length; i++) {
      if (!from.owners[i].settled) batch.add(from.owners[i], from.startOf(i), from.countOf(i));
    }
    if (batch.size === 0) return undefined;
    batch.trim();
    batch.attempt = attempt;
    batch.priority = from.priority;
    this.budget?.price(batch);
    return batch;
  }
}

/**
 * The two halves of `batch` by value, its settled callers left out (a caller's values may be cut
 * between them); undefined when fewer than two values are live. Their cost and attempt are set
 * when they are rebuilt to start (RetryQueue).
 */
export function halves(host: BatchHost, batch: Batch): [Batch, Batch] | undefined {
  let live = 0;
  for (let i = 0; i < batch.owners.length; i++) if (!batch.owners[i].settled) live += batch.countOf(i);
  if (live < 2) return undefined;
  const parts: [Batch, Batch] = [new Batch(host, batch.batchKey), new Batch(host, batch.batchKey)];
  parts[0].priority = parts[1].priority = batch.priority;
  let space = live >> 1;
  let part = 0;
  for (let i = 0; i < batch.owners.length; i++) {
    const owner = batch.owners[i];
    if (owner.settled) continue;
    let start = batch.startOf(i);
    let count = batch.countOf(i);
    while (count > 0) {
      const n = part === 0 ? Math.min(count, space) : count;
      if (n > 0) parts[part].add(owner, start, n);
      start += n;
      count -= n;
      space -= n;
      if (part === 0 && space === 0) part = 1;
    }
  }
  for (const half of parts) half.trim();
  return parts;
}
