import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ServingNotFoundError, ServingUnavailableError } from 'nestjs-batch-serving';
import { msgpackCodec, natsTransport, type NatsTransport, type NatsTransportOptions } from 'nestjs-batch-serving/nats';
import { Signer } from '../../lib/transports/nats/signing';
import { RecordingTransportLogger } from './support/caller-app';
import { ExecutionRecord, FAST, MemberProcess, eventually, type MemberServing } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(90_000);

const KEY = 'k3y-of-the-fleet-0123456789abcdef';
const OLD_KEY = 'the-key-before-rotation-0123456';
const HELD = 6;
const OK = 0;

let server: NatsServer;
let record: ExecutionRecord;
let attacker: NatsConnection;
const open: Array<{ close(): unknown }> = [];

beforeAll(async () => {
  server = await NatsServer.start();
  record = new ExecutionRecord();
  attacker = await connect({ servers: server.url });
});

afterAll(async () => {
  for (const thing of open.reverse()) await thing.close();
  await attacker?.close();
  await server?.dispose();
  record?.dispose();
});

const SERVINGS: MemberServing[] = [
  { name: 'squares', kind: 'squares' },
  { name: 'slow', kind: 'slow', delay: 1500 },
];

async function member(label: string, prefix: string, transport: Partial<NatsTransportOptions>, servings = SERVINGS): Promise<MemberProcess> {
  const started = await MemberProcess.start(label, server.url, record.file, servings, { subjectPrefix: prefix, ...transport });
  open.push(started);
  return started;
}

async function caller(prefix: string, options: Partial<NatsTransportOptions> = {}): Promise<{ transport: NatsTransport; log: RecordingTransportLogger }> {
  const log = new RecordingTransportLogger();
  const transport = natsTransport({ servers: server.url, subjectPrefix: prefix, ...FAST, logger: log, ...options });
  await transport.start();
  open.push(transport);
  return { transport, log };
}

/** What the attacker sends: the protocol's own message, in the fleet's codec, unsigned. */
const forge = (subject: string, message: unknown) => attacker.publish(subject, msgpackCodec.encode(message));

/** Refusals logged by `log`, one by one or counted in a "Refused N more" line (written at close at the latest). */
function refusals(log: RecordingTransportLogger, reason: string): number {
  let count = log.lines.filter((line) => line.includes('Refused a message') && line.includes(reason)).length;
  for (const line of log.lines) count += Number(/Refused (\d+) more/.exec(line)?.[1] ?? 0);
  return count;
}

const squares = (n: number) => Array.from({ length: n }, (_, i) => i * i);

describe('without a key (the threat)', () => {
  it('a forged answer on a caller inbox resolves a real dispatch', async () => {
    const a = await member('open', 'open', {});
    const { transport } = await caller('open');
    const pending = transport.remote('slow').dispatch(3);
    await eventually(() => record.values('slow').some(({ member: m }) => m === 'open'), 10_000, 'the slow dispatch reaching the member');
    forge(`open.in.${transport.self}.r`, { v: 1, k: 'res', from: a.id, r: [[1, OK, ['FORGED']]] });
    await expect(pending).resolves.toBe('FORGED');
  });
});

describe('with a key: every message signed, every forgery refused and logged, 0 callers affected', () => {
  let a: MemberProcess;
  let signed: NatsTransport;
  let log: RecordingTransportLogger;

  beforeAll(async () => {
    a = await member('A', 'sig', { key: KEY });
    ({ transport: signed, log } = await caller('sig', { key: KEY }));
  });

  it('forged answers, unsigned or signed with another key, resolve nothing, while 200 dispatches are served', async () => {
    const slow = signed.remote('slow').dispatch(3);
    const load = Promise.all(squares(200).map((_, i) => signed.remote('squares').dispatch(i)));
    const wrongKey = new Signer(['a-key-that-is-not-the-fleets'], a.id);
    const subject = `sig.in.${signed.self}.r`;
    let forged = 0;
    for (let id = 1; id <= 250; id++) {
      const message = { v: 1, k: 'res', from: a.id, r: [[id, OK, ['FORGED']]] };
      forge(subject, message);
      attacker.publish(subject, wrongKey.seal(subject, msgpackCodec.encode(message)));
      forged += 2;
    }
    await expect(slow).resolves.toBe(3);
    await expect(load).resolves.toEqual(squares(200));
    await signed.close();
    expect(refusals(log, 'signature')).toBe(forged);
    ({ transport: signed, log } = await caller('sig', { key: KEY }));
  });

  it('a captured signed request sent again runs nothing twice: it is refused as a replay', async () => {
    const captured: Array<{ subject: string; data: Uint8Array; reply?: string }> = [];
    const sniff = attacker.subscribe(`sig.serve.squares.${a.id}`, { callback: (_, msg) => void captured.push({ subject: msg.subject, data: msg.data.slice(), reply: msg.reply }) });
    await attacker.flush();
    await expect(signed.remote('squares').dispatch(123_456)).resolves.toBe(123_456 ** 2);
    await eventually(() => captured.length > 0, 10_000, 'the request captured');
    sniff.unsubscribe();
    for (const { subject, data, reply } of captured) attacker.publish(subject, data, reply ? { reply } : undefined);
    // Its refusals are the member's first, so each is logged in full (not only counted).
    await eventually(() => a.output.includes('a replay'), 10_000, 'the member refusing the replay');
    expect(record.values('squares').filter(({ value }) => value === 123_456)).toHaveLength(1);
  });

  it('a forged goodbye does not remove a live member', async () => {
    forge('sig.hb', { v: 1, k: 'hb', from: a.id, s: [], bye: 1 });
    await new Promise((resolve) => setTimeout(resolve, 2 * FAST.heartbeatInterval));
    expect(signed.members('squares').map((m) => m.member)).toEqual([a.id]);
    await expect(signed.remote('squares').dispatch(9)).resolves.toBe(81);
    expect(log.lines.some((line) => line.includes("Refused a message on 'sig.hb'") && line.includes('signature'))).toBe(true);
  });

  it('a fake member answering every audit "held" for a dead one keeps no caller pending', async () => {
    const doomed = await member('doomed', 'sig', { key: KEY }, [{ name: 'stuck', kind: 'slow', delay: 60_000 }]);
    await eventually(() => signed.members('stuck').length === 1, 10_000, 'the doomed member');
    const calls = Array.from({ length: 20 }, (_, i) => signed.remote('stuck').dispatch(i).catch((e: unknown) => e));
    await eventually(() => record.values('stuck').filter(({ member: m }) => m === 'doomed').length >= 1, 10_000, 'the stuck dispatches reaching the doomed member');
    await doomed.kill();
    // The fake: heartbeats in the dead member's name, and "held" for every audit sent to it.
    const beats = setInterval(() => forge('sig.hb', { v: 1, k: 'hb', from: doomed.id, s: [['stuck', 1, 8]] }), FAST.heartbeatInterval / 2);
    const audits = attacker.subscribe(`sig.in.${doomed.id}.c`, {
      callback: () => {
        const ids = Array.from({ length: 1000 }, (_, i) => i + 1);
        forge(`sig.in.${signed.self}.r`, { v: 1, k: 'res', from: doomed.id, r: ids.map((id) => [id, HELD]) });
      },
    });
    const since = Date.now();
    const outcomes = await Promise.all(calls);
    clearInterval(beats);
    audits.unsubscribe();
    expect(outcomes.filter((o) => o instanceof ServingUnavailableError)).toHaveLength(20);
    expect(Date.now() - since).toBeLessThan(4 * FAST.memberTimeout + 4000);
  });

  it('a signed message moved to another subject is refused: the signature covers the subject', async () => {
    const b = await caller('sig', { key: KEY });
    const captured: Uint8Array[] = [];
    const sniff = attacker.subscribe(`sig.in.${signed.self}.r`, { callback: (_, msg) => void captured.push(msg.data.slice()) });
    await attacker.flush();
    await expect(signed.remote('squares').dispatch(5)).resolves.toBe(25);
    await eventually(() => captured.length > 0, 10_000, 'the answer captured');
    sniff.unsubscribe();
    for (const data of captured) attacker.publish(`sig.in.${b.transport.self}.r`, data);
    await eventually(() => b.log.lines.some((line) => line.includes('signature')), 10_000, 'the moved answer refused');
  });

  it('keys rotate: a ring signs with its first key and accepts any; a process with an unrelated key sees no one', async () => {
    const rotated = await member('rotated', 'ring', { keys: [KEY, OLD_KEY] });
    const notYet = await caller('ring', { keys: [OLD_KEY, KEY] });
    await expect(notYet.transport.remote('squares').dispatch(4)).resolves.toBe(16);
    expect(record.values('squares').filter(({ member: m }) => m === 'rotated')).toHaveLength(1);
    const stranger = await caller('ring', { key: 'an-unrelated-key-0123456789' });
    await expect(stranger.transport.remote('squares').dispatch(4)).rejects.toBeInstanceOf(ServingNotFoundError);
    await eventually(() => rotated.output.includes('signature'), 10_000, 'the member refusing the stranger');
  });
});
