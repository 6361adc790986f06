import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { BatchExecutionError, BatchServing, RunningServing, ServingConfigurationError, type ServingOptions } from '../../lib';

const fixture = (name: string) => join(__dirname, 'fixtures', name);
const OPS = fixture('ops.worker.js');

interface Op {
  op?: string;
  n?: number;
  fail?: boolean;
  ms?: number;
}
interface Echo {
  n: number;
  threadId: number;
  inits: number;
  initData: string;
  ctx: { partition: number; batchKey: string; size: number; cost: number; attempt: number };
}

/** Starts a worker serving on the ops fixture and waits until its threads are up. */
async function startOps(options: Partial<ServingOptions> = {}, shared = new SharedArrayBuffer(12), extra: object = {}) {
  const serving = BatchServing.worker<Op, unknown>(OPS, { workerData: { label: 'from workerData', shared }, ...extra }).streaming({ hooks: ['progress', 'who'] });
  const running = BatchServing.start(serving, { name: 'ops', batchTimeout: 0, ...options });
  opened.push(running);
  await running.ready();
  return { running, flags: new Int32Array(shared) };
}

const opened: RunningServing<any, any, any>[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((running) => running.close('drain', 5_000)));
});

/** Polls a shared flag the worker sets from its own thread. */
async function flag(flags: Int32Array, index: number): Promise<number> {
  for (let i = 0; i < 300 && Atomics.load(flags, index) === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return Atomics.load(flags, index);
}

describe('worker servings: batches on worker threads, one thread per partition', () => {
  it('runs init once per thread with workerData, before the thread\'s first batch, and hands the batch its context', async () => {
    const { running } = await startOps({ batchSize: 4 });
    const first = (await running.dispatchMany([{ n: 1 }, { n: 2 }])) as Echo[];
    const second = (await running.dispatch({ n: 3 })) as Echo;
    expect(first.map((e) => e.n)).toEqual([1, 2]);
    expect(first[0]).toMatchObject({ inits: 1, initData: 'from workerData', ctx: { partition: 0, batchKey: 'default', size: 2, cost: 2, attempt: 1 } });
    expect(first[0].threadId).not.toBe(0);
    // Same thread, init not run again.
    expect(second).toMatchObject({ threadId: first[0].threadId, inits: 1 });
  });

  it('with partitions: 2, two batches compute at the same time on two threads', async () => {
    // Each batch waits, in its thread, until the other one has arrived: on one thread they could not.
    const { running } = await startOps({ partitions: 2, batchSize: 1 });
    const both = await running.dispatchMany([{ op: 'rendezvous' }, { op: 'rendezvous' }]);
    expect(both).toEqual([true, true]);
  }, 20_000);

  it('an error thrown in handleBatch fails the batch with BatchExecutionError whose cause keeps its name, message and code', async () => {
    const { running } = await startOps();
    const error = await running.dispatch({ op: 'throw' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchExecutionError);
    const cause = (error as BatchExecutionError).cause as Error & { code?: string };
    expect(cause).toMatchObject({ name: 'ModelRefusedError', message: 'the model refused this batch', code: 'E_REFUSED' });
    expect(await running.dispatch({ n: 1 })).toMatchObject({ n: 1 });
  });

  it('an Error at position i of the outputs fails only the caller owning value i', async () => {
    const { running } = await startOps({ batchSize: 8, batchTimeout: 50 });
    const [good, bad] = await Promise.all([
      running.tryDispatch({ op: 'error-at', n: 1 }),
      running.tryDispatch({ op: 'error-at', n: 2, fail: true }),
    ]);
    expect(good).toEqual({ ok: true, value: 1 });
    expect(bad.ok).toBe(false);
    expect((bad as { error: Error }).error).toBeInstanceOf(BatchExecutionError);
    expect((bad as { error: Error }).error.message).toMatch(/value 2 is malformed/);
  });

  it.each([
    ['an uncaught error', 'crash', {}, /a native add-on blew up/],
    ['process.exit', 'exit', {}, /exited with code: 3/],
    ['running out of its resourceLimits', 'oom', { resourceLimits: { maxOldGenerationSizeMb: 16 } }, /memory/i],
  ])('a thread that dies from %s fails only its batch; the thread is replaced, init runs on the new one, the serving goes on', async (_what, op, extra, reason) => {
    const { running } = await startOps({ batchSize: 1 }, undefined, extra);
    const before = (await running.dispatch({ n: 1 })) as Echo;
    const error = await running.dispatch({ op }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchExecutionError);
    expect((error as Error).message).toMatch(/died/);
    expect((error as Error).message).toMatch(reason);
    const after = (await running.dispatch({ n: 2 })) as Echo;
    expect(after).toMatchObject({ n: 2, inits: 1, initData: 'from workerData' });
    expect(after.threadId).not.toBe(before.threadId);
    expect(running.stats()).toMatchObject({ batches: 3, failures: 1 });
  }, 20_000);

  it('ctx.emit reaches the callers across the thread boundary, sliced per caller, before the outputs', async () => {
    const { running } = await startOps({ batchSize: 8, batchTimeout: 50 });
    const [a, b] = await Promise.all([
      lastValueFrom(running.stream([{ op: 'emit', n: 1 }, { op: 'emit', n: 2 }], { context: 'alice' }).pipe(toArray())),
      lastValueFrom(running.stream([{ op: 'emit', n: 3 }], { context: 'bob' }).pipe(toArray())),
    ]);
    expect(a).toEqual([
      { type: 'hook', hook: 'progress', payload: [1, 2] },
      { type: 'hook', hook: 'who', payload: { offset: 0, size: 2, context: 'alice' } },
      { type: 'batch', offset: 0, outputs: [10, 20] },
    ]);
    expect(b).toEqual([
      { type: 'hook', hook: 'progress', payload: [3] },
      { type: 'hook', hook: 'who', payload: { offset: 2, size: 1, context: 'bob' } },
      { type: 'batch', offset: 0, outputs: [30] },
    ]);
  });

  it('a hook the serving did not declare throws UnknownHookError in the thread and fails the batch', async () => {
    const { running } = await startOps();
    const error = await running.dispatch({ op: 'undeclared-hook' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchExecutionError);
    expect((error as Error).cause).toMatchObject({ name: 'UnknownHookError', code: 'UNKNOWN_HOOK' });
  });

  it('ctx.signal in the thread aborts when every caller of the batch has gone', async () => {
    const { running, flags } = await startOps();
    const controller = new AbortController();
    // Aborted once its batch has started: before, the dispatch would just leave the queue.
    const started = new Promise<void>((resolve) => {
      const subscription = running.telemetry().subscribe((event) => event.type === 'start' && (subscription.unsubscribe(), resolve()));
    });
    const pending = running.dispatch({ op: 'wait-abort' }, { signal: controller.signal }).catch((e: unknown) => e);
    await started;
    controller.abort(new Error('the user left'));
    expect(await pending).toMatchObject({ code: 'DISPATCH_ABORTED' });
    expect(await flag(flags, 1)).toBe(1);
  });

  it('typed-array outputs are transferred, not copied: the thread\'s buffer is detached once they are sent', async () => {
    const { running, flags } = await startOps();
    const vector = (await running.dispatch({ op: 'vector', n: 0.5 })) as Float32Array;
    // Float32Array of another realm under Jest: compare the tag, not the class.
    expect(Object.prototype.toString.call(vector)).toBe('[object Float32Array]');
    expect(vector).toHaveLength(512);
    expect(vector[511]).toBe(0.5);
    expect(await flag(flags, 2)).toBe(1);
  });

  it('builders, batch keys, stats and telemetry work as for any serving', async () => {
    const serving = BatchServing.worker<Op, Echo>(OPS)
      .mapInputs((words: string[]) => words.map((w) => ({ n: w.length })))
      .validate((word) => {
        if (word === '') throw new Error('empty word');
      })
      .batchKey((value) => ((value.n ?? 0) > 3 ? 'long' : 'short'))
      .mapResults((outputs) => outputs.map((o) => `${o.ctx.batchKey}:${o.n}`));
    const running = BatchServing.start(serving, { name: 'words', batchTimeout: 20 });
    opened.push(running);
    await running.ready();
    const events: string[] = [];
    const subscription = running.telemetry().subscribe((event) => events.push(`${event.type}:${event.batchKey}`));
    expect(await running.dispatchMany(['cat', 'kitten', 'dog'])).toEqual(['short:3', 'long:6', 'short:3']);
    await expect(running.dispatch('')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    subscription.unsubscribe();
    expect(events.sort()).toEqual(['start:long', 'start:short', 'stop:long', 'stop:short']);
    expect(running.stats()).toMatchObject({ batches: 2, values: 3, failures: 0 });
  });

  it('BatchServing.inline runs the worker module in the caller, init first', async () => {
    const serving = BatchServing.worker<Op, Echo>(OPS, { workerData: { label: 'inline' } });
    const [echo] = await BatchServing.inlineMany(serving, [{ n: 7 }]);
    expect(echo).toMatchObject({ n: 7, threadId: 0, inits: 1, initData: 'inline' });
  });
});

describe('worker servings: a worker file that cannot load fails the start, naming the file', () => {
  it.each([
    ['a missing file', fixture('missing.worker.js'), /Cannot find module/],
    ['a module that throws at load time', fixture('throws-at-load.worker.js'), /the model file is corrupt/],
    ['an init that throws', fixture('init-fails.worker.js'), /no weights at \/models\/missing/],
    ['a module without handleBatch', fixture('no-handler.worker.js'), /exports no handleBatch/],
  ])('%s is a ServingConfigurationError at ready(), and no thread is left', async (_what, file, reason) => {
    const running = BatchServing.start(BatchServing.worker(file), { name: 'broken', partitions: 2 });
    const error = await running.ready().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServingConfigurationError);
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toMatch(reason);
    // A dispatch to it fails with the same error rather than waiting for a thread.
    await expect(running.dispatch(1)).rejects.toMatchObject({ code: 'BATCH_FAILED', cause: error });
    await running.close('reject', 0);
  });

  it('a relative path is refused when the serving is defined', () => {
    expect(() => BatchServing.worker('./embed.worker.js')).toThrow(ServingConfigurationError);
  });
});
