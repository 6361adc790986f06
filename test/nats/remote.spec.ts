import { connect, type NatsConnection } from '@nats-io/transport-node';
import { firstValueFrom, toArray } from 'rxjs';
import { msgpackCodec } from 'nestjs-batch-serving/nats';
import {
  BatchExecutionError,
  BatchServing,
  BatchServingError,
  DispatchAbortedError,
  DispatchTimeoutError,
  InvalidInputError,
  ServingNotFoundError,
  type ServingEvent,
} from 'nestjs-batch-serving';
import { startCallerApp, type CallerApp } from './support/caller-app';
import { ExecutionRecord, MemberProcess, eventually } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(60_000);

/*
 * One nats-server, one member process (a Nest application context) hosting the servings, and this
 * process as a Nest application that hosts only 'here': everything else it dispatches crosses NATS.
 */
let server: NatsServer;
let record: ExecutionRecord;
let member: MemberProcess;
let caller: CallerApp;
let sniffer: NatsConnection;

beforeAll(async () => {
  server = await NatsServer.start();
  record = new ExecutionRecord();
  member = await MemberProcess.start('A', server.url, record.file, [
    { name: 'squares', kind: 'squares' },
    { name: 'failing', kind: 'failing' },
    { name: 'progress', kind: 'progress', options: { batchSize: 2, batchTimeout: 20 } },
    { name: 'whoami', kind: 'whoami', options: { batchTimeout: 50 } },
    { name: 'slow', kind: 'slow', delay: 500, options: { batchSize: 1, batchTimeout: 0 } },
  ]);
  caller = await startCallerApp(server.url, [{ name: 'here', serving: BatchServing.new((values: number[]) => values.map((v) => -v)) }]);
  sniffer = await connect({ servers: server.url });
});

afterAll(async () => {
  await sniffer?.close();
  await caller?.close();
  await member?.close();
  await server?.dispose();
  record?.dispose();
});

describe('a process that does not host the serving', () => {
  it('gets correct results from a member in another process', async () => {
    expect(caller.transport.members('squares')).toEqual([{ member: member.id, shares: 1 }]);
    await expect(caller.client.dispatch('squares', 7)).resolves.toBe(49);
    await expect(caller.client.dispatchMany('squares', [1, 2, 3, 4, 5])).resolves.toEqual([1, 4, 9, 16, 25]);
    await expect(caller.client.tryDispatch('squares', 6)).resolves.toEqual({ ok: true, value: 36 });
    async function* inputs() {
      for (let i = 0; i < 100; i++) yield i;
    }
    await expect(caller.client.dispatchMany('squares', inputs())).resolves.toEqual(Array.from({ length: 100 }, (_, i) => i * i));
    expect(new Set(record.values('squares').map(({ member: m }) => m))).toEqual(new Set(['A']));
  });

  it('sends the dispatches of one turn to one serving as one NATS message', async () => {
    const seen: string[] = [];
    const subscription = sniffer.subscribe('batch-serving.serve.squares.>', { callback: (_, msg) => void seen.push(msg.subject) });
    await sniffer.flush();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => caller.client.dispatch<number>('squares', i)));
    await sniffer.flush();
    subscription.unsubscribe();
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i * i));
    expect(seen).toEqual([`batch-serving.serve.squares.${member.id}`]);
  });

  it('keeps the results of concurrent dispatches apart and in order', async () => {
    const calls = Array.from({ length: 50 }, (_, i) => caller.client.dispatchMany<number>('squares', [i, i + 1, i + 2]));
    const results = await Promise.all(calls);
    results.forEach((result, i) => expect(result).toEqual([i * i, (i + 1) ** 2, (i + 2) ** 2]));
  });
});

describe('errors across the wire', () => {
  it('a failed batch keeps its class, code and message', async () => {
    const error = await caller.client.dispatch('failing', 'boom').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchExecutionError);
    expect(error).toBeInstanceOf(BatchServingError);
    expect(error).toMatchObject({ code: 'BATCH_FAILED', name: 'BatchExecutionError' });
    expect((error as Error).message).toContain('the model exploded');
  });

  it('an Error output fails only the caller that owns the value', async () => {
    const [good, bad] = await Promise.allSettled([caller.client.dispatch('failing', 3), caller.client.dispatch('failing', 'bad')]);
    expect(good).toEqual({ status: 'fulfilled', value: 9 });
    expect(bad.status).toBe('rejected');
    const reason = (bad as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(BatchExecutionError);
    expect(reason.message).toContain('cannot square bad');
  });

  it('an input refused by validate on the member is an InvalidInputError', async () => {
    const error = await caller.client.dispatch('failing', -1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error).toMatchObject({ code: 'INVALID_INPUT' });
    expect((error as Error).message).toContain('negative input -1');
  });
});

describe('routing', () => {
  it('{ local: true } never leaves the process: SERVING_NOT_FOUND where the serving is not hosted', async () => {
    const error = await caller.client.dispatch('squares', 2, { local: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServingNotFoundError);
    expect(error).toMatchObject({ code: 'SERVING_NOT_FOUND' });
    await expect(caller.client.dispatch('here', 2, { local: true })).resolves.toBe(-2);
  });

  it('a serving that no process hosts is not found', async () => {
    const error = await caller.client.dispatch('nowhere', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServingNotFoundError);
    expect((error as Error).message).toContain("'nowhere'");
  });

  it('only servings a member hosts can be reached: a request for another finds no responder', async () => {
    const request = { v: 1, k: 'req', from: 'intruder', seq: 1, e: [{ i: 1, in: [1] }] };
    await expect(sniffer.request(`batch-serving.serve.other.${member.id}`, JSON.stringify(request), { timeout: 2000 })).rejects.toThrow(/no responders/i);
  });
});

describe('remote stream()', () => {
  it("emits each part's hook events, then its outputs, in offset order, and completes", async () => {
    const events = await firstValueFrom(caller.client.stream<number>('progress', [1, 2, 3], { context: { user: 'u1' } }).pipe(toArray()));
    expect(events).toEqual<ServingEvent<number>[]>([
      { type: 'hook', hook: 'progress', payload: ['working on 1', 'working on 2'] },
      { type: 'hook', hook: 'note', payload: 'caller of 2 value(s), context {"user":"u1"}' },
      { type: 'batch', offset: 0, outputs: [10, 20] },
      { type: 'hook', hook: 'progress', payload: ['working on 3'] },
      { type: 'hook', hook: 'note', payload: 'caller of 1 value(s), context {"user":"u1"}' },
      { type: 'batch', offset: 2, outputs: [30] },
    ]);
    // As locally, each event carries the SSE `data` that lets an @Sse() handler return the stream as it is.
    for (const event of events) expect((event as unknown as { data: unknown }).data).toEqual({ ...event });
  });

  it('ends a remote dispatch whose async iterable stops yielding, at its timeout', async () => {
    async function* stalls() {
      yield 1;
      await new Promise(() => undefined);
    }
    await expect(caller.client.dispatchMany('progress', stalls(), { timeout: 300 })).rejects.toMatchObject({ code: 'DISPATCH_TIMEOUT' });
  });

  it('streams an async iterable chunk by chunk, offsets counted over the whole stream', async () => {
    async function* inputs() {
      yield* [1, 2, 3, 4, 5];
    }
    const events = await firstValueFrom(caller.client.stream<number>('progress', inputs()).pipe(toArray()));
    const batches = events.filter((e) => e.type === 'batch');
    expect(batches).toEqual([
      { type: 'batch', offset: 0, outputs: [10, 20] },
      { type: 'batch', offset: 2, outputs: [30, 40] },
      { type: 'batch', offset: 4, outputs: [50] },
    ]);
  });
});

describe('context and deadlines travel with the request', () => {
  it('ctx.callers sees each remote dispatch with its context; mapInputs and mapResults run on the member', async () => {
    const [one, many] = await Promise.all([
      caller.client.dispatch('whoami', 'ab', { context: 'alice' }),
      caller.client.dispatchMany('whoami', ['xyz', 'q'], { context: { user: 'bob' } }),
    ]);
    expect(one).toEqual({ input: 'ab', value: 2, context: 'alice', callers: 2 });
    expect(many).toEqual([
      { input: 'xyz', value: 3, context: { user: 'bob' }, callers: 2 },
      { input: 'q', value: 1, context: { user: 'bob' }, callers: 2 },
    ]);
  });

  it('a dispatch that times out is dropped by the member and never executed', async () => {
    const first = caller.client.dispatch('slow', 101);
    const late = caller.client.dispatch('slow', 102, { timeout: 150 }).catch((e: unknown) => e);
    const error = await late;
    expect(error).toBeInstanceOf(DispatchTimeoutError);
    expect(error).toMatchObject({ code: 'DISPATCH_TIMEOUT' });
    await expect(first).resolves.toBe(101);
    await expect(caller.client.dispatch('slow', 103)).resolves.toBe(103);
    expect(record.values('slow').map(({ value }) => value)).toEqual(expect.not.arrayContaining([102]));
  });

  it('an aborted dispatch is withdrawn on the member and never executed', async () => {
    const first = caller.client.dispatch('slow', 201);
    const controller = new AbortController();
    const aborted = caller.client.dispatch('slow', 202, { signal: controller.signal }).catch((e: unknown) => e);
    await eventually(() => record.values('slow').some(({ value }) => value === 201), 10_000, 'the first slow batch to start');
    controller.abort(new Error('the user left'));
    const error = await aborted;
    expect(error).toBeInstanceOf(DispatchAbortedError);
    expect(error).toMatchObject({ code: 'DISPATCH_ABORTED' });
    await expect(first).resolves.toBe(201);
    await expect(caller.client.dispatch('slow', 203)).resolves.toBe(203);
    expect(record.values('slow').map(({ value }) => value)).toEqual(expect.not.arrayContaining([202]));
  });
});

describe('withdrawing a remote stream', () => {
  it('unsubscribing withdraws on the member what has not run yet', async () => {
    const first = caller.client.dispatch('slow', 301);
    const events: unknown[] = [];
    const subscription = caller.client.stream('slow', [302]).subscribe({ next: (event) => void events.push(event) });
    await eventually(() => record.values('slow').some(({ value }) => value === 301), 10_000, 'the first slow batch to start');
    subscription.unsubscribe();
    await expect(first).resolves.toBe(301);
    await expect(caller.client.dispatch('slow', 303)).resolves.toBe(303);
    expect(events).toEqual([]);
    expect(record.values('slow').map(({ value }) => value)).toEqual(expect.not.arrayContaining([302]));
  });
});

describe('foreign and malformed messages', () => {
  it("are refused and logged on a serving's subject, and the member goes on serving", async () => {
    const subject = `batch-serving.serve.squares.${member.id}`;
    sniffer.publish(subject, new Uint8Array([0xff, 0x00, 0x13, 0x37]));
    sniffer.publish(subject, msgpackCodec.encode({ hello: 'world' }));
    sniffer.publish(subject, msgpackCodec.encode({ v: 99, k: 'req', from: 'x', seq: 1, e: [] }));
    sniffer.publish(subject, msgpackCodec.encode({ v: 1, k: 'req', from: 'x', seq: 1, e: [{ i: 'one', in: 5 }] }));
    await sniffer.flush();
    await eventually(() => (member.output.match(/Refused a message on 'batch-serving\.serve\.squares\./g) ?? []).length >= 4, 10_000, 'four refusals in the log');
    expect(member.output).toContain('it does not decode');
    expect(member.output).toContain('protocol version 99');
    expect(member.output).toContain('an entry without a valid id');
    expect(member.alive).toBe(true);
    await expect(caller.client.dispatch('squares', 12)).resolves.toBe(144);
  });

  it("are refused and logged on a caller's inbox, and do not settle anything", async () => {
    const inbox = `batch-serving.in.${caller.transport.self}`;
    sniffer.publish(`${inbox}.r`, msgpackCodec.encode({ v: 1, k: 'res', from: member.id, r: [[1, 9, 'what']] }));
    sniffer.publish(`${inbox}.r`, 'not json');
    sniffer.publish(`${inbox}.zz`, 'x');
    await sniffer.flush();
    await eventually(() => caller.logger.lines.filter((line) => line.includes('Refused a message')).length >= 3, 10_000, 'three refusals in the log');
    await expect(caller.client.dispatch('squares', 11)).resolves.toBe(121);
  });
});
