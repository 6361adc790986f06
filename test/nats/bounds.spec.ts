import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DEFAULT_NATS_OPTIONS, msgpackCodec, natsTransport, type NatsTransport } from 'nestjs-batch-serving/nats';
import { MAX_NAMES, MAX_PEERS, MAX_VALUES } from '../../lib/transports/nats/bounds';
import { RecordingTransportLogger } from './support/caller-app';
import { ExecutionRecord, MemberProcess, eventually } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(180_000);

const MB = 1024 * 1024;
/** As the package's own error message suggests when a message is too large for the default. */
const MAX_PAYLOAD = 64 * MB;
/**
 * The default heartbeat, not the specs' fast one, and memberTimeout raised with max_payload, as the
 * README advises: one connection delivers in order, so what is sent to the member behind a 60 MB
 * message waits for its transfer (about 2 s here, more on a loaded machine), and a member whose
 * lease ran out meanwhile rightly refuses to start the large dispatch.
 */
const TIMING = { heartbeatInterval: DEFAULT_NATS_OPTIONS.heartbeatInterval, memberTimeout: 2 * DEFAULT_NATS_OPTIONS.memberTimeout };

let server: NatsServer;
let record: ExecutionRecord;
let member: MemberProcess;
let attacker: NatsConnection;
const open: Array<{ close(): unknown }> = [];

beforeAll(async () => {
  // max_pending: a subscriber must be allowed to have one whole message on its way.
  server = await NatsServer.start({ maxPayload: MAX_PAYLOAD, config: `max_pending: ${4 * MAX_PAYLOAD}\n` });
  record = new ExecutionRecord();
  member = await MemberProcess.start('M', server.url, record.file, [{ name: 'length', kind: 'length', options: { batchSize: 64 } }], TIMING);
  open.push(member);
  attacker = await connect({ servers: server.url });
  open.push(attacker);
});

afterAll(async () => {
  // Members, callers and the attacker's connection, last opened first; then the server and the record.
  for (const thing of open.reverse()) await thing.close();
  await server?.dispose();
  record?.dispose();
});

async function caller(): Promise<NatsTransport> {
  const transport = natsTransport({ servers: server.url, ...TIMING, logger: new RecordingTransportLogger() });
  await transport.start();
  open.push(transport);
  // Discovery waits only briefly for answers; on a loaded machine the member may be heard a heartbeat later.
  await eventually(() => transport.members('length').length === 1, 10_000, 'the caller hearing of the member');
  return transport;
}

/** Arrival times of the member's heartbeats, from now until stopped: the largest gap says whether it stayed on time. */
function watchHeartbeats(id: string): () => number {
  const arrivals: number[] = [performance.now()];
  const subscription = attacker.subscribe('batch-serving.hb', {
    callback: (_, msg) => {
      if ((msgpackCodec.decode(msg.data) as { from: string }).from === id) arrivals.push(performance.now());
    },
  });
  return () => {
    subscription.unsubscribe();
    arrivals.push(performance.now());
    return Math.max(...arrivals.slice(1).map((at, i) => at - arrivals[i]));
  };
}

/**
 * Publishes `data` from a process of its own, as an attacker would: copying 60 MB into a NATS
 * client blocks its process for about a second, which must not be charged to the callers here.
 */
async function publishFromAnotherProcess(subject: string, data: Uint8Array): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flood-'));
  const file = join(dir, 'flood.bin');
  writeFileSync(file, data);
  const script =
    "const { connect } = require('@nats-io/transport-node'); const [url, subject, file] = process.argv.slice(1);" +
    "connect({ servers: url }).then(async (nc) => { nc.publish(subject, require('fs').readFileSync(file)); await nc.flush(); await nc.close(); });";
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(process.execPath, ['-e', script, server.url, subject, file], { cwd: join(__dirname, '..', '..') }, (error) => (error ? reject(error) : resolve()));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Dispatches one input of `megabytes` to 'length' from a caller process of its own (fixtures/big-caller.ts). */
function dispatchFromAnotherProcess(megabytes: number): Promise<unknown> {
  const root = join(__dirname, '..', '..');
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['-r', '@swc-node/register', join(__dirname, 'fixtures', 'big-caller.ts'), server.url, String(megabytes)],
      { cwd: root, env: { ...process.env, SWC_NODE_PROJECT: join(root, 'tsconfig.json') }, maxBuffer: 1024 * 1024 },
      (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout.trim().split('\n').pop()!))),
    );
  });
}

/** Small dispatches from another caller, one after another, while `during` runs: how many were served, how many failed. */
async function servedDuring(transport: NatsTransport, during: Promise<unknown>): Promise<{ served: number; failed: unknown[] }> {
  let done = false;
  void during.finally(() => (done = true));
  const counts = { served: 0, failed: [] as unknown[] };
  while (!done) {
    const outcome = await transport.remote('length').dispatch('abc').catch((error: unknown) => error);
    if (outcome === 3) counts.served++;
    else counts.failed.push(outcome);
    // A dispatch that fails at once settles in a microtask: give I/O its turn.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return counts;
}

describe('one message as large as max_payload (64 MB)', () => {
  it('a request of about 2.9 M entries is refused before decoding: the member stays responsive, on time, within 256 MB', async () => {
    // One entry object repeated: 2.9 M entries on the wire, a few bytes of memory here. Encoding
    // takes this process seconds, so it is done before the callers here start watching the clock.
    const entries = new Array(2_900_000).fill({ i: 7, in: ['x'.repeat(18)] });
    const flood = msgpackCodec.encode({ v: 1, k: 'req', from: 'attacker', seq: 1, e: entries });
    expect(flood.length).toBeGreaterThan(60 * MB);
    expect(flood.length).toBeLessThanOrEqual(MAX_PAYLOAD);
    const other = await caller();
    await expect(other.remote('length').dispatch('warm')).resolves.toBe(4);
    const before = await member.memory();
    const stop = watchHeartbeats(member.id);
    const sent = (async () => {
      await publishFromAnotherProcess(`batch-serving.serve.length.${member.id}`, flood);
      await eventually(() => member.output.includes(`more than ${MAX_VALUES} values`), 30_000, 'the member refusing the flood');
    })();
    const traffic = await servedDuring(other, sent);
    await sent.catch((error: unknown) => {
      throw new Error(`${String(error)}\n${member.output.slice(-3000)}`);
    });
    const after = await member.memory();
    const gap = stop();
    expect(traffic.failed).toEqual([]);
    expect(traffic.served).toBeGreaterThan(0);
    expect(gap).toBeLessThan(TIMING.memberTimeout);
    expect(other.members('length')).toHaveLength(1);
    expect(after.maxRss - before.rss).toBeLessThan(256 * MB);
    expect(record.values('length').some(({ value }) => value === 18)).toBe(false);
    console.log(`flood of ${flood.length} bytes: RSS peak +${Math.round((after.maxRss - before.rss) / MB)} MB, heartbeat gap ${Math.round(gap)} ms, ${traffic.served} small dispatches served meanwhile`);
  });

  it('one input of 60 MB is served, and the member stays responsive, on time, within 256 MB', async () => {
    const other = await caller();
    const before = await member.memory();
    const stop = watchHeartbeats(member.id);
    const large = dispatchFromAnotherProcess(60);
    const traffic = await servedDuring(other, large);
    await expect(large).resolves.toEqual({ value: 60 * MB });
    const after = await member.memory();
    const gap = stop();
    expect(traffic.failed).toEqual([]);
    expect(gap).toBeLessThan(TIMING.memberTimeout);
    expect(after.maxRss - before.rss).toBeLessThan(256 * MB);
    console.log(`one 60 MB input: RSS peak +${Math.round((after.maxRss - before.rss) / MB)} MB, heartbeat gap ${Math.round(gap)} ms, ${traffic.served} small dispatches served meanwhile`);
  });
});

describe('tables keyed by what others send', () => {
  it('a flood of heartbeats announcing 200,000 new serving names keeps every table bounded, and the member serving', async () => {
    const watched = await caller();
    for (let burst = 0; burst < 200; burst++) {
      for (let i = 0; i < 100; i++) {
        const names = Array.from({ length: 10 }, (_, k) => [`n${burst}-${i}-${k}`, 1, 8]);
        attacker.publish('batch-serving.hb', msgpackCodec.encode({ v: 1, k: 'hb', from: `fake${burst}x${i}`, s: names }));
      }
      await attacker.flush();
    }
    await eventually(() => watched.membership.sizes().seen >= MAX_NAMES, 10_000, 'the flood arriving');
    const sizes = watched.membership.sizes();
    expect(sizes.seen).toBe(MAX_NAMES);
    expect(sizes.groups).toBeLessThanOrEqual(MAX_NAMES);
    expect(sizes.peers).toBeLessThanOrEqual(MAX_PEERS);
    await expect(watched.remote('length').dispatch('still here')).resolves.toBe(10);
    // The invented processes go silent: swept after memberTimeout, with what they announced. What
    // remains are the processes of this spec (the member and the callers) and the one serving.
    await eventually(() => watched.membership.sizes().peers < 10, 20_000, 'the invented processes swept');
    expect(watched.membership.sizes().groups).toBe(1);
  });
});
