import fc from 'fast-check';
import { BatchServing, type BatchTelemetryEvent, type RunningServing } from 'nestjs-batch-serving';
import { invalidateClock } from '../../lib/core/clock';
import { BatchTime } from '../../lib/core/window';
import { advance, controlledBatches, nextTurn, useFakeTimers } from '../helpers';

/* API.md section 8, the adaptive window, and telemetry's closedBy. */

function starts(serving: RunningServing<any, any, any>): BatchTelemetryEvent[] {
  const events: BatchTelemetryEvent[] = [];
  serving.telemetry().subscribe((event) => event.type === 'start' && events.push(event));
  return events;
}

describe("window: 'adaptive'", () => {
  // The core reads the clock once per turn (clock.ts) and forgets the reading when the turn ends;
  // a spec that switches between real and fake timers must not inherit the last spec's reading.
  beforeEach(() => invalidateClock());
  afterEach(() => jest.useRealTimers());

  it('starts a lone dispatch to an idle serving within the turn after it arrived, as batchTimeout 0 would', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 32, batchTimeout: 60_000, window: 'adaptive' });
    const started = starts(serving);
    const result = serving.dispatch(7);
    expect(calls).toHaveLength(0); // never inside dispatch()
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[7]]);
    expect(started).toMatchObject([{ size: 1, closedBy: 'adaptive' }]);
    calls[0].finish();
    await expect(result).resolves.toBe(7);
    await serving.close('drain', 1000);
  });

  it('does not hold a lone caller that dispatches again as soon as it has its result', async () => {
    const serving = BatchServing.start(
      BatchServing.new((values: number[]) => values),
      { batchSize: 32, batchTimeout: 60_000, window: 'adaptive' },
    );
    const started = starts(serving);
    // With a fixed window each of these would wait a minute.
    for (let i = 0; i < 20; i++) await expect(serving.dispatch(i)).resolves.toBe(i);
    expect(started.map((e) => e.closedBy)).toEqual(new Array(20).fill('adaptive'));
    await serving.close('drain', 1000);
  });

  it('under a steady load that fills batches, batches are as full as with a fixed window, however cheap a batch', async () => {
    useFakeTimers();
    const sizes = async (window: 'fixed' | 'adaptive') => {
      const serving = BatchServing.start(BatchServing.new((values: number[]) => values), { batchSize: 8, batchTimeout: 20, window });
      const started = starts(serving);
      // One value every millisecond: a window of 20 ms would hold 20, a batch holds 8.
      for (let i = 0; i < 200; i++) {
        serving.dispatch(i);
        await advance(1);
      }
      await serving.close('drain', 1000);
      return started.slice(2, -1).map((e) => e.size);
    };
    const fixed = await sizes('fixed');
    const adaptive = await sizes('adaptive');
    expect(fixed.every((size) => size === 8)).toBe(true);
    expect(adaptive.every((size) => size === 8)).toBe(true);
  });

  /**
   * Batches of a serving whose batch of n values takes `ms(n)` (a timer), fed a value every `every`
   * ms, 80 values, batchSize 100, batchTimeout 20, 4 partitions (none is ever busy for long).
   * Dispatches land on even milliseconds and batches end on odd ones, so no arrival is taken for a
   * caller answering its result.
   */
  async function steadyStarts(ms: (n: number) => number, every = 2, window: 'fixed' | 'adaptive' = 'adaptive') {
    const fn = async (values: number[]) => {
      await new Promise((resolve) => setTimeout(resolve, ms(values.length)));
      return values;
    };
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 100, batchTimeout: 20, partitions: 4, window });
    const started = starts(serving);
    for (let i = 0; i < 80; i++) {
      serving.dispatch(i);
      await advance(every);
    }
    await advance(100);
    await serving.close('drain', 1000);
    return started;
  }

  it('in between, waits while the next value costs the values waiting less than the batch it saves', async () => {
    useFakeTimers();
    // A batch takes 5 ms whatever its size, a value comes every 2 ms: waiting for the second and
    // the third value costs 1 × 2 and 2 × 2 ms, less than 5; for a fourth 3 × 2, more.
    const adaptive = await steadyStarts(() => 5);
    // Past the first batches (no batch time known yet, and the gap estimate starts at batchTimeout).
    const steady = adaptive.slice(20, -1);
    expect(steady.length).toBeGreaterThan(10);
    for (const event of steady) expect(event).toMatchObject({ closedBy: 'adaptive', size: 3, waitMs: 4 });
    // A fixed window holds each value up to 20 ms.
    const fixed = await steadyStarts(() => 5, 2, 'fixed');
    expect(fixed.slice(1, -1).every((e) => e.size === 10 && e.closedBy === 'timeout')).toBe(true);
  });

  it('learns how the time of a batch grows with its size, and waits less when one more value costs more', async () => {
    useFakeTimers();
    // 3 ms + 2 ms a value, and a value every 2 ms, as above: a second value would make the first
    // wait 2 ms and run 2 ms longer, to save a batch of 3 ms. Batches of one size cannot tell the
    // two parts apart (the fit takes it all as the part per batch, 5 ms, and waits as above); the
    // first batch of another size shows the rest.
    const started = await steadyStarts((n) => 3 + 2 * n);
    expect(started.some((e) => e.size > 1)).toBe(true);
    const steady = started.slice(30, -1);
    expect(steady.length).toBeGreaterThan(10);
    for (const event of steady) expect(event).toMatchObject({ closedBy: 'adaptive', size: 1 });
  });

  it('never holds a value past batchTimeout, however long batches take', async () => {
    useFakeTimers();
    // A batch takes 31 ms: every value would be worth waiting for, but the window is 20 ms.
    const started = await steadyStarts(() => 31);
    const steady = started.slice(5, -1);
    expect(steady.length).toBeGreaterThan(3);
    for (const event of steady) {
      expect(event.waitMs).toBeLessThanOrEqual(20);
      expect(['timeout', 'adaptive']).toContain(event.closedBy);
    }
  });

  it('while every partition is busy, a forming batch keeps filling, whatever the window', async () => {
    useFakeTimers();
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 10, window: 'adaptive' });
    serving.dispatch(1);
    await advance(0);
    expect(calls).toHaveLength(1);
    for (const v of [2, 3, 4]) {
      serving.dispatch(v);
      await advance(1);
    }
    await advance(20);
    serving.dispatch(5);
    await advance(0);
    expect(calls).toHaveLength(1);
    calls[0].finish();
    await advance(0);
    expect(calls.map((c) => c.values)).toEqual([[1], [2, 3, 4, 5]]);
    calls[1].finish();
    await serving.close('drain', 1000);
  });
});

describe('windows under random arrivals and batch times', () => {
  afterEach(() => jest.useRealTimers());

  it('never hold a batch past batchTimeout while a partition is free, and settle every dispatch', async () => {
    const scenario = fc.record({
      window: fc.constantFrom('fixed' as const, 'adaptive' as const),
      batchSize: fc.integer({ min: 1, max: 40 }),
      batchTimeout: fc.integer({ min: 1, max: 30 }),
      partitions: fc.integer({ min: 1, max: 3 }),
      perBatch: fc.integer({ min: 0, max: 20 }),
      perValue: fc.nat(3),
      arrivals: fc.array(fc.record({ after: fc.nat(6), count: fc.integer({ min: 1, max: 4 }) }), { maxLength: 60 }),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        useFakeTimers();
        invalidateClock();
        const fn = async (values: number[]) => {
          await new Promise((resolve) => setTimeout(resolve, s.perBatch + s.perValue * values.length));
          return values;
        };
        const serving = BatchServing.start(BatchServing.new(fn), { batchSize: s.batchSize, batchTimeout: s.batchTimeout, partitions: s.partitions, window: s.window });
        const late: Array<{ at: number; waitMs: number }> = [];
        const ends = new Set<number>();
        serving.telemetry().subscribe((e) => {
          if (e.type === 'stop') ends.add(performance.now());
          else if (e.type === 'start' && e.waitMs > s.batchTimeout) late.push({ at: performance.now(), waitMs: e.waitMs });
        });
        const results: Array<Promise<unknown>> = [];
        for (const { after, count } of s.arrivals) {
          results.push(serving.dispatchMany(Array.from({ length: count }, (_, i) => i)));
          await advance(after);
        }
        await advance(10_000);
        await serving.close('drain', 1000);
        const settled = await Promise.allSettled(results);
        jest.useRealTimers();
        expect(settled.every((r) => r.status === 'fulfilled')).toBe(true);
        // Past batchTimeout only when every partition was busy: such a batch starts as one ends.
        for (const { at } of late) expect(ends.has(at)).toBe(true);
      }),
      { numRuns: 300, seed: 20261201 },
    );
  });
});

describe('closedBy on start events', () => {
  afterEach(() => jest.useRealTimers());

  it("says 'size' for a full batch, 'timeout' for an expired window, 'shutdown' for a drained one", async () => {
    useFakeTimers();
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 2, batchTimeout: 10, partitions: 3 });
    const started = starts(serving);
    serving.dispatchMany([1, 2, 3]);
    await advance(10);
    serving.dispatch(4);
    const closed = serving.close('drain', 1000);
    await advance(0);
    expect(started.map((e) => [e.size, e.closedBy])).toEqual([
      [2, 'size'],
      [1, 'timeout'],
      [1, 'shutdown'],
    ]);
    for (const call of calls) call.finish();
    await closed;
  });

  it("says 'timeout' for batchTimeout 0, which closes at the end of the turn", async () => {
    const serving = BatchServing.start(BatchServing.new((v: number[]) => v), { batchTimeout: 0, window: 'adaptive' });
    const started = starts(serving);
    await serving.dispatch(1);
    expect(started).toMatchObject([{ closedBy: 'timeout' }]);
    await serving.close('drain', 1000);
  });
});

describe('BatchTime, the fitted time of a batch', () => {
  it('finds the part per batch and the part per value of batches that follow them exactly', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 50, noNaN: true }),
        fc.double({ min: 0, max: 5, noNaN: true }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 2, maxLength: 60 }),
        (perBatch, perValue, sizes) => {
          fc.pre(new Set(sizes).size > 1);
          const time = new BatchTime();
          for (const size of sizes) time.ran(size, perBatch + perValue * size);
          expect(time.perBatch).toBeCloseTo(perBatch, 6);
          expect(time.perValue).toBeCloseTo(perValue, 6);
        },
      ),
    );
  });

  it('never estimates a negative or non-finite part, whatever the times', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 64 }), fc.double({ min: 0, max: 1000, noNaN: true })), { minLength: 1, maxLength: 60 }), (batches) => {
        const time = new BatchTime();
        for (const [size, ms] of batches) {
          time.ran(size, ms);
          for (const part of [time.perBatch, time.perValue]) {
            expect(Number.isFinite(part)).toBe(true);
            expect(part).toBeGreaterThanOrEqual(0);
          }
        }
      }),
    );
  });

  it('takes the whole time as the part per batch while every batch had one size, and follows a change', () => {
    const time = new BatchTime();
    for (let i = 0; i < 10; i++) time.ran(4, 8);
    expect(time).toMatchObject({ perBatch: 8, perValue: 0 });
    // The batch function became slower per value: newer batches weigh more than older ones.
    for (let i = 0; i < 200; i++) time.ran(1 + (i % 8), 2 + 3 * (1 + (i % 8)));
    expect(time.perBatch).toBeCloseTo(2, 1);
    expect(time.perValue).toBeCloseTo(3, 1);
  });
});
