/*
 * Shutdown under load, in one process: callers keep dispatching while the serving closes. When
 * close() resolves nothing is pending, and every caller has its result or SERVING_SHUTDOWN.
 */
import { BatchServing, BatchServingError, type RunningServing, type ShutdownMode } from 'nestjs-batch-serving';
import { report, scaled, sleep } from './support/scale';

jest.setTimeout(60_000);

const CALLERS = 200;
/** The serving closes once this many dispatches have settled: under load, not at a time. */
const CLOSE_AFTER = scaled({ ci: 5_000, full: 50_000 });

function hash(v: number): number {
  let h = Math.imul(v ^ 0x51ed, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

const scenarios: Array<{ name: string; mode: ShutdownMode; timeout: number; hang: boolean }> = [
  { name: 'drain: queued values run, running batches finish', mode: 'drain', timeout: 10_000, hang: false },
  { name: 'reject: queued values fail at once, running batches finish', mode: 'reject', timeout: 10_000, hang: false },
  { name: 'drain with a 200 ms shutdown.timeout and batches that never finish: the rest fails', mode: 'drain', timeout: 200, hang: true },
];

describe(`shutdown under load (${CALLERS} callers, close after ${CLOSE_AFTER} settlements)`, () => {
  it.each(scenarios)('$name', async ({ name, mode, timeout, hang }) => {
    const hung: Array<() => void> = [];
    const serving: RunningServing<number, number> = BatchServing.start(
      BatchServing.new(async (values: number[]) => {
        const h = hash(values[0]) % 16;
        // Once the serving closes, some batches never finish on their own (scenario `hang`).
        if (hang && serving.state !== 'running' && h < 4) await new Promise<void>((resolve) => hung.push(resolve));
        else if (h < 8) await sleep(h % 3);
        return values.map((v) => v * 3);
      }),
      { name: 'closing', batchSize: 16, batchTimeout: 2, partitions: 2 },
    );

    let issued = 0;
    let settled = 0;
    let results = 0;
    let shutdownErrors = 0;
    let wrong = 0;
    const other: string[] = [];
    let nextValue = 0;
    let closeStarted = false;
    let resolveLoad!: () => void;
    const loaded = new Promise<void>((resolve) => (resolveLoad = resolve));

    const caller = async () => {
      for (;;) {
        const values = hash(nextValue) % 10 === 0 ? [nextValue++, nextValue++, nextValue++] : [nextValue++];
        issued++;
        try {
          const out = values.length === 1 ? [await serving.dispatch(values[0])] : await serving.dispatchMany(values);
          settled++;
          results++;
          if (out.some((o, i) => o !== values[i] * 3)) wrong++;
        } catch (error) {
          settled++;
          if (error instanceof BatchServingError && error.code === 'SERVING_SHUTDOWN') shutdownErrors++;
          else other.push(String(error));
          // A caller stops once it has seen that the serving shut down.
          if (closeStarted) return;
        }
        if (settled >= CLOSE_AFTER) resolveLoad();
      }
    };

    const callers = Promise.all(Array.from({ length: CALLERS }, caller));
    await loaded;
    closeStarted = true;
    const statsAtClose = serving.stats();
    const closing = serving.close(mode, timeout);
    // Callers keep dispatching meanwhile: they get SERVING_SHUTDOWN at once.
    await closing;
    // Settling a promise reaches its awaiting caller a few microtasks later. Let only those run:
    // a nextTick queued now fires once the microtask queue is empty, before any timer, I/O or
    // setImmediate, so no batch can run and no deadline can fire in between.
    await new Promise<void>((resolve) => process.nextTick(resolve));
    const pendingAtClose = issued - settled;
    const statsAfter = serving.stats();
    // Let the callers notice, then release what still hangs (it must change nothing).
    await callers;
    for (const release of hung) release();
    await sleep(5);

    report(`shutdown ${mode}${hang ? ' forced' : ''}`, {
      scenario: name,
      issued,
      results,
      shutdownErrors,
      otherErrors: other.length,
      wrong,
      pendingWhenCloseResolved: pendingAtClose,
      queuedAtClose: statsAtClose.queued,
      executingAtClose: statsAtClose.executing,
      hungBatchesReleasedAfterClose: hung.length,
    });

    expect(pendingAtClose).toBe(0);
    expect(statsAfter).toMatchObject({ queued: 0, executing: 0 });
    expect(settled).toBe(issued);
    expect(other).toEqual([]);
    expect(wrong).toBe(0);
    expect(shutdownErrors).toBeGreaterThan(0);
    if (hang) expect(hung.length).toBeGreaterThan(0);
  });
});
