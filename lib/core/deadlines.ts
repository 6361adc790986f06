import { Fifo } from './fifo';
import { MAX_TIMER_MS, preciseClock } from './clock';

/** What can have a deadline: a local dispatch, or a remote call of a transport. */
export interface Expiring {
  readonly settled: boolean;
}

/**
 * Per-dispatch deadlines with one timer in all, not one per dispatch. Dispatches with the same
 * timeout expire in arrival order, so each distinct timeout gets a FIFO and only the heads are
 * ever compared.
 */
export class DeadlineQueue<T extends Expiring> {
  private readonly lanes = new Map<number, Fifo<{ at: number; item: T }>>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(private readonly expire: (item: T, timeoutMs: number) => void) {}

  add(item: T, timeout: number): void {
    // Lanes by whole milliseconds: fractional timeouts (time left of a chunked dispatch) would each get one.
    const timeoutMs = Math.ceil(timeout);
    let lane = this.lanes.get(timeoutMs);
    if (!lane) this.lanes.set(timeoutMs, (lane = new Fifo()));
    // Settled dispatches usually leave in arrival order: dropping them here keeps the lane as
    // short as the number of dispatches in flight.
    for (let head = lane.peek(); head && head.item.settled; head = lane.peek()) lane.shift();
    // The precise clock: a turn may have run long before this dispatch, and its deadline counts from now.
    const at = preciseClock() + timeoutMs;
    lane.push({ at, item });
    if (at < this.timerAt) this.arm(at);
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    // A delay above setTimeout's 2^31-1 ms would fire at once; fire() re-arms until the deadline.
    this.timer = setTimeout(() => this.fire(), Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - preciseClock()))));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = preciseClock();
    let next = Infinity;
    for (const [timeoutMs, lane] of this.lanes) {
      for (let head = lane.peek(); head; head = lane.peek()) {
        if (head.item.settled) lane.shift();
        else if (head.at <= now) {
          lane.shift();
          this.expire(head.item, timeoutMs);
        } else break;
      }
      const head = lane.peek();
      if (head) next = Math.min(next, head.at);
      else this.lanes.delete(timeoutMs);
    }
    if (next !== Infinity) this.arm(next);
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.lanes.clear();
  }
}
