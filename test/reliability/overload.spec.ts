/*
 * Overload: producers much faster than the serving. The queue never grows past maxQueueSize,
 * what does not fit is refused at once with SERVING_OVERLOADED (and never executes), memory stays
 * bounded, and once the load drops every dispatch is served again.
 */
import { BatchServing, ServingOverloadedError, type RunningServing } from 'nestjs-batch-serving';
import { FULL, hasGc, heapAfterGc, mb, memorySampler, nextTurn, report, scaled, seeded, sleep } from './support/scale';

jest.setTimeout(FULL ? 300_000 : 60_000);

const MAX_QUEUE = 500;
const BATCH_SIZE = 20;
/** Each batch takes 2 ms on one partition: about 10,000 values/s at most. */
const BATCH_MS = 2;
/** Turns of overload; each turn offers BURST dispatches, far more than a turn can serve. */
const TURNS = scaled({ ci: 400, full: 5_000 });
const BURST = 200;
const RECOVERY = scaled({ ci: 2_000, full: 20_000 });

describe(`overload (${TURNS} turns of ${BURST} dispatches against maxQueueSize ${MAX_QUEUE})`, () => {
  it('bounds the queue, refuses the excess at once with SERVING_OVERLOADED, and recovers when the load drops', async () => {
    const random = seeded(42);
    const executed = new Set<number>();
    let executedTwice = 0;
    const serving: RunningServing<number, number> = BatchServing.start(
      BatchServing.new(async (values: number[]) => {
        for (const v of values) {
          if (executed.has(v)) executedTwice++;
          executed.add(v);
        }
        await sleep(BATCH_MS);
        return values.map((v) => v + 1);
      }),
      { name: 'overloaded', batchSize: BATCH_SIZE, batchTimeout: 1, partitions: 1, maxQueueSize: MAX_QUEUE },
    );

    const heapStart = await heapAfterGc();
    const memory = memorySampler(20);
    let maxQueued = 0;
    const sampleQueue = () => (maxQueued = Math.max(maxQueued, serving.stats().queued));
    const sampler = setInterval(sampleQueue, 1);

    let id = 0;
    let accepted = 0;
    let refused = 0;
    let refusedLate = 0;
    let wrong = 0;
    let otherErrors = 0;
    const refusedIds: number[] = [];
    const pending: Array<Promise<void>> = [];
    const startedAt = performance.now();
    for (let turn = 0; turn < TURNS; turn++) {
      let turnOver = false;
      // A burst of single and multi-value dispatches, all in one turn.
      const burst = Math.floor(BURST * (0.5 + random()));
      for (let i = 0; i < burst; i++) {
        const many = random() < 0.1;
        const ids = many ? [id, id + 1, id + 2, id + 3] : [id];
        id += ids.length;
        const dispatched: Promise<number | number[]> = many ? serving.dispatchMany(ids) : serving.dispatch(ids[0]);
        pending.push(
          dispatched.then(
            (result) => {
              accepted++;
              const results = Array.isArray(result) ? result : [result];
              if (results.some((r, j) => r !== ids[j] + 1)) wrong++;
            },
            (error: unknown) => {
              if (!(error instanceof ServingOverloadedError)) return void otherErrors++;
              refused++;
              // A refusal settles in the turn that dispatched it: no timer, no batch needed.
              if (turnOver) refusedLate++;
              refusedIds.push(...ids);
              if (!error.message.includes("'overloaded'") || !error.message.includes(`maxQueueSize ${MAX_QUEUE}`)) otherErrors++;
            },
          ),
        );
        sampleQueue();
      }
      // Let the promise callbacks of this turn run, then mark the turn over.
      await Promise.resolve();
      await new Promise<void>((resolve) => process.nextTick(resolve));
      turnOver = true;
      await nextTurn();
      if (pending.length > 20_000) pending.splice(0, pending.length, Promise.all(pending).then(() => undefined));
    }
    const overloadSeconds = (performance.now() - startedAt) / 1000;
    await Promise.all(pending);
    const acceptedDuringOverload = accepted;
    const peak = memory.stop();
    clearInterval(sampler);
    const heapAfterOverload = await heapAfterGc();

    // The load drops: 10 callers, one dispatch at a time each, well below capacity.
    let recovered = 0;
    let recoveryFailures = 0;
    const recoveryStart = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < RECOVERY) {
          next++;
          const v = id++;
          try {
            if ((await serving.dispatch(v)) === v + 1) recovered++;
            else recoveryFailures++;
          } catch {
            recoveryFailures++;
          }
        }
      }),
    );
    const recoverySeconds = (performance.now() - recoveryStart) / 1000;
    const statsAfter = serving.stats();
    await serving.close('drain', 5000);

    const refusedExecuted = refusedIds.filter((v) => executed.has(v)).length;
    report('overload', {
      maxQueueSize: MAX_QUEUE,
      valuesOffered: id - RECOVERY,
      accepted: acceptedDuringOverload,
      refused,
      refusedLate,
      maxQueuedSeen: maxQueued,
      refusedThenExecuted: refusedExecuted,
      executedTwice,
      otherErrors,
      wrongResults: wrong,
      overloadSeconds: Math.round(overloadSeconds * 10) / 10,
      peakRssMB: mb(peak.peakRss),
      peakHeapMB: mb(peak.peakHeap),
      heapStartMB: mb(heapStart),
      heapAfterOverloadMB: mb(heapAfterOverload),
      heapMeasuredAfterGc: hasGc,
      recoveryDispatches: RECOVERY,
      recovered,
      recoveryFailures,
      recoveryValuesPerSecond: Math.round(RECOVERY / recoverySeconds),
      queuedAfterRecovery: statsAfter.queued,
    });

    expect(refused).toBeGreaterThan(0);
    expect(acceptedDuringOverload).toBeGreaterThan(0);
    expect(maxQueued).toBeLessThanOrEqual(MAX_QUEUE);
    expect(refusedLate).toBe(0);
    expect(refusedExecuted).toBe(0);
    expect(executedTwice).toBe(0);
    expect(otherErrors).toBe(0);
    expect(wrong).toBe(0);
    // Bounded: refusals keep nothing. 100 MB over the start is far above what a 500-value queue needs.
    expect(heapAfterOverload - heapStart).toBeLessThan(100 * 1024 * 1024);
    expect(recovered).toBe(RECOVERY);
    expect(recoveryFailures).toBe(0);
    expect(statsAfter).toMatchObject({ queued: 0, executing: 0 });
  });
});
