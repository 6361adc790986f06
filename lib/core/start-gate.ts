import { preciseClock } from './clock';
import { WakeTimer } from './wake-timer';
import type { RateLimit } from './options';
import { RateLimiter, type RateEntry } from './rate-limiter';

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
  private readonly timer = new WakeTimer(() => this.reopen());
  /** Since when the rate limit has held a batch back, or undefined. */
  private heldSince: number | undefined;
  private heldMs = 0;
  /** The window's entries of the batches running now, by batch, and of the one admitted to start. */
  private readonly running = new Map<object, RateEntry>();
  private admitted: RateEntry | undefined;

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
    this.timer.wakeAt(until);
  }

  /**
   * Whether a pause holds every start back now. A timer can fire up to a millisecond before
   * performance.now() reaches its time (Node counts timers from the loop's cached clock): the pause
   * then still holds, and is woken again, or nothing would ever start.
   */
  paused(): boolean {
    if (this.pausedUntil <= preciseClock()) return false;
    this.timer.wakeAt(this.pausedUntil);
    return true;
  }

  /**
   * True when a batch of `cost` may start now, counting it in the window (see `started`); else
   * false, and `reopen` is called when it may. A running batch that finishes, or a share that
   * arrives, reopens through the batcher's own pump.
   */
  admit(cost: number): boolean {
    const limiter = this.limiter;
    if (!limiter) return true;
    const now = preciseClock();
    // Admitted but never started (nothing was left to take): it ran for no time.
    if (this.admitted) this.admitted.finishedAt = now;
    this.admitted = undefined;
    const delay = limiter.delay(cost, now);
    if (delay > 0) {
      this.heldSince ??= now;
      if (delay !== Infinity) this.timer.wakeAt(now + delay);
      return false;
    }
    this.release(now);
    this.admitted = limiter.record(cost);
    return true;
  }

  /** The batch just admitted starts: its place in the window is kept until it `finished`. */
  started(batch: object): void {
    if (!this.admitted) return;
    this.running.set(batch, this.admitted);
    this.admitted = undefined;
  }

  /** `batch` finished (or failed): its place in the window runs out `per` ms from now. */
  finished(batch: object): void {
    const entry = this.running.get(batch);
    if (!entry) return;
    entry.finishedAt = preciseClock();
    this.running.delete(batch);
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
    this.timer.clear();
  }

  private release(now: number): void {
    if (this.heldSince === undefined) return;
    this.heldMs += now - this.heldSince;
    this.heldSince = undefined;
  }
}
