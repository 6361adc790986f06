import type { ReplyItem } from './protocol';

/** How long (in memberTimeouts) a member remembers an answer, or that it never received a dispatch. */
export const ANSWER_RETENTION = 5;

/** Default `replayBudget`: bytes of answers a member keeps for replay. */
export const DEFAULT_REPLAY_BUDGET = 32 * 1024 * 1024;

interface Kept {
  readonly item: ReplyItem;
  readonly bytes: number;
  readonly at: number;
}

/** What a member knows of a dispatch it no longer holds. */
export type Recollection = ReplyItem | 'dropped' | 'refused' | undefined;

const keyOf = (origin: string, id: number) => `${origin} ${id}`;

/**
 * The answers a member sent, kept until the caller acknowledges them, so that an answer lost on
 * the way (a server died, a reconnection) is sent again rather than lost, and never re-run. Within
 * `budget` bytes (the encoded size) and `retention` ms: past either, the answer itself goes and a
 * tombstone remains ("it ran; the answer is gone") until retention ends. Also remembers the
 * dispatches this member said it never received, so that one arriving late is refused, not run:
 * its caller has sent it elsewhere.
 */
export class AnswerStore {
  /** Insertion order is age order: pruning and eviction take from the front. */
  private readonly items = new Map<string, Kept>();
  private readonly tombstones = new Map<string, { at: number; refused: boolean }>();
  private bytes = 0;

  constructor(
    private readonly budget: number,
    private readonly retention: number,
  ) {}

  keep(origin: string, item: ReplyItem, bytes: number, now: number): void {
    const key = keyOf(origin, item[0]);
    this.drop(key);
    this.items.set(key, { item, bytes, at: now });
    this.bytes += bytes;
    for (const [oldest, kept] of this.items) {
      if (this.bytes <= this.budget) break;
      this.drop(oldest);
      this.tombstones.set(oldest, { at: kept.at, refused: false });
    }
  }

  /** The caller has the answers: nothing to keep. */
  acknowledge(origin: string, ids: readonly number[]): void {
    for (const id of ids) {
      const key = keyOf(origin, id);
      this.drop(key);
      this.tombstones.delete(key);
    }
  }

  /** `id` was received but will never be answered (its caller went silent): an audit hears LOST, never "not received". */
  lose(origin: string, id: number, now: number): void {
    this.tombstones.set(keyOf(origin, id), { at: now, refused: false });
  }

  /** This member told `origin` it never received `id`: should it arrive now, it must not run. */
  refuse(origin: string, id: number, now: number): void {
    this.tombstones.set(keyOf(origin, id), { at: now, refused: true });
  }

  recall(origin: string, id: number): Recollection {
    const key = keyOf(origin, id);
    const kept = this.items.get(key);
    if (kept) return kept.item;
    const tombstone = this.tombstones.get(key);
    if (!tombstone) return undefined;
    return tombstone.refused ? 'refused' : 'dropped';
  }

  /** Every answer not acknowledged yet, by caller: sent again after this member reconnects. */
  unacknowledged(): Map<string, ReplyItem[]> {
    const byOrigin = new Map<string, ReplyItem[]>();
    for (const [key, { item }] of this.items) {
      const origin = key.slice(0, key.indexOf(' '));
      const items = byOrigin.get(origin);
      if (items) items.push(item);
      else byOrigin.set(origin, [item]);
    }
    return byOrigin;
  }

  /** Forgets what is older than the retention. */
  prune(now: number): void {
    for (const [key, kept] of this.items) {
      if (now - kept.at < this.retention) break;
      this.drop(key);
    }
    for (const [key, tombstone] of this.tombstones) {
      if (now - tombstone.at < this.retention) break;
      this.tombstones.delete(key);
    }
  }

  get size(): number {
    return this.items.size;
  }

  private drop(key: string): void {
    const kept = this.items.get(key);
    if (!kept) return;
    this.items.delete(key);
    this.bytes -= kept.bytes;
  }
}
