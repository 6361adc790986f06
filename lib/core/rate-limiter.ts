import type { RateLimit } from './options';

/** One batch started under the limit; it counts in the window until `per` ms after it finished. */
export interface RateEntry {
  readonly cost: number;
  /** When it finished (ms); Infinity while it runs. */
  finishedAt: number;
}

/**
 * `rateLimit` as a sliding window: a batch may start when, with it, the batches in the window
 * number at most `batches` and cost at most `cost`. A provider counts its per-minute limits this
 * way, so a fixed window (reset on the minute) would let twice the limit through around a reset.
 *
 * A batch stays in the window from its start until `per` ms after it finished, not after it
 * started: the provider counts the request at some moment in between (when it arrives), which a
 * busy event loop or network can put well after the start. Counted to the finish, the window
 * here always covers the provider's, at the price of the call's duration per window.
 *
 * `share` (0 to 1) is this member's part of a fleet-wide limit; alone it is 1. At 0 nothing starts.
 */
export class RateLimiter {
  /** The batches in the window, oldest start first. */
  private entries: RateEntry[] = [];
  private head = 0;
  private shareOf = 1;

  constructor(readonly limit: Readonly<RateLimit>) {}

  get share(): number {
    return this.shareOf;
  }

  /** This member's part of a fleet-wide limit, from 0 to 1. */
  set share(share: number) {
    this.shareOf = Math.min(1, Math.max(share, 0));
  }

  /** Most batches in a window, for this member. */
  get batches(): number {
    return this.limit.batches === undefined ? Infinity : Math.floor(this.limit.batches * this.shareOf + 1e-9);
  }

  /** Most cost in a window, for this member: also the most one batch may cost. */
  get cost(): number {
    return this.limit.cost === undefined ? Infinity : this.limit.cost * this.shareOf;
  }

  /**
   * In how many ms a batch of `cost` may start; 0 means now, Infinity not before a running batch
   * finishes (or, at share 0, a share arrives). A batch that costs more than this member's whole
   * window (a share smaller than one batch) waits for an empty window: late rather than never.
   * Likewise a share under one batch still lets one through per window.
   */
  delay(cost: number, now: number): number {
    if (this.shareOf === 0) return Infinity;
    this.expire(now);
    const batches = Math.max(1, this.batches);
    const budget = this.cost;
    let count = this.entries.length - this.head;
    let windowCost = 0;
    for (let i = this.head; i < this.entries.length; i++) windowCost += this.entries[i].cost;
    // Oldest first, entries leave until the batch fits; it may start when the last of them has left.
    let at = now;
    for (let i = this.head; count > 0 && (count + 1 > batches || windowCost + cost > budget + 1e-9); i++) {
      const entry = this.entries[i];
      at = Math.max(at, entry.finishedAt + this.limit.per);
      count--;
      windowCost -= entry.cost;
    }
    return at - now;
  }

  /** A batch of `cost` starts now; finish the entry when it has finished. */
  record(cost: number): RateEntry {
    const entry: RateEntry = { cost, finishedAt: Infinity };
    this.entries.push(entry);
    return entry;
  }

  /** Batches in the window at `now`, and their cost. */
  used(now: number): { batches: number; cost: number } {
    this.expire(now);
    let cost = 0;
    for (let i = this.head; i < this.entries.length; i++) cost += this.entries[i].cost;
    return { batches: this.entries.length - this.head, cost };
  }

  /** Drops entries from the front that have left the window; one still running holds those behind it (they count, which is safe). */
  private expire(now: number): void {
    const entries = this.entries;
    while (this.head < entries.length && entries[this.head].finishedAt + this.limit.per <= now) this.head++;
    if (this.head === entries.length) {
      entries.length = 0;
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= entries.length) {
      this.entries = entries.slice(this.head);
      this.head = 0;
    }
  }
}
