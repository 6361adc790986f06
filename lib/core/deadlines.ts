import { Fifo } from './fifo';
import { preciseClock } from './clock';
import { WakeTimer } from './wake-timer';

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
  private readonly timer = new WakeTimer(() => this.fire());

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
    this.timer.wakeAt(at);
  }

  private fire(): void {
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
    if (next !== Infinity) this.timer.wakeAt(next);
  }

  clear(): void {
    this.timer.clear();
    this.lanes.clear();
  }
}
