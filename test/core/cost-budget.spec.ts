import { BatchServing, InvalidInputError, type BatchTelemetryEvent } from 'nestjs-batch-serving';
import { advance, controlledBatches, finishAll, track, useFakeTimers } from '../helpers';

/* API.md section 9, cost budget: `.cost(fn)` and `maxBatchCost`. A value's cost here is the value itself. */

const byValue = (v: number) => v;

describe('a cost budget (maxBatchCost)', () => {
  beforeEach(useFakeTimers);
  afterEach(() => jest.useRealTimers());

  it('closes a batch before the value that would take it over maxBatchCost; that value starts the next, in arrival order', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn).cost(byValue), { batchSize: 10, batchTimeout: 10, maxBatchCost: 7 });
    const events: BatchTelemetryEvent[] = [];
    serving.telemetry().subscribe((e) => events.push(e));
    const results = [3, 4, 2, 5, 1].map((v) => track(serving.dispatch(v)));
    await advance(0);
    // [3, 4] is full by cost at once; [2, 5] too; [1] waits for its window.
    expect(calls.map((c) => [c.values, c.ctx.cost])).toEqual([[[3, 4], 7]]);
    await finishAll(calls, () => advance(0));
    expect(calls.map((c) => c.values)).toEqual([[3, 4], [2, 5]]);
    await advance(10);
    await finishAll(calls, () => advance(0));
    expect(calls.map((c) => c.values)).toEqual([[3, 4], [2, 5], [1]]);
    expect(results.map((r) => r.value)).toEqual([3, 4, 2, 5, 1]);
    expect(events.filter((e) => e.type === 'start').map((e) => [e.closedBy, e.cost])).toEqual([['cost', 7], ['cost', 7], ['timeout', 1]]);
    await serving.close('drain', 1000);
  });

  it('still caps the count with batchSize', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn).cost(() => 0.5), { batchSize: 2, batchTimeout: 10, maxBatchCost: 100 });
    [1, 2, 3].forEach((v) => serving.dispatch(v));
    await advance(10);
    await finishAll(calls, () => advance(0));
    expect(calls.map((c) => [c.values, c.ctx.cost])).toEqual([[[1, 2], 1], [[3], 0.5]]);
    await serving.close('drain', 1000);
  });

  it('splits a request across batches by cost, and gives its results back in input order', async () => {
    const { calls, fn } = controlledBatches((v: number) => v * 10);
    const serving = BatchServing.start(BatchServing.new(fn).cost(byValue), { batchSize: 100, batchTimeout: 10, maxBatchCost: 10, partitions: 3 });
    const result = track(serving.dispatchMany([6, 3, 5, 5, 2, 9]));
    await advance(10);
    expect(calls.map((c) => c.values)).toEqual([[6, 3], [5, 5], [2]]);
    calls[2].finish();
    calls[1].finish();
    await advance(0);
    expect(calls.map((c) => c.values)).toEqual([[6, 3], [5, 5], [2], [9]]);
    await finishAll(calls, () => advance(0));
    expect(result.value).toEqual([60, 30, 50, 50, 20, 90]);
    await serving.close('drain', 1000);
  });

  it('fails at once, with InvalidInputError naming the cost and the budget, a dispatch holding a value over maxBatchCost; none of its values run', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn).cost(byValue), { name: 'embed', batchSize: 10, batchTimeout: 10, maxBatchCost: 10 });
    const before = track(serving.dispatch(1));
    const oversized = track(serving.dispatchMany([2, 11, 3]));
    const after = track(serving.dispatch(4));
    await advance(0);
    expect(oversized.state).toBe('rejected');
    expect(oversized.error).toBeInstanceOf(InvalidInputError);
    expect((oversized.error as Error).message).toBe(
      "Value 1 of this dispatch to serving 'embed' costs 11, more than maxBatchCost 10, so no batch could hold it. Cut the value smaller (chunk the text, say), or raise maxBatchCost.",
    );
    await advance(10);
    await finishAll(calls, () => advance(0));
    expect(calls.map((c) => c.values)).toEqual([[1, 4]]);
    expect([before.value, after.value]).toEqual([1, 4]);
    expect(serving.stats().queued).toBe(0);
    await serving.close('drain', 1000);
  });

  it('never lets an oversized value at the head of the queue hold back the values behind it', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn).cost(byValue), { batchSize: 10, batchTimeout: 10, maxBatchCost: 10 });
    const head = track(serving.dispatch(50));
    const behind = [5, 5, 1].map((v) => track(serving.dispatch(v)));
    await advance(0);
    expect(head.state).toBe('rejected');
    await finishAll(calls, () => advance(10));
    expect(calls.map((c) => c.values)).toEqual([[5, 5], [1]]);
    expect(behind.map((r) => r.value)).toEqual([5, 5, 1]);
    await serving.close('drain', 1000);
  });

  it.each([
    ['throws', () => { throw new Error('no tokenizer'); }, ".cost of serving 'embed' threw for value 0 of this dispatch: no tokenizer"],
    ['returns a negative number', () => -1, ".cost of serving 'embed' gave value 0 of this dispatch the cost -1; it must return a finite number of at least 0."],
    ['returns NaN', () => Number.NaN, 'the cost NaN'],
    ['returns Infinity', () => Infinity, 'the cost Infinity'],
    ['returns a string', () => '3' as unknown as number, 'the cost "3"'],
  ])('fails only its own dispatch when the cost function %s', async (_, cost, message) => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn).cost((v: number) => (v === 13 ? cost() : 1)), { name: 'embed', batchSize: 10, batchTimeout: 10, maxBatchCost: 10 });
    const bad = track(serving.dispatch(13));
    const good = track(serving.dispatch(1));
    await advance(0);
    expect(bad.error).toBeInstanceOf(InvalidInputError);
    expect((bad.error as Error).message).toContain(message);
    await finishAll(calls, () => advance(10));
    expect(good.value).toBe(1);
    await serving.close('drain', 1000);
  });

  it('gives ctx.cost the total cost (the size without .cost), and stats the mean batch cost', async () => {
    const { calls, fn } = controlledBatches();
    const costed = BatchServing.start(BatchServing.new(fn).cost(byValue), { batchSize: 2, batchTimeout: 10 });
    [1, 2, 3, 4].forEach((v) => costed.dispatch(v));
    await finishAll(calls, () => advance(10));
    expect(calls.map((c) => c.ctx.cost)).toEqual([3, 7]);
    expect(costed.stats().meanBatchCost).toBe(5);
    await costed.close('drain', 1000);

    const plain = controlledBatches();
    const counted = BatchServing.start(BatchServing.new(plain.fn), { batchSize: 3, batchTimeout: 10 });
    [1, 2, 3, 4].forEach((v) => counted.dispatch(v));
    await finishAll(plain.calls, () => advance(10));
    expect(plain.calls.map((c) => c.ctx.cost)).toEqual([3, 1]);
    expect(counted.stats().meanBatchCost).toBe(2);
    await counted.close('drain', 1000);
  });

  it('lets rateLimit.cost cap one batch when maxBatchCost is not given', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn).cost(byValue), { batchSize: 10, batchTimeout: 10, rateLimit: { per: 1000, cost: 20 } });
    const oversized = track(serving.dispatch(21));
    const results = [8, 8, 8].map((v) => track(serving.dispatch(v)));
    await advance(0);
    expect((oversized.error as Error).message).toContain('costs 21, more than rateLimit.cost 20');
    expect(calls.map((c) => c.values)).toEqual([[8, 8]]);
    calls[0].finish();
    await serving.close('reject', 1000);
    await advance(0);
    expect(results.map((r) => r.state)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
  });

  it('keeps batch keys apart and budgets each key on its own', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn).cost(byValue).batchKey((v: number) => (v % 2 ? 'odd' : 'even')), { batchSize: 10, batchTimeout: 10, maxBatchCost: 6, partitions: 4 });
    const results = track(serving.dispatchMany([1, 2, 3, 4, 5, 6]));
    await finishAll(calls, () => advance(10));
    expect(calls.map((c) => c.values).sort()).toEqual([[1, 3], [2, 4], [5], [6]].sort());
    expect(results.value).toEqual([1, 2, 3, 4, 5, 6]);
    await serving.close('drain', 1000);
  });
});
