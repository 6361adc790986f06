import { MAX_TIMER_MS, preciseClock } from './clock';

/**
 * One timer that calls `wake` at the earliest time asked for: the deadline queue and the start
 * gate each keep one, not one per dispatch or batch.
 */
export class WakeTimer {
  private timer: NodeJS.Timeout | undefined;
  /** When it fires; Infinity while unarmed. */
  at = Infinity;

  constructor(private readonly wake: () => void) {}

  /** Fires at `at` (precise-clock ms), unless already armed for earlier. */
  wakeAt(at: number): void {
    if (this.timer !== undefined && this.at <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.at = at;
    // Whole milliseconds, rounded up; a delay above setTimeout's 2^31-1 ms would fire at once, so
    // it is capped and the owner re-arms when it wakes early.
    this.timer = setTimeout(() => this.fire(), Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - preciseClock()))));
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.at = Infinity;
  }

  private fire(): void {
    this.timer = undefined;
    this.at = Infinity;
    this.wake();
  }
}
