import { connect, type NatsConnection } from '@nats-io/transport-node';
import { InvalidInputError, ServingShutdownError } from 'nestjs-batch-serving';
import { msgpackCodec } from 'nestjs-batch-serving/nats';
import { startCallerApp, type CallerApp } from './support/caller-app';
import { ExecutionRecord, MemberProcess, eventually } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(60_000);

/*
 * Dispatch options are checked once, by the same rule, wherever the dispatch goes: in the caller
 * before anything is sent, and in the member for each entry of a request on its own.
 */
let server: NatsServer;
let record: ExecutionRecord;
let member: MemberProcess;
let caller: CallerApp;
let raw: NatsConnection;

beforeAll(async () => {
  server = await NatsServer.start();
  record = new ExecutionRecord();
  member = await MemberProcess.start('A', server.url, record.file, [
    { name: 'squares', kind: 'squares', options: { batchTimeout: 20 } },
    { name: 'held', kind: 'slow', delay: 500, options: { batchSize: 1, batchTimeout: 0 } },
  ]);
  caller = await startCallerApp(server.url);
  raw = await connect({ servers: server.url });
  await eventually(() => caller.transport.members('squares').length === 1 && caller.transport.members('held').length === 1, 10_000, 'the member');
});

afterAll(async () => {
  await raw?.close();
  await caller?.close();
  await member?.close();
  await server?.dispose();
  record?.dispose();
});

describe('priority across NATS (API.md section 8.4)', () => {
  it('travels with the request: on the member, a later dispatch of higher priority runs before earlier ones of lower', async () => {
    // One partition, one value a batch, each held 500 ms: what arrives meanwhile waits in the member's queue.
    const first = caller.client.dispatch('held', 1);
    await eventually(() => record.values('held').length === 1, 10_000, 'the first batch running on the member');
    const rest = [caller.client.dispatch('held', 2), caller.client.dispatch('held', 3), caller.client.dispatch('held', 4, { priority: 5 })];
    expect(await Promise.all([first, ...rest])).toEqual([1, 2, 3, 4]);
    expect(record.values('held').map(({ value }) => value)).toEqual([1, 4, 2, 3]);
  });
});

describe('a remote dispatch with a bad option', () => {
  it.each([
    ['a signal that is not an AbortSignal', { signal: {} }, 'signal'],
    ['timeout 0', { timeout: 0 }, 'timeout'],
    ['timeout -1', { timeout: -1 }, 'timeout'],
    ["timeout '100'", { timeout: '100' }, 'timeout'],
    ['timeout Infinity', { timeout: Infinity }, 'timeout'],
    ['timeout NaN', { timeout: NaN }, 'timeout'],
    ['priority 1.5', { priority: 1.5 }, 'priority'],
  ])('with %s fails at once with INVALID_INPUT, as a local one does, and sends nothing', async (_, options, option) => {
    const before = record.values('squares').length;
    const error = await caller.client.dispatch('squares', 3, options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toContain(`invalid ${option}`);
    await expect(caller.client.dispatchMany('squares', [1, 2], options as never)).rejects.toBeInstanceOf(InvalidInputError);
    // The good dispatch right after it is served, and nothing of the refused ones ran.
    await expect(caller.client.dispatch('squares', 4)).resolves.toBe(16);
    expect(record.values('squares').slice(before).map(({ value }) => value)).toEqual([4]);
  });

  it('with a bad signal never enters the caller: the application still closes, and closing fails nothing', async () => {
    const app = await startCallerApp(server.url);
    await eventually(() => app.transport.members('squares').length === 1, 10_000, 'the member');
    await expect(app.client.dispatch('squares', 5, { signal: {} as AbortSignal })).rejects.toBeInstanceOf(InvalidInputError);
    const inFlight = app.client.dispatch('squares', 6).then(
      (value) => value,
      (error: unknown) => error,
    );
    await expect(app.close()).resolves.toBeUndefined();
    // A dispatch in flight at close either completed or failed with SERVING_SHUTDOWN: settled either way.
    const outcome = await inFlight;
    expect(outcome === 36 || outcome instanceof ServingShutdownError).toBe(true);
  });
});

describe('a member given a request whose entries are not all good', () => {
  it('refuses each bad entry alone, with INVALID_INPUT, and serves its neighbours in the same message', async () => {
    const self = 'optionsprobe';
    const answers: unknown[] = [];
    const subscription = raw.subscribe(`batch-serving.in.${self}.r`, { callback: (_, msg) => void answers.push(...(msgpackCodec.decode(msg.data) as { r: unknown[] }).r) });
    const entries = [
      { i: 1, in: [2] },
      { i: 2, in: [3], t: Number.NaN }, // a NaN timeout, as the default codec carries it
      { i: 3, in: 'not inputs' },
      { i: 4, in: [4], p: 1.5 },
      { i: 5, in: [5], t: 60_000, p: 3 },
      { i: 'no id', in: [6] },
    ];
    raw.publish(`batch-serving.serve.squares.${member.id}`, msgpackCodec.encode({ v: 1, k: 'req', from: self, seq: 1, e: entries }));
    await eventually(() => answers.length >= 5, 10_000, 'an answer for each entry with an id');
    subscription.unsubscribe();
    const byId = new Map(answers.map((item) => [(item as unknown[])[0], item as unknown[]]));
    expect(byId.get(1)).toEqual([1, 0, [4]]);
    expect(byId.get(5)).toEqual([5, 0, [25]]);
    for (const id of [2, 3, 4]) expect(byId.get(id)).toEqual([id, 1, 'INVALID_INPUT', expect.any(String)]);
    expect(byId.get(2)![3]).toContain('invalid timeout');
    expect(byId.get(4)![3]).toContain('invalid priority');
    expect(member.output).toContain('an entry without a valid id');
    expect(record.values('squares').map(({ value }) => value)).toEqual(expect.not.arrayContaining([3, 6]));
  });
});

describe('a remote dispatchMany over an iterable that stops yielding', () => {
  it("settles with SERVING_SHUTDOWN at the caller's app.close()", async () => {
    const app = await startCallerApp(server.url);
    await eventually(() => app.transport.members('squares').length === 1, 10_000, 'the member');
    let pulled = 0;
    async function* stalls() {
      yield 1;
      pulled++;
      await new Promise(() => undefined); // never yields again
    }
    const pending = app.client.dispatchMany('squares', stalls()).catch((e: unknown) => e);
    await eventually(() => pulled === 1, 10_000, 'the source to be pulled past its first value');
    await app.close();
    await expect(pending).resolves.toBeInstanceOf(ServingShutdownError);
  });
});
