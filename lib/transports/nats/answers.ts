/** How long (in memberTimeouts) a member remembers an answer, or that it never received a dispatch. */
export const ANSWER_RETENTION = 5;

/** Default `replayBudget`: bytes of answers a member keeps for replay. */
export const DEFAULT_REPLAY_BUDGET = 32 * 1024 * 1024;

/**
 * A reply message as it was sent, with the final answers it carried that are not acknowledged yet.
 * Kept as bytes: the results themselves are free for the garbage collector at once (keeping them
 * as objects until the acknowledgement measured as a third of a member's throughput).
 */
interface Sent {
  readonly origin: string;
  readonly data: Uint8Array;
  readonly ids: readonly number[];
  readonly at: number;
  /** Answers of `ids` still kept here (not acknowledged, not answered again since). */
  live: number;
}

/** What a member knows of a dispatch it no longer holds: the message that carried its answer, or less. */
export type Recollection = Uint8Array | 'dropped' | 'refused' | undefined;

const keyOf = (origin: string, id: number) => `${origin} ${id}`;

/**
 * The answers a member sent, kept until the caller acknowledges them, so that an answer lost on
 * the way (a server died, a reconnection) is sent again rather than lost, and never re-run. Within
 * `budget` bytes (the encoded messages) and `retention` ms: past either, the answer itself goes and
 * a tombstone remains ("it ran; the answer is gone") until retention ends. Also remembers the
 * dispatches this member said it never received, so that one arriving late is refused, not run:
 * its caller has sent it elsewhere.
 */
export class AnswerStore {
  /** Insertion order is age order: pruning and eviction take from the front. */
  private readonly sent = new Set<Sent>();
  private readonly byOrigin = new Map<string, Map<number, Sent>>();
  private readonly tombstones = new Map<string, { at: number; refused: boolean }>();
  private bytes = 0;

  constructor(
    private readonly budget: number,
    private readonly retention: number,
  ) {}

  /** Reply message `data` carried the final answers `ids` to `origin`. */
  keep(origin: string, ids: readonly number[], data: Uint8Array, now: number): void {
    if (ids.length === 0) return;
    const record: Sent = { origin, data, ids, at: now, live: 0 };
    let mine = this.byOrigin.get(origin);
    if (!mine) this.byOrigin.set(origin, (mine = new Map()));
    for (const id of ids) {
      const before = mine.get(id);
      if (before === record) continue;
      if (before) this.release(before);
      mine.set(id, record);
      record.live++;
    }
    this.sent.add(record);
    this.bytes += data.length;
    for (const oldest of this.sent) {
      if (this.bytes <= this.budget) break;
      this.forget(oldest, true);
    }
  }

  /** The caller has the answers: nothing to keep. */
  acknowledge(origin: string, ids: readonly number[]): void {
    const mine = this.byOrigin.get(origin);
    if (!mine) return;
    for (const id of ids) {
      const record = mine.get(id);
      if (!record) continue;
      mine.delete(id);
      this.release(record);
    }
    if (mine.size === 0) this.byOrigin.delete(origin);
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
    const record = this.byOrigin.get(origin)?.get(id);
    if (record) return record.data;
    if (this.tombstones.size === 0) return undefined;
    const tombstone = this.tombstones.get(keyOf(origin, id));
    if (!tombstone) return undefined;
    return tombstone.refused ? 'refused' : 'dropped';
  }

  /** Every reply message with answers not acknowledged yet, by caller: sent again after this member reconnects. */
  unacknowledged(): Map<string, Uint8Array[]> {
    const byOrigin = new Map<string, Uint8Array[]>();
    for (const { origin, data } of this.sent) {
      const list = byOrigin.get(origin);
      if (list) list.push(data);
      else byOrigin.set(origin, [data]);
    }
    return byOrigin;
  }

  /** Forgets what is older than the retention. */
  prune(now: number): void {
    for (const record of this.sent) {
      if (now - record.at < this.retention) break;
      this.forget(record, false);
    }
    for (const [key, tombstone] of this.tombstones) {
      if (now - tombstone.at < this.retention) break;
      this.tombstones.delete(key);
    }
  }

  /** Answers kept (not acknowledged). */
  get size(): number {
    let size = 0;
    for (const record of this.sent) size += record.live;
    return size;
  }

  /** One answer of `record` is no longer kept through it. */
  private release(record: Sent): void {
    if (--record.live > 0) return;
    this.sent.delete(record);
    this.bytes -= record.data.length;
  }

  /** Drops `record` whole; `tombstones`: its answers are remembered as sent and gone. */
  private forget(record: Sent, tombstones: boolean): void {
    this.sent.delete(record);
    this.bytes -= record.data.length;
    const mine = this.byOrigin.get(record.origin);
    for (const id of record.ids) {
      if (mine?.get(id) !== record) continue;
      mine.delete(id);
      if (tombstones) this.tombstones.set(keyOf(record.origin, id), { at: record.at, refused: false });
    }
    if (mine?.size === 0) this.byOrigin.delete(record.origin);
  }
}
