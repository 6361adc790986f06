import { lastValueFrom } from 'rxjs';
import { BatchServing, DispatchAbortedError, DispatchTimeoutError, ServingOverloadedError } from 'nestjs-batch-serving';
import { advance, controlledBatches, finishAll, nextTurn, track, useFakeTimers } from '../helpers';

describe('timeouts, aborts and overload', () => {
  afterEach(() => jest.useRealTimers());

  it('takes a dispatch that times out before its batch starts out of the queue; it never executes', async () => {
    useFakeTimers();
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { name: 'slow', batchSize: 1, batchTimeout: 0 });
    const first = track(serving.dispatch(1));
    const second = track(serving.dispatch(2, { timeout: 50 }));
    const third = track(serving.dispatch(3));
    await advance(0);
    expect(calls.map((c) => c.values)).toEqual([[1]]);
    await advance(50);
    expect(second.state).toBe('rejected');
    expect(second.error).toBeInstanceOf(DispatchTimeoutError);
    expect((second.error as Error).message).toBe(
      "Dispatch to serving 'slow' timed out after 50 ms. Raise { timeout }, or add partitions or batchSize so that it is served sooner.",
    );
    expect(serving.stats().queued).toBe(1);
    calls[0].finish();
    await advance(0);
    expect(calls.map((c) => c.values)).toEqual([[1], [3]]);
    calls[1].finish();
    await advance(0);
    expect([first.value, third.value]).toEqual([1, 3]);
    await serving.close('drain', 1000);
  });

  it('fails a dispatch whose batch already started at its deadline, drops its outputs, and leaves the others alone', async () => {
    useFakeTimers();
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0 });
    const late = track(serving.dispatch(1, { timeout: 20 }));
    const other = track(serving.dispatch(2));
    await advance(0);
    expect(calls).toHaveLength(1);
    await advance(20);
    expect(late.state).toBe('rejected');
    expect(other.state).toBe('pending');
    calls[0].finish();
    await advance(0);
    expect(other.value).toBe(2);
    expect(late.settlements).toBe(1);
    await serving.close('drain', 1000);
  });

  it('applies the serving timeout option as the default deadline', async () => {
    useFakeTimers();
    const { fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0, timeout: 30 });
    const result = track(serving.dispatch(1));
    await advance(29);
    expect(result.state).toBe('pending');
    await advance(1);
    expect(result.error).toBeInstanceOf(DispatchTimeoutError);
    const closing = serving.close('reject', 0);
    await advance(0);
    await closing;
  });

  it('uses one timer for all deadlines, not one per dispatch', async () => {
    useFakeTimers();
    const { fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 1, batchTimeout: 0, timeout: 1000 });
    for (let i = 0; i < 100; i++) track(serving.dispatch(i));
    await advance(0);
    expect(jest.getTimerCount()).toBe(1);
    const closing = serving.close('reject', 0);
    await advance(0);
    await closing;
  });

  it('withdraws a dispatch whose signal aborts before its batch starts, keeping the reason', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0 });
    const controller = new AbortController();
    const aborted = track(serving.dispatchMany([1, 2], { signal: controller.signal }));
    const kept = track(serving.dispatch(3));
    controller.abort('user left');
    await nextTurn();
    expect(aborted.error).toBeInstanceOf(DispatchAbortedError);
    expect((aborted.error as DispatchAbortedError).cause).toBe('user left');
    expect(calls.map((c) => c.values)).toEqual([[3]]);
    calls[0].finish();
    await nextTurn();
    expect(kept.value).toBe(3);
    await serving.close('drain', 1000);
  });

  it('refuses a dispatch whose signal is already aborted, at once', async () => {
    const serving = BatchServing.start(BatchServing.new((v: number[]) => v), { batchTimeout: 0 });
    await expect(serving.dispatch(1, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(DispatchAbortedError);
    expect(serving.stats().queued).toBe(0);
    await serving.close('drain', 1000);
  });

  it('aborts ctx.signal when every caller of the running batch has gone, not before', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0 });
    const a = new AbortController();
    const b = new AbortController();
    track(serving.dispatch(1, { signal: a.signal }));
    track(serving.dispatch(2, { signal: b.signal }));
    await nextTurn();
    const signal = calls[0].ctx.signal;
    a.abort();
    expect(signal.aborted).toBe(false);
    b.abort();
    expect(signal.aborted).toBe(true);
    calls[0].finish();
    await serving.close('drain', 1000);
  });

  it('refuses a dispatch whole, at once, with ServingOverloadedError when it would exceed maxQueueSize', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { name: 'busy', batchSize: 2, batchTimeout: 0, maxQueueSize: 5 });
    serving.dispatchMany([1, 2]);
    await nextTurn(); // [1, 2] is executing, not queued
    const queued = track(serving.dispatchMany([3, 4, 5, 6]));
    const refused = serving.dispatchMany([7, 8]);
    await expect(refused).rejects.toBeInstanceOf(ServingOverloadedError);
    await expect(refused).rejects.toMatchObject({
      code: 'SERVING_OVERLOADED',
      message:
        "Serving 'busy' is overloaded: 4 value(s) queued and 2 more would exceed maxQueueSize 5. Retry later, or raise maxQueueSize, partitions or batchSize.",
    });
    expect(serving.stats().queued).toBe(4);
    const fits = track(serving.dispatch(9)); // 4 + 1 does not exceed 5
    const closing = serving.close('drain', 1000);
    await finishAll(calls);
    await closing;
    expect(queued.value).toEqual([3, 4, 5, 6]);
    expect(fits.value).toBe(9);
  });
});

describe('very long timeouts and bad per-dispatch options', () => {
  it('a deadline or a shutdown timeout beyond setTimeout range neither fires early nor spins', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0 });
    const setTimeoutSpy = jest.spyOn(global, 'setTimeout');
    const result = track(serving.dispatch(1, { timeout: 3e9 }));
    await nextTurn();
    const closing = track(serving.close('drain', 3e9));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(result.state).toBe('pending');
    expect(closing.state).toBe('pending');
    expect(setTimeoutSpy.mock.calls.length).toBeLessThan(5);
    setTimeoutSpy.mockRestore();
    calls[0].finish();
    await nextTurn();
    expect(result.value).toBe(1);
    await nextTurn();
    expect(closing.state).toBe('fulfilled');
  });

  it.each([
    [{ timeout: NaN }, 'invalid timeout: NaN'],
    [{ timeout: -5 }, 'invalid timeout: -5'],
    [{ timeout: 'soon' as unknown as number }, 'invalid timeout: "soon"'],
    [{ signal: {} as AbortSignal }, 'invalid signal'],
  ])('refuses the dispatch options %j with InvalidInputError', async (options, message) => {
    const serving = BatchServing.start(BatchServing.new((v: number[]) => v), { name: 'opts', batchTimeout: 0 });
    for (const attempt of [serving.dispatch(1, options), serving.dispatchMany([1], options), lastValueFrom(serving.stream([1], options))]) {
      await expect(attempt).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining(`A dispatch to serving 'opts' has an ${message}`) });
    }
    expect(serving.stats().queued).toBe(0);
    await serving.close('drain', 100);
  });
});
