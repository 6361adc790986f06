import { ServingUnavailableError } from 'nestjs-batch-serving';
import { startCallerApp, type CallerApp } from './support/caller-app';
import { ExecutionRecord, FAST, MemberProcess, eventually } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(120_000);

/** How long a dead member may keep its callers waiting: memberTimeout, a heartbeat, and room for a loaded machine. */
const DEATH_BOUND_MS = FAST.memberTimeout + FAST.heartbeatInterval + 4000;

type Outcome = { value: number; ok: boolean; result?: unknown; error?: unknown; settledAt: number };

/** Dispatches `value` and records how it settled, and when; never rejects. */
function outcome(app: CallerApp, serving: string, value: number): Promise<Outcome> {
  return app.client.dispatch(serving, value).then(
    (result) => ({ value, ok: true, result, settledAt: Date.now() }),
    (error: unknown) => ({ value, ok: false, error, settledAt: Date.now() }),
  );
}

describe('a member killed while it holds requests', () => {
  let server: NatsServer;
  let record: ExecutionRecord;
  let doomed: MemberProcess;
  let survivor: MemberProcess;
  let app: CallerApp;

  beforeAll(async () => {
    server = await NatsServer.start();
    record = new ExecutionRecord();
    // Batches of 5 that take 3 s: whatever the killed member holds is either running or queued.
    const slow = [{ name: 'slow', kind: 'slow' as const, delay: 3000, options: { batchSize: 5, batchTimeout: 0 } }];
    doomed = await MemberProcess.start('doomed', server.url, record.file, slow);
    survivor = await MemberProcess.start('survivor', server.url, record.file, slow);
    app = await startCallerApp(server.url);
    await eventually(() => app.transport.members('slow').length === 2, 10_000, 'both members');
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([doomed?.close(), survivor?.close()]);
    await server?.dispose();
    record?.dispose();
  });

  it('fails its callers with SERVING_UNAVAILABLE within the bound; the others get results; nothing runs twice; later dispatches go to the survivor', async () => {
    const pending = Array.from({ length: 20 }, (_, i) => outcome(app, 'slow', i));
    await eventually(() => new Set(record.values('slow').map(({ member }) => member)).size === 2, 10_000, 'both members to start a batch');
    const killedAt = Date.now();
    await doomed.kill();

    const outcomes = await Promise.all(pending);
    const failed = outcomes.filter((o) => !o.ok);
    const served = outcomes.filter((o) => o.ok);
    // Equal shares: half of the dispatches went to each member.
    expect(failed).toHaveLength(10);
    for (const o of failed) {
      expect(o.error).toBeInstanceOf(ServingUnavailableError);
      expect(o.error).toMatchObject({ code: 'SERVING_UNAVAILABLE' });
      expect(o.settledAt - killedAt).toBeLessThan(DEATH_BOUND_MS);
    }
    for (const o of served) expect(o.result).toBe(o.value);

    // Nothing was tried again after the member accepted it: every value ran at most once.
    const executed = record.values('slow').map(({ value }) => value);
    expect(executed.length).toBe(new Set(executed).size);
    const byDoomed = record.values('slow').filter(({ member }) => member === 'doomed').map(({ value }) => value);
    expect(served.map((o) => o.value)).toEqual(expect.not.arrayContaining(byDoomed));

    // The dead member is out of the group; new dispatches go to the survivor and succeed.
    expect(app.transport.members('slow').map(({ member }) => member)).toEqual([survivor.id]);
    const later = await Promise.all(Array.from({ length: 5 }, (_, i) => outcome(app, 'slow', 100 + i)));
    expect(later.every((o) => o.ok && o.result === o.value)).toBe(true);
    expect(record.values('slow').filter(({ value }) => (value as number) >= 100).every(({ member }) => member === 'survivor')).toBe(true);
  });
});

describe('a nats-server restart mid-load', () => {
  let server: NatsServer;
  let record: ExecutionRecord;
  let member: MemberProcess;
  let app: CallerApp;

  beforeAll(async () => {
    server = await NatsServer.start();
    record = new ExecutionRecord();
    member = await MemberProcess.start('M', server.url, record.file, [{ name: 'squares', kind: 'squares', options: { batchTimeout: 2 } }]);
    app = await startCallerApp(server.url);
    await eventually(() => app.transport.members('squares').length === 1, 10_000, 'the member');
  });

  afterAll(async () => {
    await app?.close();
    await member?.close();
    await server?.dispose();
    record?.dispose();
  });

  it('is survived: no dispatch hangs, those that fail say SERVING_UNAVAILABLE, nothing runs twice, and dispatches succeed again after', async () => {
    let next = 0;
    let running = true;
    const outcomes: Outcome[] = [];
    const slowest = { ms: 0 };
    // 20 callers in a loop, each waiting for its answer before sending the next.
    const loops = Array.from({ length: 20 }, async () => {
      while (running) {
        const started = Date.now();
        const o = await outcome(app, 'squares', next++);
        slowest.ms = Math.max(slowest.ms, o.settledAt - started);
        outcomes.push(o);
        if (!o.ok) await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    await eventually(() => outcomes.filter((o) => o.ok).length > 200, 20_000, 'load to be served');

    await server.stop('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 500));
    await server.run();
    const restartedAt = outcomes.length;
    await eventually(() => outcomes.slice(restartedAt).filter((o) => o.ok).length > 200, 30_000, 'dispatches to succeed after the restart');
    running = false;
    await Promise.all(loops);

    for (const o of outcomes) {
      if (o.ok) expect(o.result).toBe(o.value * o.value);
      else expect(o.error).toBeInstanceOf(ServingUnavailableError);
    }
    // Every dispatch settled, and none took longer than the member timeout allows.
    expect(slowest.ms).toBeLessThan(2 * FAST.memberTimeout + FAST.heartbeatInterval + 5000);
    const executed = record.values('squares').map(({ value }) => value);
    expect(executed.length).toBe(new Set(executed).size);
    expect(member.output).toMatch(/reconnected/);
  });
});
