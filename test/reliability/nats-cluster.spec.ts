/*
 * A NATS server SIGKILLed in a 3-server cluster under load. The caller (this process) and member A
 * are connected to server 0, member B to server 1; server 0 is SIGKILLed mid-load, so the caller
 * and A both lose their connection with messages on the way, and reconnect to the survivors.
 *
 * Checked: every dispatch settles, none fails (an answer lost on the way is asked for again and
 * replayed; a request lost on the way is re-sent elsewhere, since its member says it never got it),
 * and no value executes twice. Reported: throughput per 250 ms around the kill.
 */
import { BatchServingError } from 'nestjs-batch-serving';
import { startCallerApp } from '../nats/support/caller-app';
import { ExecutionRecord, MemberProcess, eventually, type MemberServing } from '../nats/support/members';
import { NatsCluster } from '../nats/support/nats-cluster';
import { FULL, nextTurn, report, scaled, sleep } from './support/scale';

const SERVING = 'clustered';
const CALLERS = scaled({ ci: 100, full: 300 });
const DURATION = scaled({ ci: 4_000, full: 20_000 });
const KILL_AT = scaled({ ci: 1_500, full: 8_000 });
const HUNG_AFTER = scaled({ ci: 10_000, full: 30_000 });
const BUCKET_MS = 250;

jest.setTimeout(FULL ? 180_000 : 60_000);

const servingConfig: MemberServing[] = [{ name: SERVING, kind: 'slow', delay: 4, options: { batchSize: 16, batchTimeout: 2 } }];

describe(`a NATS server SIGKILLed in a 3-server cluster (${CALLERS} callers)`, () => {
  it('0 unsettled, 0 failed, 0 executed twice', async () => {
    const cluster = await NatsCluster.start(3);
    const record = new ExecutionRecord();
    const members = await Promise.all([
      MemberProcess.start('A', cluster.urls(0), record.file, servingConfig),
      MemberProcess.start('B', cluster.urls(1), record.file, servingConfig),
    ]);
    const app = await startCallerApp(cluster.urls(0), [], { noRandomize: true });
    const load = { stop: false };
    try {
      await eventually(() => app.transport.members(SERVING).length === 2, 15_000, 'the caller seeing both members');

      const t0 = performance.now();
      const now = () => performance.now() - t0;
      let nextValue = 1;
      let issued = 0;
      let wrong = 0;
      const okPerBucket: number[] = [];
      const failures: Array<{ value: number; code: string; message: string }> = [];
      const outstanding = new Set<number>();
      const loop = async () => {
        while (!load.stop) {
          const value = nextValue++;
          issued++;
          outstanding.add(value);
          try {
            if ((await app.client.dispatch(SERVING, value)) !== value) wrong++;
            const bucket = Math.floor(now() / BUCKET_MS);
            okPerBucket[bucket] = (okPerBucket[bucket] ?? 0) + 1;
          } catch (error) {
            failures.push({ value, code: error instanceof BatchServingError ? error.code : 'untyped', message: String(error) });
            await sleep(10);
          } finally {
            outstanding.delete(value);
          }
          await nextTurn();
        }
      };
      const callers = Promise.all(Array.from({ length: CALLERS }, loop));

      await sleep(KILL_AT);
      const killedAt = now();
      await cluster.servers[0].stop('SIGKILL');
      await sleep(DURATION - KILL_AT);
      load.stop = true;
      const settled = await Promise.race([callers.then(() => true), sleep(HUNG_AFTER).then(() => false)]);

      const executed = record.values(SERVING).map(({ value }) => value as number);
      const twice = executed.length - new Set(executed).size;
      const buckets = Array.from({ length: Math.ceil(DURATION / BUCKET_MS) }, (_, i) => okPerBucket[i] ?? 0);
      const killBucket = Math.floor(killedAt / BUCKET_MS);
      const before = buckets.slice(1, killBucket);
      const baseline = before.reduce((a, b) => a + b, 0) / Math.max(1, before.length);
      const recovered = buckets.findIndex((n, i) => i > killBucket && n >= 0.9 * baseline);
      report('nats cluster server kill', {
        callers: CALLERS,
        durationMs: DURATION,
        killedAtMs: Math.round(killedAt),
        issued,
        failed: failures.length,
        failureSample: failures.slice(0, 3),
        unsettled: outstanding.size,
        executedTwice: twice,
        wrong,
        okPer250ms: buckets,
        baselinePer250ms: Math.round(baseline),
        backTo90PercentAfterMs: recovered < 0 ? null : Math.max(0, (recovered + 1) * BUCKET_MS - killedAt),
      });

      expect(settled).toBe(true);
      expect(outstanding.size).toBe(0);
      expect(failures).toEqual([]);
      expect(twice).toBe(0);
      expect(wrong).toBe(0);
    } finally {
      load.stop = true;
      await app.close();
      await Promise.all(members.map((member) => member.close()));
      await cluster.dispose();
      record.dispose();
    }
  });
});
