import { BatchServing, RunningServing, ServingShutdownError, ServingUnavailableError, type ServingOptions } from 'nestjs-batch-serving';
import { natsTransport, type NatsTransport } from 'nestjs-batch-serving/nats';
import { RecordingTransportLogger } from './support/caller-app';
import { FAST, eventually } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(60_000);

/*
 * The transport's own lifecycle, driven directly (without Nest), with every "process" in this one:
 * each transport has its own connection and id, which is all the protocol sees.
 */
let server: NatsServer;
const toClose: Array<() => unknown> = [];

beforeAll(async () => {
  server = await NatsServer.start();
});

afterAll(async () => {
  for (const close of toClose.reverse()) await close();
  await server?.dispose();
});

const OPTIONS: ServingOptions = { batchSize: 8, batchTimeout: 1, partitions: 1, maxQueueSize: 100, isolateFailures: false, weight: 1 };

function transport(): NatsTransport {
  const t = natsTransport({ servers: server.url, ...FAST, logger: new RecordingTransportLogger() });
  toClose.push(() => t.close());
  return t;
}

function serving(name: string, fn: (values: number[]) => unknown[] | Promise<unknown[]>): RunningServing {
  const running = new RunningServing(name, BatchServing.new(fn), OPTIONS);
  toClose.push(() => running.close('reject', 0));
  return running;
}

describe('the transport on its own', () => {
  it('a dispatch before start() fails at once, saying so', async () => {
    const error = await transport().remote('x').dispatch(1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServingUnavailableError);
    expect((error as Error).message).toContain('not started');
  });

  it('close() fails what still waits for another process, and no dispatch is pending afterwards', async () => {
    const member = transport();
    await member.start();
    await member.host(serving('never', () => new Promise<unknown[]>(() => undefined)));
    const caller = transport();
    await caller.start();
    const pending = caller.remote('never').dispatch(1).catch((e: unknown) => e);
    await eventually(() => member.local('never')!.stats().executing === 1, 10_000, 'the batch to start');
    await caller.close();
    const error = await pending;
    expect(error).toBeInstanceOf(ServingShutdownError);
    await expect(caller.remote('never').dispatch(2)).rejects.toBeInstanceOf(ServingShutdownError);
    await expect(caller.start()).rejects.toBeInstanceOf(ServingShutdownError);
  });

  it('after unhost(), the serving is out of the group: dispatches go to the members that still host it', async () => {
    const a = transport();
    const b = transport();
    const caller = transport();
    await Promise.all([a.start(), b.start(), caller.start()]);
    await a.host(serving('moving', (values) => values.map(() => 'a')));
    await b.host(serving('moving', (values) => values.map(() => 'b')));
    await eventually(() => caller.members('moving').length === 2, 10_000, 'both members');
    await a.unhost('moving');
    await eventually(() => caller.members('moving').length === 1, 10_000, 'a to leave the group');
    const labels = await Promise.all(Array.from({ length: 10 }, (_, i) => caller.remote('moving').dispatch(i)));
    expect(new Set(labels)).toEqual(new Set(['b']));
    expect(a.local('moving')).toBeUndefined();
  });

  it('the transport only carries: a serving hosted only here has no other member, and its turn is always this process', async () => {
    const t = transport();
    await t.start();
    await t.host(serving('mine', (values) => values.map((v) => v + 1)));
    expect(t.turn('mine')).toBeUndefined();
    await expect(t.remote('mine').dispatch(1)).rejects.toMatchObject({ code: 'SERVING_UNAVAILABLE' });
  });
});
