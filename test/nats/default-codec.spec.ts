import { runInThisContext } from 'node:vm';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jsonCodec, natsTransport, type Codec, type NatsTransport } from 'nestjs-batch-serving/nats';
import { ExecutionRecord, FAST, MemberProcess } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(60_000);

let server: NatsServer;
let sniffer: NatsConnection;
let record: ExecutionRecord;
const open: Array<{ close(): unknown }> = [];

beforeAll(async () => {
  server = await NatsServer.start();
  sniffer = await connect({ servers: server.url });
  record = new ExecutionRecord();
});

afterAll(async () => {
  for (const thing of open.reverse()) await thing.close();
  await sniffer?.close();
  await server?.dispose();
  record?.dispose();
});

// Checked by tag rather than instanceof: Jest runs specs in a realm of their own.
const tag = (value: unknown) => Object.prototype.toString.call(value);

/**
 * Typed arrays as a process builds them. Jest's node environment gives specs its host's
 * Uint8Array but a Float32Array of their own realm, which msgpackr (like any code that tells
 * typed arrays apart by their shared prototype) does not recognise; an application, one realm,
 * never meets that. The member runs in a process of its own for the same reason.
 */
const host = runInThisContext('globalThis') as typeof globalThis;

/** A member process hosting `echo` (what it saw of each input, and the input back), and a caller here. */
async function fleet(prefix: string, codec?: Codec): Promise<NatsTransport> {
  const member = await MemberProcess.start(prefix, server.url, record.file, [{ name: 'echo', kind: 'echo' }], { subjectPrefix: prefix, ...(codec === jsonCodec ? { json: true } : {}) });
  open.push(member);
  const caller = natsTransport({ servers: server.url, subjectPrefix: prefix, ...FAST, ...(codec ? { codec } : {}) });
  await caller.start();
  open.push(caller);
  return caller;
}

const VALUES: Array<[string, unknown, string]> = [
  ['undefined', undefined, '[object Undefined]'],
  ['NaN', NaN, '[object Number]'],
  ['Infinity', Infinity, '[object Number]'],
  ['-Infinity', -Infinity, '[object Number]'],
  ['a Date', new Date('2024-05-06T07:08:09.010Z'), '[object Date]'],
  ['a Map with non-string keys', new Map<unknown, unknown>([[1, 'one'], ['k', { z: [1, 2] }]]), '[object Map]'],
  ['a Set', new Set(['a', 2]), '[object Set]'],
  ['a small BigInt', 5n, '[object BigInt]'],
  ['a BigInt beyond 64 bits', -(2n ** 90n) + 7n, '[object BigInt]'],
  ['a Float32Array', new host.Float32Array([1.5, -2.25, 3e-7]), '[object Float32Array]'],
  ['a Float64Array', new host.Float64Array([Math.PI, -0.1]), '[object Float64Array]'],
  ['an Int32Array', new host.Int32Array([-1, 2 ** 31 - 1]), '[object Int32Array]'],
  ['a Uint8Array', new Uint8Array([0, 255, 7]), '[object Uint8Array]'],
  ['an object with undefined and nested types', { a: undefined, d: new Date(0), s: new Set([new Map([['x', NaN]])]) }, '[object Object]'],
  ['an array with holes of undefined', [1, undefined, 3], '[object Array]'],
];

describe('the default codec (MessagePack) through a real server', () => {
  let caller: NatsTransport;
  beforeAll(async () => {
    caller = await fleet('mp');
  });

  it.each(VALUES)('%s arrives at the member, and comes back, as it left', async (_, value, type) => {
    const answer = (await caller.remote('echo').dispatch(value)) as { seen: string; value: unknown };
    expect(answer.seen).toBe(type);
    expect(tag(answer.value)).toBe(type);
    expect(answer.value).toEqual(value);
  });

  it('a Float32Array embedding crosses as binary: its answer is about 4 bytes a float on the wire, not its decimal text', async () => {
    const sizes: number[] = [];
    const subscription = sniffer.subscribe('mp.in.>', { callback: (_, msg) => void sizes.push(msg.data.length) });
    await sniffer.flush();
    const embedding = host.Float32Array.from({ length: 1536 }, (_, i) => Math.sin(i) / 3);
    const answer = (await caller.remote('echo').dispatch(embedding)) as { value: Float32Array };
    await sniffer.flush();
    subscription.unsubscribe();
    expect(Array.from(answer.value)).toEqual(Array.from(embedding));
    const reply = Math.max(...sizes);
    expect(reply).toBeGreaterThanOrEqual(1536 * 4);
    expect(reply).toBeLessThan(1536 * 4 + 200);
    expect(jsonCodec.encode(Array.from(embedding)).length).toBeGreaterThan(3 * reply);
  });
});

describe('jsonCodec, for a readable wire', () => {
  let caller: NatsTransport;
  beforeAll(async () => {
    caller = await fleet('json', jsonCodec);
  });

  it('changes what JSON cannot say: NaN and undefined become null, a Map {}, a Date its ISO string', async () => {
    const answers = (await caller.remote('echo').dispatchMany([NaN, [undefined], new Map([['a', 1]]), new Date(0)])) as Array<{ seen: string; value: unknown }>;
    expect(answers.map((a) => a.value)).toEqual([null, [null], {}, '1970-01-01T00:00:00.000Z']);
    expect(answers.map((a) => a.seen)).toEqual(['[object Null]', '[object Array]', '[object Object]', '[object String]']);
  });
});
