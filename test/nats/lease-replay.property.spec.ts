import fc from 'fast-check';
import { AnswerStore } from '../../lib/transports/nats/answers';
import { LEASE_MARGIN, Lease } from '../../lib/transports/nats/lease';

/*
 * Property specs of the two pieces that make API.md section 7's promises hold across a stall or a
 * lost answer, each against a model of what it must guarantee. The specs on real servers
 * (lease.spec, replay.spec, the chaos and cluster reliability specs) show the whole; these show
 * the rule itself over thousands of random timelines.
 */

describe('a member lease', () => {
  /*
   * The model: a member sends heartbeats at times of its own monotonic clock. Each reaches the
   * server after some delay, or never (a dead socket); from the server it reaches a connected
   * caller no later than the server's confirmation (the answer to the member's flush) reaches the
   * member, and that confirmation may be lost. The caller's clock runs at a rate that differs from
   * the member's by at most half the lease margin (real clocks differ by well under 0.1 %). The
   * caller takes the member for dead memberTimeout after the last heartbeat *arrived*, on its own
   * clock. (A caller that is itself cut off from the server is outside this model: RELIABILITY.md
   * says what it sees.)
   */
  const timeline = fc.record({
    memberTimeout: fc.integer({ min: 200, max: 10_000 }),
    /** Caller clock rate relative to the member's. */
    rate: fc.oneof(fc.constantFrom(1 - LEASE_MARGIN / 2, 1 + LEASE_MARGIN / 2), fc.double({ min: 1 - LEASE_MARGIN / 2, max: 1 + LEASE_MARGIN / 2, noNaN: true })),
    beats: fc.array(
      fc.record({
        gap: fc.integer({ min: 1, max: 5_000 }),
        /** Member to server; undefined: it never reached the server. */
        up: fc.option(fc.integer({ min: 0, max: 3_000 }), { nil: undefined }),
        /** Server back to the member (the flush's answer); undefined: lost. */
        back: fc.option(fc.integer({ min: 0, max: 3_000 }), { nil: undefined }),
        /** Server to the caller, as a share of `back` (or of 3 s when the confirmation was lost). */
        down: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
      { minLength: 1, maxLength: 30 },
    ),
    /** Moments (member clock) at which the member would start a batch. */
    starts: fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 40 }),
  });

  it('lets a member start work only at moments when no caller can yet have taken it for dead', () => {
    fc.assert(
      fc.property(timeline, ({ memberTimeout, rate, beats, starts }) => {
        const length = Lease.of(memberTimeout).length;
        let sentAt = 0;
        const sent: Array<{ at: number; arrives: number | undefined; confirmedAt: number | undefined }> = [];
        for (const beat of beats) {
          sentAt += beat.gap;
          if (beat.up === undefined) {
            sent.push({ at: sentAt, arrives: undefined, confirmedAt: undefined });
            continue;
          }
          const atServer = sentAt + beat.up;
          sent.push({ at: sentAt, arrives: atServer + beat.down * (beat.back ?? 3_000), confirmedAt: beat.back === undefined ? undefined : atServer + beat.back });
        }
        // Random moments, and the last moment of every lease a heartbeat could give: where a lease too long would show.
        for (const now of [...starts, ...sent.map((s) => s.at + length - 1e-3)]) {
          // The member's view at `now`: the heartbeats confirmed by then have renewed the lease.
          const member = new Lease(length);
          for (const s of sent) if (s.confirmedAt !== undefined && s.confirmedAt <= now) member.renew(s.at);
          if (!member.holds(now)) continue;
          // The caller's verdict at that moment, on its own clock.
          const lastArrival = Math.max(...sent.filter((s) => s.arrives !== undefined && s.arrives <= now).map((s) => s.arrives!));
          if ((now - lastArrival) * rate >= memberTimeout) return false;
        }
        return true;
      }),
      { numRuns: 5_000 },
    );
  });

  it('runs out a fixed share of memberTimeout after the last confirmed heartbeat was sent', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 60_000 }), fc.array(fc.integer({ min: 0, max: 1e6 }), { minLength: 1, maxLength: 20 }), (memberTimeout, sends) => {
        const lease = Lease.of(memberTimeout);
        for (const at of sends) lease.renew(at);
        const last = Math.max(...sends);
        const length = memberTimeout * (1 - LEASE_MARGIN);
        return lease.holds(last + length - 1) && !lease.holds(last + length) && lease.overdue(last + length + 5) === 5;
      }),
    );
  });
});

describe('the answers a member keeps for replay', () => {
  type Op =
    | { kind: 'keep'; origin: number; ids: number[]; bytes: number; advance: number }
    | { kind: 'ack'; origin: number; ids: number[] }
    | { kind: 'prune'; advance: number };
  const origin = fc.integer({ min: 0, max: 2 });
  const ids = fc.uniqueArray(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 4 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('keep' as const), origin, ids, bytes: fc.integer({ min: 1, max: 400 }), advance: fc.integer({ min: 0, max: 300 }) }),
    fc.record({ kind: fc.constant('ack' as const), origin, ids }),
    fc.record({ kind: fc.constant('prune' as const), advance: fc.integer({ min: 0, max: 600 }) }),
  );

  it('replays exactly the last answer sent and not acknowledged, within the byte budget, and never says "never received" of an answer it sent within the retention', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 1_500 }), fc.integer({ min: 200, max: 2_000 }), fc.array(op, { maxLength: 60 }), (budget, retention, ops) => {
        const store = new AnswerStore(budget, retention);
        /** The model: per (origin, id), the last message that carried its answer, when, and whether acknowledged. */
        const model = new Map<string, { data: Uint8Array; at: number; acked: boolean }>();
        let now = 0;
        let serial = 0;
        for (const o of ops) {
          if (o.kind === 'keep') {
            now += o.advance;
            // Each message distinct, so that a replay of the wrong one would show.
            const data = new Uint8Array(o.bytes).fill(++serial % 251);
            store.keep(`o${o.origin}`, o.ids, data, now);
            for (const id of o.ids) model.set(`o${o.origin} ${id}`, { data, at: now, acked: false });
          } else if (o.kind === 'ack') {
            store.acknowledge(`o${o.origin}`, o.ids);
            for (const id of o.ids) {
              const m = model.get(`o${o.origin} ${id}`);
              if (m) m.acked = true;
            }
          } else {
            now += o.advance;
            store.prune(now);
          }
          // Within the byte budget, whatever was sent.
          let kept = 0;
          for (const list of store.unacknowledged().values()) for (const data of list) kept += data.length;
          if (kept > budget) return false;
          for (const [key, m] of model) {
            const [from, id] = key.split(' ');
            const recalled = store.recall(from, Number(id));
            // Never another message's answer; never one the caller acknowledged.
            if (recalled instanceof Uint8Array && (recalled !== m.data || m.acked)) return false;
            // Sent and not acknowledged, within the retention: the answer itself, or "it ran, the
            // answer is gone" when the budget evicted it; never undefined ("never received"),
            // which would send the dispatch elsewhere to run again.
            if (!m.acked && now - m.at < retention && recalled === undefined) return false;
            if (!m.acked && m.data.length <= budget && now - m.at < retention && recalled !== m.data && recalled !== 'dropped') return false;
          }
        }
        return true;
      }),
      { numRuns: 3_000 },
    );
  });
});
