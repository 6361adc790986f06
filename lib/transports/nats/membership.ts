import { MAX_NAMES, MAX_PEERS } from './bounds';
import { BoundedMap } from './bounded-map';
import type { HeartbeatMessage } from './protocol';

/** A process of the group of one serving, with its share of the traffic. */
interface Candidate {
  readonly member: string;
  shares: number;
  batchSize: number;
  /** Smooth weighted round-robin credit. */
  current: number;
}

interface Peer {
  lastSeen: number;
  servings: Set<string>;
}

/** What membership tells the rest of the transport. */
export interface MembershipEvents {
  /** Process `member` left (`bye`) or was not heard from for memberTimeout. */
  gone(member: string, reason: 'left' | 'silent'): void;
}

/**
 * The process groups, one per serving name, as the heartbeats describe them: who hosts what, with
 * which shares, and who has gone silent. This process is a member of the groups of the servings it
 * hosts (for `{ distributed: true }`), added locally rather than learnt from its own heartbeats.
 */
export class Membership {
  private readonly peers = new Map<string, Peer>();
  private readonly groups = new Map<string, Map<string, Candidate>>();
  /**
   * Names hosted on NATS once: a name never seen is not found, one seen before is unavailable.
   * The MAX_NAMES most recent only: foreign heartbeats inventing names must not grow the heap.
   */
  private readonly seen = new BoundedMap<string, true>(MAX_NAMES);

  constructor(
    readonly self: string,
    private readonly events: MembershipEvents,
  ) {}

  /**
   * A heartbeat (or a query answer) from another process. False when it is not taken in: MAX_PEERS
   * processes are known already. The ones known keep their place (a flood of invented processes
   * cannot push out real members); the invented ones go silent and are swept after memberTimeout.
   */
  heartbeat(message: HeartbeatMessage, now: number): boolean {
    const id = message.from;
    if (id === this.self) return true;
    if (message.bye) {
      this.remove(id, 'left');
      return true;
    }
    let peer = this.peers.get(id);
    if (!peer) {
      if (this.peers.size >= MAX_PEERS) return false;
      this.peers.set(id, (peer = { lastSeen: now, servings: new Set() }));
    }
    peer.lastSeen = now;
    const hosted = new Set<string>();
    for (const [name, shares, batchSize] of message.s) {
      // Past MAX_NAMES groups, a new name waits until others are gone; known names still update.
      if (!this.groups.has(name) && this.groups.size >= MAX_NAMES) continue;
      hosted.add(name);
      this.join(name, id, shares, batchSize);
    }
    for (const name of peer.servings) if (!hosted.has(name)) this.leave(name, id);
    peer.servings = hosted;
    return true;
  }

  /** This process now hosts `name`. */
  hostHere(name: string, shares: number, batchSize: number): void {
    this.join(name, this.self, shares, batchSize);
  }

  unhostHere(name: string): void {
    this.leave(name, this.self);
  }

  /** NATS said nobody listens on `member`'s subject for `name`: out of the group until it announces it again. */
  forget(name: string, member: string): void {
    this.leave(name, member);
    this.peers.get(member)?.servings.delete(name);
  }

  /** Forgets every process silent for `timeout` ms; each is reported gone. */
  sweep(now: number, timeout: number): void {
    for (const [id, peer] of this.peers) if (now - peer.lastSeen > timeout) this.remove(id, 'silent');
  }

  /**
   * The member to send the next dispatch of `name` to, by smooth weighted round-robin over the
   * shares: over any stretch of picks each member gets its share, interleaved rather than in runs.
   * `exclude` are members already tried; this process takes part only `withSelf`.
   */
  pick(name: string, exclude: readonly string[] | undefined, withSelf: boolean): string | undefined {
    const group = this.groups.get(name);
    if (!group) return undefined;
    let total = 0;
    let best: Candidate | undefined;
    for (const candidate of group.values()) {
      if (candidate.member === this.self ? !withSelf : exclude?.includes(candidate.member)) continue;
      candidate.current += candidate.shares;
      total += candidate.shares;
      if (!best || candidate.current > best.current) best = candidate;
    }
    if (best) best.current -= total;
    return best?.member;
  }

  /** The smallest batchSize among the members of `name`: the chunk size for iterable inputs. */
  batchSize(name: string): number | undefined {
    let size: number | undefined;
    for (const candidate of this.groups.get(name)?.values() ?? []) size = size === undefined ? candidate.batchSize : Math.min(size, candidate.batchSize);
    return size;
  }

  /** Members of `name` with their shares, this process included when it hosts it. */
  members(name: string): Array<{ member: string; shares: number }> {
    return [...(this.groups.get(name)?.values() ?? [])].map(({ member, shares }) => ({ member, shares }));
  }

  /** Entries of each table: each has a bound (bounds.ts), whatever others send. */
  sizes(): { peers: number; groups: number; seen: number } {
    return { peers: this.peers.size, groups: this.groups.size, seen: this.seen.size };
  }

  wasSeen(name: string): boolean {
    return this.seen.has(name);
  }

  /** Names some process hosts now. */
  names(): string[] {
    return [...this.groups.keys()];
  }

  private join(name: string, member: string, shares: number, batchSize: number): void {
    this.seen.set(name, true);
    let group = this.groups.get(name);
    if (!group) this.groups.set(name, (group = new Map()));
    const candidate = group.get(member);
    if (candidate) {
      candidate.shares = shares;
      candidate.batchSize = batchSize;
    } else {
      group.set(member, { member, shares, batchSize, current: 0 });
    }
  }

  private leave(name: string, member: string): void {
    const group = this.groups.get(name);
    if (!group?.delete(member)) return;
    if (group.size === 0) this.groups.delete(name);
  }

  private remove(id: string, reason: 'left' | 'silent'): void {
    const peer = this.peers.get(id);
    if (peer) {
      this.peers.delete(id);
      for (const name of peer.servings) this.leave(name, id);
    }
    // A process that says goodbye is gone even if its heartbeats never reached us.
    if (peer || reason === 'left') this.events.gone(id, reason);
  }
}
