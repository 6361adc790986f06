import { Test, type TestingModule } from '@nestjs/testing';
import {
  BatchServing,
  BatchServingClient,
  BatchServingModule,
  Serving,
  ServingShutdownError,
  type BatchContext,
  type BatchServingModuleOptions,
} from '../../lib';
import { FakeTransport, RecordingLogger, deferred, nextTurn, track } from './helpers';

/** A serving whose batches wait for `release`: work stays in flight until the test says so. */
function heldServing() {
  const release = deferred();
  const signals: AbortSignal[] = [];
  const serving = BatchServing.new(async (values: number[], ctx: BatchContext) => {
    signals.push(ctx.signal);
    await release.promise;
    return values.map((v) => v * 10);
  });
  return { serving, release, signals };
}

async function startApp(options: BatchServingModuleOptions, providers: unknown[] = [], logger = new RecordingLogger()) {
  const app = await Test.createTestingModule({ imports: [BatchServingModule.forRoot(options)], providers: providers as never[] })
    .setLogger(logger)
    .compile();
  await app.init();
  return { app, client: app.get(BatchServingClient), logger };
}

describe('Lifecycle: start at init, drain at shutdown', () => {
  let app: TestingModule | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('close() during in-flight work: the running batch finishes, queued work runs, every caller settles', async () => {
    const held = heldServing();
    let client: BatchServingClient;
    ({ app, client } = await startApp({ servings: [{ name: 'held', serving: held.serving, batchSize: 2, batchTimeout: 0 }] }));
    const running = track(client.dispatch('held', 1));
    await nextTurn();
    // The only partition is busy: these wait in the queue.
    const queued = [2, 3, 4].map((v) => track(client.dispatch('held', v)));
    const close = app.close();
    app = undefined;
    const closing = track(close);
    await nextTurn();
    // Intake has stopped; the running batch is still held, so close() waits.
    await expect(client.dispatch('held', 5)).rejects.toBeInstanceOf(ServingShutdownError);
    expect(closing.settled).toBe(false);
    held.release.resolve();
    await close;
    // When close() resolves, nothing is pending: the running and the queued callers all got their results.
    expect([running, ...queued].map((c) => c.value)).toEqual([10, 20, 30, 40]);
    await expect(client.dispatch('held', 6)).rejects.toBeInstanceOf(ServingShutdownError);
  });

  it("shutdown mode 'reject' fails queued work at once and lets the running batch finish", async () => {
    const held = heldServing();
    let client: BatchServingClient;
    ({ app, client } = await startApp({ shutdown: { mode: 'reject' }, servings: [{ name: 'held', serving: held.serving, batchTimeout: 0 }] }));
    const running = client.dispatch('held', 1);
    await nextTurn();
    const queued = client.dispatch('held', 2);
    const closing = app.close();
    app = undefined;
    await expect(queued).rejects.toBeInstanceOf(ServingShutdownError);
    held.release.resolve();
    await closing;
    expect(await running).toBe(10);
  });

  it('work still running after shutdown.timeout fails with ServingShutdownError, and its batch is told through ctx.signal', async () => {
    const held = heldServing();
    let client: BatchServingClient;
    ({ app, client } = await startApp({ shutdown: { timeout: 20 }, servings: [{ name: 'held', serving: held.serving, batchTimeout: 0 }] }));
    const stuck = client.dispatch('held', 1);
    await nextTurn();
    await app.close();
    app = undefined;
    await expect(stuck).rejects.toThrow("Serving 'held' shut down before this dispatch finished (shutdown.timeout 20 ms passed).");
    expect(held.signals[0].aborted).toBe(true);
    held.release.resolve();
  });

  it('tells the transport: start and host at init; unhost before the drain; close after it', async () => {
    const transport = new FakeTransport();
    const held = heldServing();
    let client: BatchServingClient;
    ({ app, client } = await startApp({ transport, servings: [{ name: 'held', serving: held.serving, batchTimeout: 0 }] }));
    expect(transport.calls).toEqual(['start', 'host held']);
    const inFlight = client.dispatch('held', 1);
    await nextTurn();
    const closing = app.close();
    app = undefined;
    await nextTurn();
    expect(transport.calls).toEqual(['start', 'host held', 'unhost held']);
    held.release.resolve();
    await closing;
    expect(await inFlight).toBe(10);
    expect(transport.calls).toEqual(['start', 'host held', 'unhost held', 'close']);
  });

  it('an application closed before init never starts, nor closes, the transport', async () => {
    const transport = new FakeTransport();
    const unstarted = await Test.createTestingModule({ imports: [BatchServingModule.forRoot({ transport })] }).compile();
    await unstarted.close();
    expect(transport.calls).toEqual([]);
  });

  it('leaves no timer behind after close(), even with open windows and dispatch deadlines', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    let client: BatchServingClient;
    ({ app, client } = await startApp({ servings: [{ name: 'slow-window', serving: (v: number[]) => v, batchTimeout: 60_000, timeout: 60_000 }] }));
    const waiting = client.dispatch('slow-window', 1);
    expect(timers()).toBeGreaterThan(before);
    await app.close();
    app = undefined;
    // Draining ran the waiting value at once instead of waiting out its window.
    expect(await waiting).toBe(1);
    expect(timers()).toBe(before);
  });

  it('logs a line per started serving with its options, failed batches as warnings, and the shutdown', async () => {
    @Serving({ name: 'flaky', batchTimeout: 0 })
    class Flaky {
      handleBatch(): number[] {
        throw new Error('model crashed');
      }
    }
    let client: BatchServingClient;
    let logger: RecordingLogger;
    ({ app, client, logger } = await startApp({ servings: [{ name: 'echo', serving: (v: number[]) => v, batchSize: 4 }] }, [Flaky]));
    expect(logger.at('log')).toEqual([
      "Serving 'echo' started (forRoot servings[0]): batchSize 4, batchTimeout 10 ms, partitions 1, maxQueueSize 100000, timeout none, isolateFailures false, weight 1, window fixed",
      "Serving 'flaky' started (@Serving() class Flaky in RootTestModule): batchSize 32, batchTimeout 0 ms, partitions 1, maxQueueSize 100000, timeout none, isolateFailures false, weight 1, window fixed",
    ]);
    await client.tryDispatch('flaky', 1);
    expect(logger.at('warn')).toEqual(["Serving 'flaky' failed a batch of 1 value(s) on partition 0: model crashed"]);
    await app.close();
    app = undefined;
    expect(logger.at('log').slice(2)).toEqual([
      'Stopping 2 serving(s): draining queued and running work, for up to 30000 ms.',
      expect.stringMatching(/^Stopped 2 serving\(s\) in \d+ ms\.$/),
    ]);
  });
});
