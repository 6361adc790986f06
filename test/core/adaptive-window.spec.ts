import { BatchServing, type BatchTelemetryEvent, type RunningServing } from 'nestjs-batch-serving';
import { invalidateClock } from '../../lib/core/clock';
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

  it('under a steady load that fills batches, batches are as full as with a fixed window', async () => {
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

  it('in between, closes the batch when the next value is not expected before the deadline', async () => {
    useFakeTimers();
    const serving = BatchServing.start(BatchServing.new((values: number[]) => values), { batchSize: 100, batchTimeout: 10, window: 'adaptive' });
    const started = starts(serving);
    // A value every 4 ms: worth waiting for while more than 4 ms of the window is left.
    for (let i = 0; i < 40; i++) {
      serving.dispatch(i);
      await advance(4);
    }
    await advance(20);
    // Past the first windows (the estimate starts at batchTimeout) and before the last value.
    const steady = started.slice(4, -1);
    expect(steady.length).toBeGreaterThan(5);
    // Fixed would wait the full 10 ms for 3 values; adaptive closes after the value at 8 ms:
    // the next (at 12 ms) would come after the deadline.
    for (const event of steady) {
      expect(event).toMatchObject({ closedBy: 'adaptive', size: 3 });
      expect(event.waitMs).toBeLessThan(10);
    }
    await serving.close('drain', 1000);
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
