import { DispatchAbortedError, DispatchTimeoutError, ServingUnavailableError } from 'nestjs-batch-serving';
import { startCallerApp, type CallerApp } from './support/caller-app';
import { ExecutionRecord, FAST, MemberProcess, eventually } from './support/members';
import { NatsServer } from './support/nats-server';
import { Partition } from './support/partition';

jest.setTimeout(120_000);

/*
 * Leases: a member starts work for other processes only while it can vouch that their callers
 * still wait for it. A member that holds queued work is stalled (SIGSTOP), or cut off from the
 * network, past memberTimeout; its callers give up on it (it is taken for dead), on their
 * deadline, or by aborting. Neither while cut off nor when it wakes may it start any of that work.
 */
type Outcome = { value: number; ok: boolean; error?: unknown; settledAt: number };

const TROUBLE_MS = 2.5 * FAST.memberTimeout;
// Batches of 4 that take 300 ms, one at a time: most of what a member holds waits in its queue.
const SLOW = [{ name: 'slow', kind: 'slow' as const, delay: 300, options: { batchSize: 4, batchTimeout: 0 } }];

let server: NatsServer;
let record: ExecutionRecord;

beforeEach(async () => {
  server = await NatsServer.start();
  record = new ExecutionRecord();
});

afterEach(async () => {
  await server?.dispose();
  record?.dispose();
});

/**
 * 60 dispatches over two members; then `troubled` is put in trouble for TROUBLE_MS while 30 more
 * are sent and, with `abort`, a third of all are aborted; then it is let go. Every third dispatch
 * has a deadline.
 */
async function underTrouble(app: CallerApp, troubled: MemberProcess, start: () => void, end: () => void, abort: boolean): Promise<{ settled: Outcome[]; troubleAt: number }> {
  const outcomes: Array<Promise<Outcome>> = [];
  const aborters: AbortController[] = [];
  const dispatch = (value: number) => {
    const controller = value % 3 === 1 ? new AbortController() : undefined;
    if (controller) aborters.push(controller);
    const options = value % 3 === 0 ? { timeout: 1500 } : { signal: controller?.signal };
    outcomes.push(
      app.client.dispatch<number>('slow', value, options).then(
        () => ({ value, ok: true, settledAt: Date.now() }),
        (error: unknown) => ({ value, ok: false, error, settledAt: Date.now() }),
      ),
    );
  };
  for (let value = 0; value < 60; value++) dispatch(value);
  await eventually(() => record.values('slow').some(({ member }) => member === troubled.label), 10_000, 'the troubled member to start a batch');
  start();
  const troubleAt = Date.now();
  for (let value = 60; value < 90; value++) dispatch(value);
  await new Promise((resolve) => setTimeout(resolve, FAST.memberTimeout / 2));
  if (abort) for (const controller of aborters) controller.abort('the user gave up');
  await new Promise((resolve) => setTimeout(resolve, TROUBLE_MS - FAST.memberTimeout / 2));
  end();
  const settled = await Promise.all(outcomes);
  // Let the member do whatever it would do with what it held: several of its batches.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return { settled, troubleAt };
}

/** The property, and what else must hold: typed failures within memberTimeout + 1 s, nothing twice. */
function expectNoLateStarts(settled: Outcome[], troubleAt: number): void {
  const startedAt = new Map<number, number>();
  for (const { value, at } of record.values('slow')) startedAt.set(value as number, at);
  const lateStarts = settled.filter((o) => !o.ok && startedAt.has(o.value) && startedAt.get(o.value)! > o.settledAt);
  expect(lateStarts).toEqual([]);

  const failed = settled.filter((o) => !o.ok);
  for (const o of failed) expect([ServingUnavailableError, DispatchTimeoutError, DispatchAbortedError].some((type) => o.error instanceof type)).toBe(true);
  const takenForDead = failed.filter((o) => o.error instanceof ServingUnavailableError);
  expect(takenForDead.length).toBeGreaterThan(0);
  for (const o of takenForDead) expect(o.settledAt - troubleAt).toBeLessThan(FAST.memberTimeout + 1000);

  const executed = record.values('slow').map(({ value }) => value);
  expect(executed.length).toBe(new Set(executed).size);
}

describe('a member stalled (SIGSTOP) past memberTimeout while it holds queued work', () => {
  it('starts no value after its caller was told it failed; its callers fail within memberTimeout + 1 s; it serves again', async () => {
    const stalled = await MemberProcess.start('stalled', server.url, record.file, SLOW);
    const healthy = await MemberProcess.start('healthy', server.url, record.file, SLOW);
    const app = await startCallerApp(server.url);
    try {
      await eventually(() => app.transport.members('slow').length === 2, 10_000, 'both members');
      const { settled, troubleAt } = await underTrouble(app, stalled, () => stalled.pause(), () => stalled.resume(), true);
      expectNoLateStarts(settled, troubleAt);
      expect(stalled.output).toContain('past its lease');
      await eventually(() => app.transport.members('slow').length === 2, 10_000, 'the woken member to rejoin');
      await expect(Promise.all(Array.from({ length: 8 }, (_, i) => app.client.dispatch('slow', 1000 + i)))).resolves.toEqual(Array.from({ length: 8 }, (_, i) => 1000 + i));
    } finally {
      stalled.resume();
      await app.close();
      await Promise.all([stalled.close(), healthy.close()]);
    }
  });
});

describe('a member cut off from the network past memberTimeout while it holds queued work', () => {
  // No aborts here: a cancel cannot cross a partition, so an abort is honoured from the lease's
  // end (before its caller could take the member for dead), not from the moment of the abort.
  it('stops starting that work when its lease ends, before its callers give up on it', async () => {
    const partition = await Partition.between(server.port);
    const cutOff = await MemberProcess.start('cut-off', partition.url, record.file, SLOW);
    const healthy = await MemberProcess.start('healthy', server.url, record.file, SLOW);
    const app = await startCallerApp(server.url);
    try {
      await eventually(() => app.transport.members('slow').length === 2, 10_000, 'both members');
      const { settled, troubleAt } = await underTrouble(app, cutOff, () => partition.sever(), () => partition.heal(), false);
      expectNoLateStarts(settled, troubleAt);
      expect(cutOff.output).toContain('past its lease');
    } finally {
      partition.heal();
      await app.close();
      await Promise.all([cutOff.close(), healthy.close()]);
      await partition.close();
    }
  });
});
