import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { BatchServing, RunningServing, ServingUnavailableError } from 'nestjs-batch-serving';
import { jsonCodec, natsTransport, type Codec, type NatsTransport } from 'nestjs-batch-serving/nats';
import { RecordingTransportLogger } from './support/caller-app';
import { FAST, eventually } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(60_000);

/** Node's structured clone: keeps Dates, Maps, Sets, typed arrays, undefined. */
const v8Codec: Codec = { encode: (message) => serialize(message), decode: (data) => deserialize(data) };

let server: NatsServer;
const open: Array<{ close(): unknown }> = [];

beforeAll(async () => {
  server = await NatsServer.start();
});

afterAll(async () => {
  for (const thing of open.reverse()) await thing.close();
  await server?.dispose();
});

/** A process's worth of transport in this one: enough for what does not need a second process. */
async function transport(codec?: Codec, logger = new RecordingTransportLogger()): Promise<NatsTransport> {
  const t = natsTransport({ servers: server.url, ...FAST, codec, logger });
  await t.start();
  open.push(t);
  return t;
}

// Checked by tag rather than instanceof: Jest runs specs in a realm of their own, and v8.deserialize builds Node's.
const tag = (value: unknown) => Object.prototype.toString.call(value);

const describeDate = BatchServing.new((values: Array<{ at: Date; tags: Set<string> }>) =>
  values.map((v) => ({ year: v.at.getUTCFullYear(), at: tag(v.at), tags: tag(v.tags), size: v.tags.size, next: new Date(v.at.getTime() + 86_400_000) })),
);

describe('the codec', () => {
  it('is pluggable: with a structured-clone codec, Dates and Sets cross the wire intact', async () => {
    const member = await transport(v8Codec);
    const running = new RunningServing('dates', describeDate, { batchSize: 8, batchTimeout: 1, partitions: 1, maxQueueSize: 100, isolateFailures: false, weight: 1 });
    open.push({ close: () => running.close('drain', 1000) });
    await member.host(running);
    const caller = await transport(v8Codec);
    const result = (await caller.remote('dates').dispatch({ at: new Date('2024-05-06T00:00:00Z'), tags: new Set(['ab', 'c']) })) as Record<string, unknown>;
    expect(result).toMatchObject({ year: 2024, at: '[object Date]', tags: '[object Set]', size: 2 });
    expect(tag(result.next)).toBe('[object Date]');
    expect((result.next as Date).toISOString()).toBe('2024-05-07T00:00:00.000Z');
  });

  it('a process with another codec is refused and logged, and its dispatch fails within the bound instead of hanging', async () => {
    const memberLog = new RecordingTransportLogger();
    const member = await transport(v8Codec, memberLog);
    const running = new RunningServing('strict', BatchServing.new((values: number[]) => values), { batchSize: 8, batchTimeout: 1, partitions: 1, maxQueueSize: 100, isolateFailures: false, weight: 1 });
    open.push({ close: () => running.close('drain', 1000) });
    await member.host(running);
    // A JSON process cannot read the member's heartbeats either: it learns of it from a JSON heartbeat sent by hand.
    const caller = await transport(jsonCodec);
    const raw = await transport(jsonCodec);
    raw.publish('batch-serving.hb', Buffer.from(JSON.stringify({ v: 1, k: 'hb', from: member.self, s: [['strict', 1, 8]] })));
    await eventually(() => caller.members('strict').length === 1, 10_000, 'the hand-made heartbeat');
    const since = Date.now();
    const error = await caller.remote('strict').dispatch(1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServingUnavailableError);
    expect(Date.now() - since).toBeLessThan(2 * FAST.memberTimeout + 2 * FAST.heartbeatInterval + 4000);
    expect(memberLog.lines.some((line) => line.includes('it does not decode'))).toBe(true);
  });
});

describe('the subpath', () => {
  it('is not loaded by the root entry point: a process that never leaves itself never loads a NATS client', () => {
    const root = join(__dirname, '..', '..');
    const script = "require('./lib'); console.log(JSON.stringify(Object.keys(require.cache).filter((k) => k.includes('@nats-io') || k.includes('transports/nats'))))";
    const loaded = execFileSync(process.execPath, ['-r', '@swc-node/register', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(loaded)).toEqual([]);
  });
});
