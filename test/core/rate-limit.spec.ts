import { BatchServing, DispatchTimeoutError } from 'nestjs-batch-serving';
import { advance, controlledBatches, finishAll, track, useFakeTimers } from '../helpers';

/* API.md section 9, rate limit: `rateLimit: { per, batches?, cost? }`, a sliding window over batch starts. */

/** A batch function that finishes at once and notes when each batch started, and what it held. */
function recordingStarts() {
  const starts: Array<{ at: number; values: number[]; cost: number }> = [];
  const serving = BatchServing.new((values: number[], ctx) => {
    starts.push({ at: Date.now(), values: [...values], cost: ctx.cost });
    return values;
  });
  return { starts, serving };
}

/** Most starts, and most cost, in any interval of `per` ms. */
function busiestWindow(starts: Array<{ at: number; cost: number }>, per: number) {
  let batches = 0;
  let cost = 0;
  for (const first of starts) {
    const inWindow = starts.filter((s) => s.at >= first.at && s.at < first.at + per);
    batches = Math.max(batches, inWindow.length);
    cost = Math.max(cost, inWindow.reduce((sum, s) => sum + s.cost, 0));
  }
  return { batches, cost };
}

describe('a rate limit (rateLimit)', () => {
  beforeEach(useFakeTimers);
  afterEach(() => jest.useRealTimers());

  it('starts at most `batches` batches in any interval of `per` ms', async () => {
    const { starts, serving } = recordingStarts();
    const running = BatchServing.start(serving, { batchSize: 1, batchTimeout: 0, partitions: 4, rateLimit: { per: 1000, batches: 3 } });
    const t0 = Date.now();
    const results = Array.from({ length: 10 }, (_, i) => track(running.dispatch(i)));
    await advance(3500);
    expect(starts.map((s) => s.at - t0)).toEqual([0, 0, 0, 1000, 1000, 1000, 2000, 2000, 2000, 3000]);
    expect(results.every((r) => r.state === 'fulfilled')).toBe(true);
    expect(busiestWindow(starts, 1000).batches).toBe(3);
    await running.close('drain', 1000);
  });

  it('starts batches whose costs add up to at most `cost` in any interval of `per` ms', async () => {
    const { starts, serving } = recordingStarts();
    const running = BatchServing.start(serving.cost((v: number) => v), { batchSize: 2, batchTimeout: 5, rateLimit: { per: 1000, cost: 10 } });
    const t0 = Date.now();
    for (const v of [4, 4, 3, 3, 6, 2, 1]) running.dispatch(v);
    await advance(5000);
    // [6, 2] waits for [3, 3] to leave the window; [1] fits beside it at once.
    expect(starts.map((s) => [s.at - t0, s.values])).toEqual([
      [0, [4, 4]],
      [1000, [3, 3]],
      [2000, [6, 2]],
      [2000, [1]],
    ]);
    expect(busiestWindow(starts, 1000).cost).toBeLessThanOrEqual(10);
    await running.close('drain', 1000);
  });

  it('keeps a held batch filling while it waits, and starts it as soon as the limit allows', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { batchSize: 5, batchTimeout: 10, rateLimit: { per: 1000, batches: 1 } });
    running.dispatch(1);
    await advance(10);
    expect(calls.map((c) => c.values)).toEqual([[1]]);
    calls[0].finish();
    running.dispatch(2);
    await advance(500);
    running.dispatch(3);
    running.dispatch(4);
    await advance(499);
    expect(calls).toHaveLength(1);
    await advance(1);
    expect(calls.map((c) => c.values)).toEqual([[1], [2, 3, 4]]);
    await finishAll(calls, () => advance(0));
    await running.close('drain', 1000);
  });

  it('counts a batch in the window until `per` ms after it finished, as a provider may count the request late', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { batchSize: 1, batchTimeout: 0, partitions: 2, rateLimit: { per: 1000, batches: 1 } });
    running.dispatch(1);
    running.dispatch(2);
    await advance(300);
    expect(calls).toHaveLength(1);
    calls[0].finish();
    await advance(999);
    expect(calls).toHaveLength(1);
    await advance(1);
    expect(calls.map((c) => c.values)).toEqual([[1], [2]]);
    calls[1].finish();
    await running.close('drain', 1000);
  });

  it('counts the time batches were held back in stats().throttledMs', async () => {
    const { starts, serving } = recordingStarts();
    const running = BatchServing.start(serving, { batchSize: 1, batchTimeout: 0, rateLimit: { per: 200, batches: 1 } });
    [1, 2, 3].forEach((v) => running.dispatch(v));
    await advance(1000);
    expect(starts).toHaveLength(3);
    // Held from 0 to 200 (the second) and from 200 to 400 (the third).
    expect(running.stats().throttledMs).toBe(400);
    await running.close('drain', 1000);
  });

  it('lets deadlines and aborts take held values out: they never run', async () => {
    const { starts, serving } = recordingStarts();
    const running = BatchServing.start(serving, { batchSize: 5, batchTimeout: 0, rateLimit: { per: 1000, batches: 1 } });
    running.dispatch(1);
    await advance(0);
    const timedOut = track(running.dispatch(2, { timeout: 100 }));
    const controller = new AbortController();
    const aborted = track(running.dispatch(3, { signal: controller.signal }));
    const kept = track(running.dispatch(4));
    await advance(100);
    controller.abort();
    await advance(0);
    expect(timedOut.error).toBeInstanceOf(DispatchTimeoutError);
    expect((aborted.error as Error).name).toBe('DispatchAbortedError');
    await advance(900);
    expect(starts.map((s) => s.values)).toEqual([[1], [4]]);
    expect(kept.value).toBe(4);
    await running.close('drain', 1000);
  });

  it('costs nothing to a serving that has no rate limit: batches start back to back', async () => {
    const { starts, serving } = recordingStarts();
    const running = BatchServing.start(serving, { batchSize: 1, batchTimeout: 0 });
    [1, 2, 3].forEach((v) => running.dispatch(v));
    await advance(0);
    expect(starts).toHaveLength(3);
    expect(running.stats().throttledMs).toBe(0);
    await running.close('drain', 1000);
  });
  it("counts isolateFailures' re-runs as batch starts: the bisection waits for the limit like any batch", async () => {
    const starts: Array<{ at: number; values: number[]; cost: number }> = [];
    const serving = BatchServing.new((values: number[], ctx) => {
      starts.push({ at: Date.now(), values: [...values], cost: ctx.cost });
      if (values.includes(3)) throw new Error('3 is poison');
      return values;
    });
    const running = BatchServing.start(serving, { batchSize: 4, batchTimeout: 5, isolateFailures: true, rateLimit: { per: 1000, batches: 1 } });
    const t0 = Date.now();
    const results = [1, 2, 3, 4].map((v) => track(running.dispatch(v)));
    await advance(5000);
    // Each re-run waits until the one before it has left the window (`per` ms after it finished).
    expect(starts.map((s) => [s.at - t0, s.values])).toEqual([
      [0, [1, 2, 3, 4]],
      [1000, [1, 2]],
      [2000, [3, 4]],
      [3000, [3]],
      [4000, [4]],
    ]);
    expect(busiestWindow(starts, 1000).batches).toBe(1);
    expect(results.map((r) => r.state)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(running.stats().throttledMs).toBe(4000);
    await running.close('drain', 1000);
  });

  it('drops a re-run held by the limit whose callers all timed out: it never runs', async () => {
    const starts: number[][] = [];
    const serving = BatchServing.new((values: number[]) => {
      starts.push([...values]);
      if (values.includes(3)) throw new Error('3 is poison');
      return values;
    });
    const running = BatchServing.start(serving, { batchSize: 4, batchTimeout: 5, isolateFailures: true, rateLimit: { per: 1000, batches: 1 } });
    const short = [1, 2].map((v) => track(running.dispatch(v, { timeout: 500 })));
    const long = [3, 4].map((v) => track(running.dispatch(v)));
    await advance(5000);
    expect(short.map((r) => (r.error as Error | undefined)?.name)).toEqual(['DispatchTimeoutError', 'DispatchTimeoutError']);
    expect(starts).toEqual([[1, 2, 3, 4], [3, 4], [3], [4]]);
    expect(long.map((r) => r.state)).toEqual(['rejected', 'fulfilled']);
    await running.close('drain', 1000);
  });
});
