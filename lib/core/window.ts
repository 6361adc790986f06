/*
 * The window of a forming batch, as one state value, and the estimate the adaptive window closes
 * by. The batcher owns the transitions (batcher.ts: openWindow, expire, retire) and decides
 * "due" in one place (Batcher.isDue); this file holds what those read.
 */

/** Why a batch closed: telemetry's `closedBy` on 'start' events. */
export type ClosedBy = 'size' | 'cost' | 'timeout' | 'adaptive' | 'shutdown';

/**
 * The window of one key queue:
 * - `none`: nothing waits, no timer;
 * - `open`: values wait, the first of them at most `batchTimeout` ago; a timer (or the end of the
 *   turn, for batchTimeout 0) will expire it;
 * - `timeout` / `adaptive` / `shutdown`: expired, and why. An expired window makes its key due:
 *   the forming batch starts as soon as a partition is free, and keeps filling until then.
 */
export type WindowState = 'none' | 'open' | Exclude<ClosedBy, 'size' | 'cost'>;

/** Which window policy a serving uses (ServingOptions.window). */
export type WindowPolicy = 'fixed' | 'adaptive';

/** Weight of the newest sample in the moving average of gaps between arrival turns. */
const ALPHA = 0.25;

/**
 * The recent arrivals of one batch key, for `window: 'adaptive'`: a moving average of the time
 * between the event-loop turns in which values of the key arrived. Values that arrive in one turn
 * are one burst, not a rate: they are all in the forming batch already. A turn whose first value
 * found the serving idle (nothing queued, nothing executing) counts as a gap of at least
 * `batchTimeout`: everything before it had drained, so waiting would not have brought it sooner.
 * This is what keeps a lone caller in a loop from being held: its next value only comes after
 * its last result.
 */
export class ArrivalRate {
  /** Estimated ms until the next arrival turn. Starts at `batchTimeout`: no history, no wait. */
  private gap: number;
  private lastTurn = -1;

  constructor(private readonly batchTimeout: number) {
    this.gap = batchTimeout;
  }

  /** A value arrived at `now` (ms, the turn's stamp); `idle` when the serving had nothing in flight. */
  arrived(now: number, idle: boolean): void {
    if (now === this.lastTurn) return;
    const since = this.lastTurn < 0 ? this.batchTimeout : now - this.lastTurn;
    const sample = idle && since < this.batchTimeout ? this.batchTimeout : since;
    this.gap += (sample - this.gap) * ALPHA;
    this.lastTurn = now;
  }

  /** True when another arrival turn is expected within `remainingMs`: waiting is expected to pay. */
  expectsMore(remainingMs: number): boolean {
    return this.gap < remainingMs;
  }
}
