import { preciseClock } from './clock';
import { MAX_TIMER_MS } from './clock';
import type { RateLimit } from './options';
import { RateLimiter } from './rate-limiter';

/**
 * What, besides a free partition, a batch needs to start: the rate limit to allow its cost, and
 * no pause for a provider's `retryAfterMs` to be running. When either holds batches back, one
 * timer calls `reopen` at the time they may start; `throttledMs` counts the time the rate limit
 * held a batch back.
 */
export class StartGate {
  readonly limiter: RateLimiter | undefined;
  /** `retryAfterMs` asked for a pause of the whole serving until then (preciseClock ms). */
  private pausedUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** Since when the rate limit has held a batch back, or undefined. */
  private heldSince: number | undefined;
  private heldMs = 0;

  constructor(
    rateLimit: RateLimit | undefined,
    private readonly reopen: () => void,
  ) {
    this.limiter = rateLimit ? new RateLimiter(rateLimit) : undefined;
  }

  /** No batch starts for `ms`, on any partition. */
  pause(ms: number): void {
    const until = preciseClock() + ms;
    if (until <= this.pausedUntil) return;
    this.pausedUntil = until;
    this.wakeAt(until);
  }

  /** Whether a pause holds every start back now. */
  paused(): boolean {
    return this.pausedUntil > preciseClock();
  }

  /**
   * True when a batch of `cost` may start now, counting it as started; else false, and `reopen`
   * is called when it may (or when a share arrives, through `rateShare`).
   */
  admit(cost: number): boolean {
    const limiter = this.limiter;
    if (!limiter) return true;
    const now = preciseClock();
    const delay = limiter.delay(cost, now);
    if (delay > 0) {
      this.heldSince ??= now;
      if (delay !== Infinity) this.wakeAt(now + delay);
      return false;
    }
    this.release(now);
    limiter.record(cost, now);
    return true;
  }

  /** Nothing waits for the rate limit any more (the held batch's callers all left). */
  idle(): void {
    this.release(preciseClock());
  }

  /** Time batches were held back by the rate limit, a hold still running included. */
  get throttledMs(): number {
    return this.heldMs + (this.heldSince === undefined ? 0 : preciseClock() - this.heldSince);
  }

  /** This member's part of a fleet-wide limit; batches held back are looked at again. */
  rateShare(share: number): void {
    if (!this.limiter || this.limiter.share === share) return;
    this.limiter.share = share;
    this.reopen();
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private release(now: number): void {
    if (this.heldSince === undefined) return;
    this.heldMs += now - this.heldSince;
    this.heldSince = undefined;
  }

  private wakeAt(at: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    // Whole milliseconds, rounded up: a timer that fires a fraction early would find the gate still shut.
    this.timer = setTimeout(() => this.fire(), Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - preciseClock()))));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.reopen();
  }
}
