import { connect, type NatsConnection } from '@nats-io/transport-node';
import { BatchExecutionError, InvalidInputError } from 'nestjs-batch-serving';
import { startCallerApp, type CallerApp } from './support/caller-app';
import { ExecutionRecord, MemberProcess } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(60_000);

/** A server with a small max_payload, so that the limits are reached with small values. */
const MAX_PAYLOAD = 64 * 1024;

let server: NatsServer;
let record: ExecutionRecord;
let member: MemberProcess;
let caller: CallerApp;
let sniffer: NatsConnection;

beforeAll(async () => {
  server = await NatsServer.start({ maxPayload: MAX_PAYLOAD });
  record = new ExecutionRecord();
  member = await MemberProcess.start('A', server.url, record.file, [
    { name: 'length', kind: 'length', options: { batchSize: 100 } },
    { name: 'repeat', kind: 'repeat' },
  ]);
  caller = await startCallerApp(server.url);
  sniffer = await connect({ servers: server.url });
});

afterAll(async () => {
  await sniffer?.close();
  await caller?.close();
  await member?.close();
  await server?.dispose();
  record?.dispose();
});

describe("the server's max_payload", () => {
  it('an input too large to send is refused before sending, with a clear error', async () => {
    const error = await caller.client.dispatch('length', 'x'.repeat(100_000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error).toMatchObject({ code: 'INVALID_INPUT' });
    expect((error as Error).message).toMatch(/encode to \d+ bytes, above the NATS server's max_payload of 65536 bytes/);
    await expect(caller.client.dispatch('length', 'fits')).resolves.toBe(4);
    expect(record.values('length').map(({ value }) => value)).toEqual([4]);
  });

  it('dispatches of one turn that together exceed it are split across messages, and all are served', async () => {
    const seen: number[] = [];
    const subscription = sniffer.subscribe('batch-serving.serve.length.>', { callback: (_, msg) => void seen.push(msg.data.length) });
    await sniffer.flush();
    const inputs = Array.from({ length: 40 }, (_, i) => 'y'.repeat(10_000 + i));
    await expect(Promise.all(inputs.map((input) => caller.client.dispatch('length', input)))).resolves.toEqual(inputs.map((s) => s.length));
    await sniffer.flush();
    subscription.unsubscribe();
    expect(seen.length).toBeGreaterThanOrEqual(7);
    expect(Math.max(...seen)).toBeLessThanOrEqual(MAX_PAYLOAD);
  });

  it('an answer too large to send back fails only its dispatch, with a clear error', async () => {
    const [big, small] = await Promise.allSettled([caller.client.dispatch('repeat', 100_000), caller.client.dispatch('repeat', 3)]);
    expect(big.status).toBe('rejected');
    const error = (big as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(BatchExecutionError);
    expect(error.message).toMatch(/encodes to \d+ bytes, above the NATS server's max_payload of 65536 bytes/);
    expect(small).toEqual({ status: 'fulfilled', value: 'xxx' });
  });
});

describe('values the codec cannot carry', () => {
  it('an input it cannot encode fails only its own dispatch, at once, with a clear error; the others of its turn are served', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const [symbol, fine, loop, other] = await Promise.allSettled([
      caller.client.dispatch('length', Symbol('no codec carries this')),
      caller.client.dispatch('length', 'abc'),
      caller.client.dispatch('length', circular),
      caller.client.dispatch('length', 'de'),
    ]);
    for (const refused of [symbol, loop]) {
      expect(refused.status).toBe('rejected');
      const error = (refused as PromiseRejectedResult).reason;
      expect(error).toBeInstanceOf(InvalidInputError);
      expect(error.message).toMatch(/^An input of a dispatch to serving 'length' cannot be encoded by the transport's codec: .+\. Send only what the codec can carry/);
    }
    expect(fine).toEqual({ status: 'fulfilled', value: 3 });
    expect(other).toEqual({ status: 'fulfilled', value: 2 });
  });

  it('an output it cannot encode fails only the dispatch that owns it, with a clear error', async () => {
    const [bad, good] = await Promise.allSettled([caller.client.dispatch('repeat', -5), caller.client.dispatch('repeat', 2)]);
    expect(bad.status).toBe('rejected');
    const error = (bad as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(BatchExecutionError);
    expect(error.message).toMatch(/cannot be encoded by the transport's codec/);
    expect(good).toEqual({ status: 'fulfilled', value: 'xx' });
  });
});
