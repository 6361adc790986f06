import { BatchServing } from 'nestjs-batch-serving';
import { advance, controlledBatches, nextTurn, track, useFakeTimers } from '../helpers';

describe('the batch window', () => {
  afterEach(() => jest.useRealTimers());

  it('executes a batch batchTimeout after its first value arrived, with what arrived meanwhile', async () => {
    useFakeTimers();
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 100 });
    serving.dispatch(1);
    await advance(60);
    serving.dispatch(2);
    await advance(39);
    expect(calls).toHaveLength(0);
    await advance(1);
    expect(calls.map((c) => c.values)).toEqual([[1, 2]]);
    calls[0].finish();
    await serving.close('drain', 1000);
  });

  it('does not extend the window for later arrivals', async () => {
    useFakeTimers();
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 100 });
    for (let t = 0; t < 100; t += 20) {
      serving.dispatch(t);
      await advance(20);
    }
    expect(calls.map((c) => c.values)).toEqual([[0, 20, 40, 60, 80]]);
    calls[0].finish();
    await serving.close('drain', 1000);
  });

  it('executes a full batch at once, without waiting for the window', async () => {
    useFakeTimers();
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 3, batchTimeout: 10_000 });
    [1, 2, 3, 4].forEach((v) => serving.dispatch(v));
    expect(calls).toHaveLength(0); // never inside dispatch()
    await advance(0);
    expect(calls.map((c) => c.values)).toEqual([[1, 2, 3]]);
    calls[0].finish();
    await advance(9_999);
    expect(calls).toHaveLength(1);
    await advance(1);
    expect(calls.map((c) => c.values)).toEqual([[1, 2, 3], [4]]);
    calls[1].finish();
    await serving.close('drain', 1000);
  });

  it('starts a full batch once the code that dispatched has returned: in a microtask, before the end of the turn', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 3, batchTimeout: 0 });
    let turnEnded = false;
    setImmediate(() => (turnEnded = true));
    const results = [1, 2, 3, 4].map((v) => track(serving.dispatch(v)));
    expect(calls).toHaveLength(0); // never inside dispatch()
    await Promise.resolve();
    expect(turnEnded).toBe(false);
    expect(calls.map((c) => c.values)).toEqual([[1, 2, 3]]);
    // The value left over keeps its window: the end of the turn.
    calls[0].finish();
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[1, 2, 3], [4]]);
    calls[1].finish();
    await nextTurn();
    expect(results.map((r) => r.value)).toEqual([1, 2, 3, 4]);
    await serving.close('drain', 1000);
  });

  it('lets timers run while callers in a loop keep batches full: batches started from microtasks hold a turn for about 1 ms', async () => {
    // A synchronous batch function of 0.2 ms, 20 callers each dispatching again as its result comes
    // back: every batch is full, and each becomes due inside the microtasks of the one before.
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    let batches = 0;
    const serving = BatchServing.start(
      BatchServing.new((values: number[]) => {
        batches++;
        busy(0.2);
        return values;
      }),
      { batchSize: 20, batchTimeout: 0 },
    );
    let turns = 0;
    let timerFiredAfter: number | undefined;
    setTimeout(() => (timerFiredAfter = batches), 0);
    const countTurns = () => {
      turns++;
      if (!done) setImmediate(countTurns);
    };
    let done = false;
    setImmediate(countTurns);
    const caller = async (base: number) => {
      for (let i = 0; i < 100; i++) expect(await serving.dispatch(base + i)).toBe(base + i);
    };
    await Promise.all(Array.from({ length: 20 }, (_, c) => caller(c * 1000)));
    done = true;
    expect(batches).toBe(100);
    // The timer ran long before the loop ended (20 ms of batch functions)...
    expect(timerFiredAfter).toBeDefined();
    expect(timerFiredAfter!).toBeLessThan(50);
    // ...and the event loop went round, but not once per batch.
    expect(turns).toBeGreaterThan(1);
    expect(turns).toBeLessThan(batches);
    await serving.close('drain', 1000);
  });

  it('lets timers run while batches that settle in microtasks start one another as they end (2 partitions)', async () => {
    // A batch function that settles in a microtask (an in-memory lookup written async): each batch
    // that ends starts the one already waiting for a partition, whose callers fill the next.
    let batches = 0;
    const serving = BatchServing.start(
      BatchServing.new(async (values: number[]) => {
        batches++;
        const until = performance.now() + 0.1;
        while (performance.now() < until);
        return values;
      }),
      { batchSize: 10, batchTimeout: 0, partitions: 2 },
    );
    let timerFiredAfter: number | undefined;
    setTimeout(() => (timerFiredAfter = batches), 0);
    const caller = async (base: number) => {
      for (let i = 0; i < 100; i++) expect(await serving.dispatch(base + i)).toBe(base + i);
    };
    await Promise.all(Array.from({ length: 30 }, (_, c) => caller(c * 1000)));
    expect(batches).toBe(300);
    expect(timerFiredAfter).toBeDefined();
    expect(timerFiredAfter!).toBeLessThan(150);
    await serving.close('drain', 1000);
  });

  it('with batchTimeout 0 flushes at the end of the event-loop turn, using no timer', async () => {
    const setTimeoutSpy = jest.spyOn(global, 'setTimeout');
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 100, batchTimeout: 0 });
    const results = [1, 2, 3].map((v) => track(serving.dispatch(v)));
    expect(calls).toHaveLength(0);
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[1, 2, 3]]);
    expect(setTimeoutSpy).not.toHaveBeenCalled();
    setTimeoutSpy.mockRestore();
    calls[0].finish();
    await nextTurn();
    expect(results.map((r) => r.value)).toEqual([1, 2, 3]);
    await serving.close('drain', 1000);
  });

  it('never runs an empty batch when every queued value was withdrawn before its window expired', async () => {
    useFakeTimers();
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 100 });
    const controller = new AbortController();
    const result = track(serving.dispatch(1, { signal: controller.signal }));
    controller.abort();
    await advance(200);
    expect(calls).toHaveLength(0);
    expect(result.state).toBe('rejected');
    expect(serving.stats().queued).toBe(0);
    await serving.close('drain', 1000);
  });

  it('opens a fresh window for a value that arrives after every queued value was withdrawn (batchTimeout 0)', async () => {
    const serving = BatchServing.start(BatchServing.new((values: number[]) => values), { batchSize: 10, batchTimeout: 0 });
    const controller = new AbortController();
    serving.dispatch(1, { signal: controller.signal }).catch(() => undefined);
    controller.abort();
    await nextTurn();
    expect(await serving.dispatch(2)).toBe(2);
    await serving.close('drain', 100);
  });

  it('times a new value from its own arrival, not from the window of withdrawn values', async () => {
    useFakeTimers();
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 200 });
    const controller = new AbortController();
    serving.dispatch(1, { signal: controller.signal }).catch(() => undefined);
    await advance(150);
    controller.abort();
    serving.dispatch(2);
    await advance(199);
    expect(calls).toHaveLength(0);
    await advance(1);
    expect(calls.map((c) => c.values)).toEqual([[2]]);
    calls[0].finish();
    await serving.close('drain', 100);
  });
});
