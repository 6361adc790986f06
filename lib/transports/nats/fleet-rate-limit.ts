import type { RunningServing } from '../../core/running-serving';
import type { Membership } from './membership';

/** One hosted serving with a rate limit: the shares it was given, newest last. */
interface Limited {
  readonly serving: RunningServing;
  /** How long a share stays in force after a larger one replaced it: the window, plus two heartbeats. */
  readonly hold: number;
  /** Targets with the time each was set; the first is the one in force `hold` ago. */
  history: Array<{ at: number; share: number }>;
}

/**
 * `rateLimit` across NATS is the fleet's: each member takes the part `weight × partitions` gives
 * it among the live members hosting the serving, from the membership the heartbeats keep.
 *
 * A share that shrinks (a member joined) applies at once. One that grows (a member left or died)
 * applies only once the window has slid past the moment it was decided, plus two heartbeats (the
 * peers of a joiner shrink theirs at their next tick after its first heartbeat): the starts of the
 * member that went, and of a joiner's peers before they heard of it, are still in the provider's
 * window until then. Shares are worked out again at every tick (heartbeatInterval). So a member uses, at any time, the smallest of its shares of
 * the last window; as the shares the members hold at one moment add up to at most 1, the fleet's
 * starts in any window stay within the limit. For the same reason a member that joins a fleet
 * waits a window before it starts anything; a member alone takes the whole limit at once.
 */
export class FleetRateLimits {
  private readonly limited = new Map<string, Limited>();

  constructor(
    private readonly membership: Membership,
    private readonly heartbeatInterval: number,
  ) {}

  /** `serving` is now hosted here (and already in the membership). */
  host(serving: RunningServing, now: number): void {
    const rateLimit = serving.options.rateLimit;
    if (!rateLimit) return;
    const alone = this.membership.members(serving.name).every((m) => m.member === this.membership.self);
    const entry: Limited = { serving, hold: rateLimit.per + 2 * this.heartbeatInterval, history: [{ at: now, share: alone ? 1 : 0 }] };
    this.limited.set(serving.name, entry);
    this.apply(entry, now);
  }

  unhost(name: string): void {
    this.limited.delete(name);
  }

  /** Works the shares out again from the membership: after heartbeats, departures and deaths. */
  update(now: number): void {
    for (const entry of this.limited.values()) {
      const share = this.target(entry.serving.name);
      const last = entry.history[entry.history.length - 1];
      if (share !== last.share) entry.history.push({ at: now, share });
      this.apply(entry, now);
    }
  }

  /** This member's part of `name`'s limit as the membership has it now. */
  private target(name: string): number {
    let total = 0;
    let mine = 0;
    for (const { member, shares } of this.membership.members(name)) {
      total += shares;
      if (member === this.membership.self) mine = shares;
    }
    return total > 0 ? mine / total : 1;
  }

  /** The smallest share in force at any time of the last `hold` ms. */
  private apply(entry: Limited, now: number): void {
    const history = entry.history;
    // Targets set before the last `hold` ms matter no more, except the one in force at its start.
    while (history.length > 1 && history[1].at <= now - entry.hold) history.shift();
    let share = Infinity;
    for (const { share: s } of history) share = Math.min(share, s);
    entry.serving.batcher.rateShare(share);
  }
}
