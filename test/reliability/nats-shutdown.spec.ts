/*
 * Shutdown under load across NATS: a real nats-server, two member processes and this process as
 * the caller. First a member closes gracefully while callers keep dispatching; then the caller's
 * own application closes under load. When close() resolves nothing is pending, every caller has
 * its result or a typed error, and no value executed twice.
 */
import { BatchServingError } from 'nestjs-batch-serving';
import { startCallerApp, type CallerApp } from '../nats/support/caller-app';
import { ExecutionRecord, MemberProcess } from '../nats/support/members';
import { NatsServer } from '../nats/support/nats-server';
import { report, scaled } from './support/scale';

jest.setTimeout(90_000);

const CALLERS = 100;
const PHASE = scaled({ ci: 1_000, full: 10_000 });

let server: NatsServer;
let record: ExecutionRecord;
let members: MemberProcess[] = [];
let caller: CallerApp | undefined;

beforeAll(async () => {
  server = await NatsServer.start();
  record = new ExecutionRecord();
  members = await Promise.all(
    ['A', 'B'].map((label) => MemberProcess.start(label, server.url, record.file, [{ name: 'squares', kind: 'squares', options: { batchSize: 16, batchTimeout: 2 } }])),
  );
});

afterAll(async () => {
  await caller?.close().catch(() => undefined);
  await Promise.all(members.map((m) => m.close()));
  await server?.dispose();
  record?.dispose();
});

describe(`shutdown under load across NATS (${CALLERS} callers, 2 members)`, () => {
  it('a member closing, then the caller closing: nothing pending, results or SERVING_SHUTDOWN, nothing executed twice', async () => {
    caller = await startCallerApp(server.url);
    const app = caller;
    let nextValue = 1;
    let issued = 0;
    let settled = 0;
    let wrong = 0;
    let stop = false;
    const codes: Record<string, number> = {};
    let milestone: { at: number; resolve: () => void } | undefined;
    const until = (n: number) => new Promise<void>((resolve) => (milestone = { at: n, resolve }));

    const loop = async () => {
      while (!stop) {
        const v = nextValue++;
        issued++;
        try {
          const out = (await app.client.dispatch('squares', v, { timeout: 20_000 })) as number;
          if (out !== v * v) wrong++;
          codes.OK = (codes.OK ?? 0) + 1;
        } catch (error) {
          const code = error instanceof BatchServingError ? error.code : String(error);
          codes[code] = (codes[code] ?? 0) + 1;
          if (code === 'SERVING_SHUTDOWN') return;
        } finally {
          settled++;
          if (milestone && settled >= milestone.at) milestone.resolve();
        }
      }
    };
    const callers = Promise.all(Array.from({ length: CALLERS }, loop));

    // Phase 1: member A leaves gracefully under load; B takes over.
    await until(PHASE);
    await members[0].close();
    const afterMemberClose = { ...codes };
    await until(settled + PHASE);

    // Phase 2: the caller's own application closes under load.
    await app.close();
    await new Promise<void>((resolve) => process.nextTick(resolve));
    const pendingAtClose = issued - settled;
    stop = true;
    await callers;
    caller = undefined;

    const values = record.values('squares').map(({ value }) => value as number);
    const executedTwice = values.length - new Set(values).size;
    report('nats shutdown', { callers: CALLERS, issued, settled, pendingWhenCloseResolved: pendingAtClose, codes, codesWhenMemberAClosed: afterMemberClose, wrong, executedTwice, executed: values.length });

    expect(pendingAtClose).toBe(0);
    expect(wrong).toBe(0);
    expect(executedTwice).toBe(0);
    // Only results, and SERVING_SHUTDOWN from the caller's own close: a graceful member close loses nothing.
    expect(Object.keys(codes).sort()).toEqual(['OK', 'SERVING_SHUTDOWN']);
  });
});
