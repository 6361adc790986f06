import { lastValueFrom, take, toArray } from 'rxjs';
import {
  BatchServing,
  ServingConfigurationError,
  resolveServingOptions,
  DEFAULT_SERVING_OPTIONS,
  type BatchContext,
  type BatchTelemetryEvent,
  type ServingHandler,
} from 'nestjs-batch-serving';
import { controlledBatches, nextTurn } from '../helpers';

describe('defining a serving', () => {
  it('is immutable: every builder returns a new serving', async () => {
    const base = BatchServing.new((values: number[]) => values.map((v) => v * v));
    const doubled = base.mapResults((outputs: number[]) => outputs.map((o) => o * 2));
    expect(doubled).not.toBe(base);
    expect(await BatchServing.inline(base, 3)).toBe(9);
    expect(await BatchServing.inline(doubled, 3)).toBe(18);
  });

  it('picks up handleBatch and the optional methods of a handler object, bound to it', async () => {
    class Embedder implements ServingHandler<number, number, string, string> {
      private readonly scale = 10;
      handleBatch(values: number[]) {
        return values.map((v) => v * this.scale);
      }
      mapInputs(inputs: string[]) {
        return inputs.map(Number);
      }
      mapResults(outputs: number[]) {
        return outputs.map(String);
      }
      validate(input: string) {
        if (input === '') throw new Error('empty');
      }
    }
    const serving = BatchServing.new(new Embedder());
    expect(await BatchServing.inlineMany(serving, ['1', '2'])).toEqual(['10', '20']);
    await expect(BatchServing.inline(serving, '')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('refuses an object without handleBatch with a clear error', () => {
    expect(() => BatchServing.new({} as ServingHandler<number, number>)).toThrow(ServingConfigurationError);
    expect(() => BatchServing.new({} as ServingHandler<number, number>)).toThrow(/handleBatch\(values, ctx\)/);
  });
});

describe('inline runs', () => {
  it('runs at once, without a queue, as consecutive batches of at most batchSize', async () => {
    const batches: number[][] = [];
    const serving = BatchServing.new((values: number[], ctx: BatchContext) => {
      batches.push(values);
      expect(ctx.partition).toBe(0);
      expect(ctx.callers).toEqual([{ offset: 0, size: values.length, context: 'job-1' }]);
      return values.map((v) => -v);
    });
    expect(await BatchServing.inlineMany(serving, [1, 2, 3, 4, 5], { batchSize: 2, context: 'job-1' })).toEqual([-1, -2, -3, -4, -5]);
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('is offered by a running serving too, with its batchSize, without touching its queue', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new((values: number[], ctx: BatchContext) => (ctx.size > 2 ? fn(values, ctx) : values)), {
      batchSize: 2,
    });
    expect(await running.inlineMany([1, 2, 3])).toEqual([1, 2, 3]);
    expect(await running.inline(7)).toBe(7);
    expect(calls).toHaveLength(0);
    expect(running.stats().batches).toBe(0);
    await running.close('drain', 100);
  });

  it('refuses with InvalidInputError when batchKey throws, whichever value it throws on', async () => {
    const keyed = BatchServing.new((values: number[]) => values).batchKey((v) => {
      if (v === 2) throw new Error('no key for 2');
      return 'k';
    });
    for (const inputs of [[1, 2], [2, 1]]) {
      await expect(BatchServing.inlineMany(keyed, inputs, { name: 'keyed' })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: "Serving 'keyed' refused an input: no key for 2" });
    }
  });

  it('reports errors as dispatches do', async () => {
    const failing = BatchServing.new((values: number[]) => values.map((v) => (v < 0 ? new Error('negative') : v)));
    await expect(BatchServing.inlineMany(failing, [1, -1], { name: 'sqrt' })).rejects.toMatchObject({
      code: 'BATCH_FAILED',
      message: "Serving 'sqrt' returned an error for value 1 of this dispatch: negative",
    });
    const short = BatchServing.new((values: number[]) => values.slice(1));
    await expect(BatchServing.inline(short, 1)).rejects.toMatchObject({ code: 'RESULT_LENGTH_MISMATCH' });
  });
});

describe('options', () => {
  it('has documented defaults', () => {
    expect(DEFAULT_SERVING_OPTIONS).toEqual({
      batchSize: 32,
      batchTimeout: 10,
      partitions: 1,
      maxQueueSize: 100_000,
      timeout: undefined,
      isolateFailures: false,
      weight: 1,
      window: 'fixed',
    });
  });

  it.each([
    [{ batchSize: 0 }, "Serving 'embed' has an invalid batchSize: 0. It must be a whole number of at least 1."],
    [{ batchSize: -1 }, 'invalid batchSize: -1'],
    [{ batchSize: NaN }, 'invalid batchSize: NaN'],
    [{ batchSize: Infinity }, 'invalid batchSize: Infinity'],
    [{ batchSize: 1.5 }, 'invalid batchSize: 1.5'],
    [{ partitions: 0 }, 'invalid partitions: 0. It must be a whole number of at least 1.'],
    [{ batchTimeout: -1 }, 'invalid batchTimeout: -1. It must be a number of milliseconds from 0 to 2147483647.'],
    [{ batchTimeout: 3e9 }, 'invalid batchTimeout: 3000000000'],
    [{ maxQueueSize: 0 }, 'invalid maxQueueSize: 0'],
    [{ timeout: 0 }, 'invalid timeout: 0'],
    [{ weight: 0 }, 'invalid weight: 0'],
    [{ window: 'smart' as 'fixed' }, "invalid window: \"smart\". It must be 'fixed' or 'adaptive'."],
  ])('refuses %j at start with a clear error', (options, message) => {
    expect(() => resolveServingOptions('embed', options)).toThrow(ServingConfigurationError);
    expect(() => BatchServing.start(BatchServing.new((v: number[]) => v), { name: 'embed', ...options })).toThrow(message);
  });

  it('layers options over the defaults, later layers winning, undefined ignored', () => {
    expect(resolveServingOptions('x', { batchSize: 8, partitions: 2 }, { batchSize: 16, partitions: undefined })).toMatchObject({
      batchSize: 16,
      partitions: 2,
      batchTimeout: 10,
    });
  });
});

describe('stats and telemetry', () => {
  it('counts batches, values, failures, queue depth and timings', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 2, batchTimeout: 0 });
    const results = Promise.allSettled([1, 2, 3].map((v) => serving.dispatch(v)));
    await nextTurn();
    expect(serving.stats()).toMatchObject({ queued: 1, executing: 2, batches: 0 });
    calls[0].finish();
    await nextTurn();
    expect(serving.stats()).toMatchObject({ queued: 0, executing: 1, batches: 1, values: 2 });
    calls[1].fail(new Error('x'));
    await results;
    const stats = serving.stats();
    expect(stats).toMatchObject({ queued: 0, executing: 0, batches: 2, values: 3, failures: 1, meanBatchSize: 1.5 });
    expect(stats.queueWaitMs.p99).toBeGreaterThanOrEqual(stats.queueWaitMs.p50);
    expect(stats.runMs.p50).toBeGreaterThanOrEqual(0);
    await serving.close('drain', 100);
  });

  it('emits one telemetry event per batch start, stop and failure', async () => {
    let n = 0;
    const serving = BatchServing.start(
      BatchServing.new((values: string[]) => {
        if (n++ === 1) throw new Error('second fails');
        return values;
      }),
      { name: 'embed', batchSize: 2, batchTimeout: 0 },
    );
    const events = lastValueFrom(serving.telemetry().pipe(take(4), toArray()));
    await serving.dispatchMany(['a', 'b']);
    await serving.dispatch('c').catch(() => undefined);
    const [start1, stop, start2, failure] = (await events) as BatchTelemetryEvent[];
    expect(start1).toMatchObject({ type: 'start', serving: 'embed', partition: 0, batchKey: 'default', size: 2 });
    expect(start1.runMs).toBeUndefined();
    expect(stop).toMatchObject({ type: 'stop', size: 2, runMs: expect.any(Number), waitMs: expect.any(Number) });
    expect(start2).toMatchObject({ type: 'start', size: 1 });
    expect(failure).toMatchObject({ type: 'failure', size: 1, error: new Error('second fails') });
    await serving.close('drain', 100);
  });
});

describe('telemetry at shutdown', () => {
  it('completes once the serving has stopped', async () => {
    const serving = BatchServing.start(BatchServing.new((v: number[]) => v), { batchTimeout: 0 });
    const events = lastValueFrom(serving.telemetry().pipe(toArray()));
    await serving.dispatch(1);
    await serving.close('drain', 100);
    expect((await events).map((e) => e.type)).toEqual(['start', 'stop']);
  });
});
