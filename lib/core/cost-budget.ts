import type { Batch, BatchOwner } from './batch';
import type { QueuedDispatch } from './dispatch';
import type { KeyQueue } from './key-queue';
import { InvalidInputError } from './errors';
import * as messages from './messages';
import type { ServingOptions } from './options';

/** The dispatch that owns values: a batch's or a key queue's owners are dispatches, whose extras keep the costs. */
type Owner = BatchOwner;

const costsOf = (owner: Owner): number[] | undefined => (owner as QueuedDispatch<unknown, unknown>).extras?.costs;

/**
 * The cost side of a serving with `.cost`, `maxBatchCost` or `rateLimit.cost`: each value's cost,
 * worked out once when its dispatch arrives and kept on the dispatch, and the most one batch may
 * cost. Without `.cost` every value costs 1 and nothing is kept.
 */
export class CostBudget {
  /** Values have a cost of their own (`.cost`); else each costs 1. */
  readonly counted: boolean;
  /** The most one batch may cost: maxBatchCost, else rateLimit.cost (a bigger batch could never start). */
  readonly cap: number;
  private readonly capName: string;

  constructor(
    private readonly name: string,
    private readonly costOf: ((value: unknown) => number) | undefined,
    options: ServingOptions,
  ) {
    this.counted = costOf !== undefined;
    this.cap = options.maxBatchCost ?? options.rateLimit?.cost ?? Infinity;
    this.capName = options.maxBatchCost !== undefined ? 'maxBatchCost' : 'rateLimit.cost';
  }

  /**
   * Costs every value of `d` and keeps the costs on it. The error to fail the whole dispatch
   * with, at once, when a cost is not a finite number of at least 0 or is over the cap: such a
   * value could never be in a batch, and must not sit at the head of the queue.
   */
  assess(d: Owner): InvalidInputError | undefined {
    const costOf = this.costOf;
    if (!costOf) return undefined;
    const n = d.end;
    const costs = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      let cost: number;
      try {
        cost = costOf(n === 1 ? d.value : d.values[i]);
      } catch (cause) {
        return new InvalidInputError(messages.costFailed(this.name, i, cause), { cause });
      }
      if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0) return new InvalidInputError(messages.costInvalid(this.name, i, cost));
      if (cost > this.cap) return new InvalidInputError(messages.costOverBudget(this.name, i, cost, this.capName, this.cap));
      costs[i] = cost;
    }
    ((d as QueuedDispatch<unknown, unknown>).extras ??= {}).costs = costs;
    return undefined;
  }

  /** Cost of `count` values of `owner` from `start`. */
  of(owner: Owner, start: number, count: number): number {
    const costs = costsOf(owner);
    if (!costs) return count;
    let sum = 0;
    for (let i = start, end = start + count; i < end; i++) sum += costs[i];
    return sum;
  }

  /** Sets `batch.costSum` from its slices, with `.cost` (else its cost is its size). */
  price(batch: Batch): void {
    if (!this.counted) return;
    let cost = 0;
    for (let i = 0; i < batch.owners.length; i++) cost += this.of(batch.owners[i], batch.startOf(i), batch.countOf(i));
    batch.costSum = cost;
  }

  /**
   * What the next batch of `key` takes: its first values in the order batches take them, at most
   * `max` of them and at most `cap` in cost. `byCost` when the cost closed it: a value was left
   * for the next batch because it would have gone over the cap, or the cap is reached exactly.
   */
  fit(key: KeyQueue, max: number): BatchFit {
    const cap = this.cap;
    if (!this.counted) {
      const count = Math.min(max, key.queued, Math.floor(cap));
      return { count, cost: count, byCost: count < Math.min(max, key.queued) };
    }
    let count = 0;
    let cost = 0;
    for (const slab of key.slabs()) {
      const { runs, starts, counts } = slab;
      for (let s = slab.sliceHead; s < slab.slices; s++) {
        const owner = runs[s]!.dispatch;
        // Values of settled dispatches are withdrawn: they wait for compaction, not for a batch.
        if (owner.settled) continue;
        const costs = costsOf(owner)!;
        for (let i = starts ? starts[s] : 0, end = i + (counts ? counts[s] : 1); i < end; i++) {
          if (count === max) return { count, cost, byCost: false };
          if (cost + costs[i] > cap) return { count, cost, byCost: true };
          count++;
          cost += costs[i];
        }
      }
    }
    return { count, cost, byCost: cost >= cap };
  }
}

/** How many values the next batch of a key takes, and their cost. */
export interface BatchFit {
  count: number;
  cost: number;
  byCost: boolean;
}
