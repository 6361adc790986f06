/*
 * The window of a forming batch, as one state value, and the estimates the adaptive window closes
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

/** A window that waited its whole length for nothing sets the estimate this many windows long. */
const IN_VAIN = 4;

/** The key's rate (for "the arrivals fill a batch") forgets arrivals older than about this many windows. */
const RATE_HORIZON = 4;

/** Weight each older batch keeps in the fit of batch time, per newer batch. */
const KEEP = 0.95;

/**
 * The time a batch of the serving takes, fitted as `perBatch + perValue × size` by least squares
 * over the batches it ran (BentoML's dispatcher fits the same model), older ones weighing less
 * (KEEP). With no batch yet it is 0: no history, no wait. While every batch had the same size the
 * whole time is `perBatch`: one more value is assumed to cost nothing more, so waiting is tried,
 * and the batch of another size that results lets the fit tell the two apart.
 */
export class BatchTime {
  /** ms a batch takes whatever its size. */
  perBatch = 0;
  /** ms each value adds. */
  perValue = 0;
  private w = 0;
  private x = 0;
  private y = 0;
  private xx = 0;
  private xy = 0;

  /** A batch of `size` values ran for `ms`. */
  ran(size: number, ms: number): void {
    this.w = this.w * KEEP + 1;
    this.x = this.x * KEEP + size;
    this.y = this.y * KEEP + ms;
    this.xx = this.xx * KEEP + size * size;
    this.xy = this.xy * KEEP + size * ms;
    const spread = this.w * this.xx - this.x * this.x;
    let perValue = spread > 1e-6 * this.w * this.xx ? (this.w * this.xy - this.x * this.y) / spread : 0;
    if (perValue < 0) perValue = 0;
    let perBatch = (this.y - perValue * this.x) / this.w;
    // Time that falls with size is noise: through the origin instead.
    if (perBatch < 0) (perBatch = 0), (perValue = this.xy / this.xx);
    this.perBatch = perBatch;
    this.perValue = perValue;
  }
}

/**
 * The recent arrivals of one batch key, for `window: 'adaptive'`, and the decision they inform.
 *
 * `gap` is a moving average of the time between the event-loop turns in which values of the key
 * arrived. Values that arrive in one turn are one burst, not a rate: they are all in the forming
 * batch already. Two kinds of evidence say that waiting would not have paid, and count as a long
 * gap:
 * - an arrival in a turn in which a batch of the serving finished: callers answering their
 *   results (a lone caller in a loop) come only after their last batch, never while one forms;
 * - a window that waited until `batchTimeout` with no arrival after the turn it opened in.
 *
 * The key's rate, `seen / seenMs`, is values per ms over the last few windows, from arrivals
 * outside answering turns (a caller in a loop arrives as fast as it is answered, which says
 * nothing of the load).
 */
export class ArrivalRate {
  /** Estimated ms until the next arrival turn. Starts at `batchTimeout`: no history, no wait. */
  private gap: number;
  /** The stamp (ms) of the last turn in which a value arrived. */
  lastTurn = -1;
  /** Values that arrived outside answering turns, and the ms they arrived over, both decaying. */
  private seen = 0;
  private seenMs = 0;
  private seenAt = -1;

  constructor(private readonly batchTimeout: number) {
    this.gap = batchTimeout;
  }

  /** `count` values arrived at `now` (ms, the turn's stamp); `answering` when a batch finished in this turn. */
  arrived(now: number, answering: boolean, count: number): void {
    if (!answering) this.count(now, count);
    if (now === this.lastTurn) return;
    const sample = answering || this.lastTurn < 0 ? this.batchTimeout : now - this.lastTurn;
    this.gap += (sample - this.gap) * ALPHA;
    this.lastTurn = now;
  }

  private count(now: number, count: number): void {
    if (now !== this.seenAt) {
      if (this.seenAt >= 0) {
        const ms = now - this.seenAt;
        const keep = Math.exp(-ms / (RATE_HORIZON * this.batchTimeout));
        this.seen *= keep;
        this.seenMs = this.seenMs * keep + ms;
      }
      this.seenAt = now;
    }
    this.seen += count;
  }

  /** The window expired at its deadline and nothing arrived after the turn it opened in. */
  waitedInVain(): void {
    this.gap = Math.max(this.gap, IN_VAIN * this.batchTimeout);
  }

  /**
   * Whether the forming batch of `queued` values should wait for more, with `remainingMs` left
   * before `batchTimeout`:
   * - not when no arrival turn is expected before the deadline;
   * - yes when the arrivals expected before the deadline, at the key's rate, fill the batch: under
   *   load that fills batches, as full as with a fixed window;
   * - else when waiting the expected gap costs the values waiting less than it saves. Each of them
   *   waits the gap longer and runs the time one more value adds (`perValue`); the next value,
   *   by joining, saves the time of a batch of its own (`perBatch`).
   */
  waitPays(remainingMs: number, queued: number, batchSize: number, time: BatchTime): boolean {
    if (this.gap >= remainingMs) return false;
    if (this.seenMs > 0 && queued + (this.seen / this.seenMs) * remainingMs >= batchSize) return true;
    return queued * (this.gap + time.perValue) < time.perBatch;
  }
}
