/**
 * Share of memberTimeout kept back from a member's lease. It covers clock-rate drift between the
 * member and its callers: the lease runs on the member's clock and the death verdict on the
 * caller's, so the two agree as long as their rates differ by less than half of this (5 %, where
 * real clocks differ by well under 0.1 %).
 */
export const LEASE_MARGIN = 0.1;

/**
 * A member's licence to start work for other processes. A caller takes a member for dead when it
 * has heard no heartbeat for memberTimeout, counted from when the heartbeat *arrived*. A heartbeat
 * arrives after it was sent, so a member that stops starting work `memberTimeout × (1 −
 * LEASE_MARGIN)` after sending its last heartbeat, on its own monotonic clock, stops before any
 * caller can give up on it. Only a heartbeat the server confirmed (a flush after it) renews the
 * lease: one stuck in a dead socket reaches nobody, and must not extend anything.
 */
export class Lease {
  private until = -Infinity;
  /** When the lease was found lapsed last: what the member held then has been failed. */
  lapsedAt = -Infinity;

  constructor(readonly length: number) {}

  static of(memberTimeout: number): Lease {
    return new Lease(memberTimeout * (1 - LEASE_MARGIN));
  }

  /** A heartbeat published at `sentAt` (performance.now()) is confirmed by the server. */
  renew(sentAt: number): void {
    this.until = Math.max(this.until, sentAt + this.length);
  }

  holds(now: number): boolean {
    return now < this.until;
  }

  /** How long past the lease `now` is (0 while it holds), for the log line. */
  overdue(now: number): number {
    return Math.max(0, Math.round(now - this.until));
  }
}
