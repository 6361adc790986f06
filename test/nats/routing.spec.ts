import { connect } from '@nats-io/transport-node';
import { BatchServing, ServingOverloadedError, ServingUnavailableError } from 'nestjs-batch-serving';
import { msgpackCodec, natsTransport, type NatsTransport } from 'nestjs-batch-serving/nats';
import { startCallerApp, type CallerApp } from './support/caller-app';
import { ExecutionRecord, FAST, MemberProcess, eventually } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(90_000);

let server: NatsServer;
let record: ExecutionRecord;
const members: MemberProcess[] = [];

beforeAll(async () => {
  server = await NatsServer.start();
  record = new ExecutionRecord();
});

afterAll(async () => {
  await Promise.all(members.map((m) => m.close()));
  await server?.dispose();
  record?.dispose();
});

async function member(label: string, servings: Parameters<typeof MemberProcess.start>[3]): Promise<MemberProcess> {
  const started = await MemberProcess.start(label, server.url, record.file, servings);
  members.push(started);
  return started;
}

const count = (labels: string[]) => labels.reduce<Record<string, number>>((acc, l) => ({ ...acc, [l]: (acc[l] ?? 0) + 1 }), {});

describe('weights', () => {
  let heavy: MemberProcess;
  let light: MemberProcess;
  let plain: NatsTransport;
  let app: CallerApp;

  beforeAll(async () => {
    // Shares are weight × partitions: 1.5 × 2 = 3 against 1 × 1 = 1.
    heavy = await member('heavy', [{ name: 'label', kind: 'label', options: { weight: 1.5, partitions: 2 } }]);
    light = await member('light', [{ name: 'label', kind: 'label', options: { weight: 1 } }]);
    // A process without Nest that only dispatches: the transport on its own.
    plain = natsTransport({ servers: server.url, ...FAST, logger: { log() {}, warn() {}, error() {} } });
    await plain.start();
  });

  afterAll(async () => {
    await app?.close();
    await plain?.close();
  });

  it('split the traffic of a process that does not host the serving about 3:1', async () => {
    expect(plain.members('label').sort((a, b) => b.shares - a.shares)).toEqual([
      { member: heavy.id, shares: 3 },
      { member: light.id, shares: 1 },
    ]);
    const labels: string[] = [];
    for (let round = 0; round < 10; round++) {
      labels.push(...(await Promise.all(Array.from({ length: 40 }, (_, i) => plain.remote('label').dispatch(round * 40 + i) as Promise<string>))));
    }
    const { heavy: h = 0, light: l = 0 } = count(labels);
    expect(h + l).toBe(400);
    expect(h / l).toBeGreaterThan(2.5);
    expect(h / l).toBeLessThan(3.5);
  });

  it('local first: a process that hosts the serving serves its own dispatches', async () => {
    // A Nest application that hosts 'label' itself, with 1 share.
    app = await startCallerApp(server.url, [{ name: 'label', serving: BatchServing.new((values: number[]) => values.map(() => 'self')) }]);
    await eventually(() => app.transport.members('label').length === 3, 10_000, 'the caller app to see both members');
    const labels = await Promise.all(Array.from({ length: 50 }, (_, i) => app.client.dispatch<string>('label', i)));
    expect(new Set(labels)).toEqual(new Set(['self']));
  });

  it('{ distributed: true } picks among all members, this process included, by shares (3:1:1)', async () => {
    const labels: string[] = [];
    for (let round = 0; round < 10; round++) {
      labels.push(...(await Promise.all(Array.from({ length: 50 }, (_, i) => app.client.dispatch<string>('label', round * 50 + i, { distributed: true })))));
    }
    const { heavy: h = 0, light: l = 0, self: s = 0 } = count(labels);
    expect(h + l + s).toBe(500);
    expect(h / l).toBeGreaterThan(2.2);
    expect(h / l).toBeLessThan(3.8);
    expect(s / l).toBeGreaterThan(0.6);
    expect(s / l).toBeLessThan(1.6);
  });
});

describe('retries', () => {
  it('a member whose queue is full refuses before taking the values in, and the dispatch goes to another', async () => {
    // 'busy' gets nearly every first try (100 shares to 1), but takes one value at a time.
    await member('busy', [{ name: 'queue', kind: 'slow', delay: 300, options: { weight: 100, batchSize: 1, maxQueueSize: 1 } }]);
    await member('spare', [{ name: 'queue', kind: 'slow', delay: 300, options: { weight: 1, batchSize: 10 } }]);
    const app = await startCallerApp(server.url);
    try {
      await eventually(() => app.transport.members('queue').length === 2, 10_000, 'both members');
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => app.client.dispatch('queue', 1000 + i)));
      expect(results).toEqual([1000, 1001, 1002, 1003, 1004, 1005]);
      const executed = record.values('queue');
      expect(executed.map(({ value }) => value).sort()).toEqual([1000, 1001, 1002, 1003, 1004, 1005]);
      expect(count(executed.map(({ member: m }) => m))).toEqual({ busy: 1, spare: 5 });
    } finally {
      await app.close();
    }
  });

  it('when every member refuses, the dispatch fails with the refusal after at most 3 tries', async () => {
    const app = await startCallerApp(server.url);
    try {
      await member('full', [{ name: 'full', kind: 'slow', delay: 1500, options: { batchSize: 1, maxQueueSize: 1 } }]);
      await eventually(() => app.transport.members('full').length === 1, 10_000, 'the member');
      const first = app.client.dispatch('full', 1);
      const refused = await app.client.dispatch('full', 2).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ServingOverloadedError);
      expect(refused).toMatchObject({ code: 'SERVING_OVERLOADED' });
      await expect(first).resolves.toBe(1);
      expect(record.values('full').map(({ value }) => value)).toEqual([1]);
    } finally {
      await app.close();
    }
  });

  it('a dispatch sent to a member that no longer listens ("no responders") is tried on another', async () => {
    await member('real', [{ name: 'ghosted', kind: 'squares' }]);
    const app = await startCallerApp(server.url);
    const nc = await connect({ servers: server.url });
    try {
      await eventually(() => app.transport.members('ghosted').length === 1, 10_000, 'the real member');
      // A process that announces 'ghosted' with most of the shares but never subscribes to it.
      nc.publish('batch-serving.hb', msgpackCodec.encode({ v: 1, k: 'hb', from: 'ghost', s: [['ghosted', 1000, 32]] }));
      await eventually(() => app.transport.members('ghosted').length === 2, 10_000, 'the ghost');
      await expect(Promise.all([1, 2, 3].map((v) => app.client.dispatch('ghosted', v)))).resolves.toEqual([1, 4, 9]);
      expect(record.values('ghosted').map(({ value }) => value).sort()).toEqual([1, 2, 3]);
      // "No responders" took the ghost out of the group until it announces the serving again.
      expect(app.transport.members('ghosted').map(({ member: m }) => m)).not.toContain('ghost');
    } finally {
      await nc.close();
      await app.close();
    }
  });

  it('is tried at most 3 times: three members that do not listen, and it fails with SERVING_UNAVAILABLE', async () => {
    await member('fourth', [{ name: 'haunted', kind: 'squares' }]);
    const app = await startCallerApp(server.url);
    const nc = await connect({ servers: server.url });
    try {
      for (const ghost of ['ghost1', 'ghost2', 'ghost3']) nc.publish('batch-serving.hb', msgpackCodec.encode({ v: 1, k: 'hb', from: ghost, s: [['haunted', 1000, 32]] }));
      await eventually(() => app.transport.members('haunted').length === 4, 10_000, 'three ghosts and a member');
      const error = await app.client.dispatch('haunted', 5).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ServingUnavailableError);
      expect(error).toMatchObject({ code: 'SERVING_UNAVAILABLE' });
      expect((error as Error).message).toContain('after 3 tries');
      expect(record.values('haunted')).toEqual([]);
      // The ghosts are out of the group now: the next dispatch reaches the real member.
      await expect(app.client.dispatch('haunted', 6)).resolves.toBe(36);
    } finally {
      await nc.close();
      await app.close();
    }
  });

  it('a member that leaves finishes what it accepted, and later dispatches go to the others', async () => {
    const leaving = await member('leaving', [{ name: 'leave', kind: 'slow', delay: 400, options: { batchSize: 4, batchTimeout: 0 } }]);
    await member('staying', [{ name: 'leave', kind: 'slow', delay: 400, options: { batchSize: 4, batchTimeout: 0 } }]);
    const app = await startCallerApp(server.url);
    try {
      await eventually(() => app.transport.members('leave').length === 2, 10_000, 'both members');
      const accepted = Promise.all(Array.from({ length: 8 }, (_, i) => app.client.dispatch('leave', i)));
      await eventually(() => record.values('leave').some(({ member: m }) => m === 'leaving'), 10_000, 'the leaving member to start a batch');
      const closing = leaving.close();
      // Sent while it leaves: accepted and drained, refused, or "no responders": all end up served once.
      const during = Promise.all(Array.from({ length: 10 }, (_, i) => app.client.dispatch('leave', 100 + i)));
      await closing;
      await expect(accepted).resolves.toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      await expect(during).resolves.toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
      expect(app.transport.members('leave').map(({ member: m }) => m)).not.toContain(leaving.id);
      await expect(Promise.all(Array.from({ length: 10 }, (_, i) => app.client.dispatch('leave', 200 + i)))).resolves.toHaveLength(10);
      const values = record.values('leave');
      expect(values.length).toBe(new Set(values.map(({ value }) => value)).size);
      expect(values).toHaveLength(28);
      expect(values.filter(({ value }) => (value as number) >= 200).every(({ member: m }) => m === 'staying')).toBe(true);
    } finally {
      await app.close();
    }
  });
});
