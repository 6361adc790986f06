import type { RateLimit } from './options';

/**
 * `rateLimit` as a sliding window: a batch may start at `now` when the batches started in
 * `(now - per, now]`, with it, number at most `batches` and cost at most `cost`. A provider counts
 * its per-minute limits this way, so a fixed window (reset on the minute) would let twice the
 * limit through around a reset.
 *
 * `share` (0 to 1) is this member's part of a fleet-wide limit; alone it is 1. At 0 nothing starts.
 */
export class RateLimiter {
  /** Start times and costs of the batches still in the window, oldest first, in a ring. */
  private times: number[] = [];
  private costs: number[] = [];
  private head = 0;
  private count = 0;
  /** Cost of the batches in the window. */
  private windowCost = 0;
  private shareOf = 1;

  constructor(readonly limit: Readonly<RateLimit>) {}

  get share(): number {
    return this.shareOf;
  }

  /** This member's part of a fleet-wide limit, from 0 to 1. */
  set share(share: number) {
    this.shareOf = Math.min(1, Math.max(share, 0));
  }

  /** Most batch starts in a window, for this member. */
  get batches(): number {
    return this.limit.batches === undefined ? Infinity : Math.floor(this.limit.batches * this.shareOf + 1e-9);
  }

  /** Most cost started in a window, for this member: also the most one batch may cost. */
  get cost(): number {
    return this.limit.cost === undefined ? Infinity : this.limit.cost * this.shareOf;
  }

  /**
   * In how many ms a batch of `cost` may start; 0 means now. A batch that costs more than this
   * member's whole window (a share smaller than one batch) waits for an empty window, so that it
   * is late rather than never. Infinity while the share is 0: wait for a share.
   */
  delay(cost: number, now: number): number {
    if (this.shareOf === 0) return Infinity;
    this.expire(now);
    // A share under one batch still lets one through per window: late rather than never.
    const batches = Math.max(1, this.batches);
    const budget = this.cost;
    // Walk the window from its oldest start until enough of it has left.
    let leftCount = this.count;
    let leftCost = this.windowCost;
    let i = 0;
    while (leftCount > 0 && (leftCount + 1 > batches || leftCost + cost > budget + 1e-9)) {
      leftCount--;
      leftCost -= this.costs[(this.head + i++) % this.times.length];
    }
    if (i === 0) return 0;
    // Entry i-1 must have left: it leaves `per` ms after it started.
    return Math.max(0, this.times[(this.head + i - 1) % this.times.length] + this.limit.per - now);
  }

  /** A batch of `cost` started at `now`. */
  record(cost: number, now: number): void {
    this.expire(now);
    if (this.count === this.times.length) this.grow();
    const at = (this.head + this.count++) % this.times.length;
    this.times[at] = now;
    this.costs[at] = cost;
    this.windowCost += cost;
  }

  /** Batches started in the window ending at `now`, and their cost. */
  used(now: number): { batches: number; cost: number } {
    this.expire(now);
    return { batches: this.count, cost: this.windowCost };
  }

  private expire(now: number): void {
    while (this.count > 0 && this.times[this.head] + this.limit.per <= now) {
      this.windowCost -= this.costs[this.head];
      this.head = (this.head + 1) % this.times.length;
      this.count--;
    }
    // Sums of floats drift: an empty window costs exactly nothing.
    if (this.count === 0) this.windowCost = 0;
  }

  private grow(): void {
    const size = Math.max(8, this.times.length * 2);
    const times = new Array<number>(size);
    const costs = new Array<number>(size);
    for (let i = 0; i < this.count; i++) {
      times[i] = this.times[(this.head + i) % this.times.length];
      costs[i] = this.costs[(this.head + i) % this.times.length];
    }
    this.times = times;
    this.costs = costs;
    this.head = 0;
  }
}
