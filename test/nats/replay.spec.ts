import { AnswerStore } from '../../lib/transports/nats/answers';
import { Lease } from '../../lib/transports/nats/lease';
import { FAILED, OK } from '../../lib/transports/nats/protocol';
import { startCallerApp } from './support/caller-app';
import { ExecutionRecord, MemberProcess, eventually } from './support/members';
import { NatsServer } from './support/nats-server';
import { Partition } from './support/partition';

jest.setTimeout(60_000);

describe('the answers a member keeps', () => {
  it('are replayed until acknowledged, then forgotten', () => {
    const store = new AnswerStore(1000, 5000);
    store.keep('caller', [1, OK, [4]], 10, 0);
    store.keep('caller', [2, FAILED, 'BATCH_FAILED', 'boom'], 10, 0);
    expect(store.recall('caller', 1)).toEqual([1, OK, [4]]);
    expect(store.recall('other', 1)).toBeUndefined();
    expect(store.unacknowledged()).toEqual(new Map([['caller', [[1, OK, [4]], [2, FAILED, 'BATCH_FAILED', 'boom']]]]));
    store.acknowledge('caller', [1]);
    expect(store.recall('caller', 1)).toBeUndefined();
    expect(store.size).toBe(1);
  });

  it('stay within the byte budget: the oldest goes first, and what went is known as run, never as not received', () => {
    const store = new AnswerStore(25, 5000);
    for (let id = 1; id <= 4; id++) store.keep('caller', [id, OK, [id]], 10, id);
    expect(store.size).toBe(2);
    expect(store.recall('caller', 1)).toBe('dropped');
    expect(store.recall('caller', 2)).toBe('dropped');
    expect(store.recall('caller', 4)).toEqual([4, OK, [4]]);
  });

  it('are forgotten after the retention, as are the tombstones', () => {
    const store = new AnswerStore(1000, 5000);
    store.keep('caller', [1, OK, [1]], 10, 0);
    store.refuse('caller', 2, 0);
    store.lose('caller', 3, 4000);
    store.prune(5000);
    expect(store.recall('caller', 1)).toBeUndefined();
    expect(store.recall('caller', 2)).toBeUndefined();
    expect(store.recall('caller', 3)).toBe('dropped');
  });
});

describe('a lease', () => {
  it('holds from a confirmed heartbeat for memberTimeout less the margin, and never moves back', () => {
    const lease = Lease.of(1000);
    expect(lease.holds(0)).toBe(false);
    lease.renew(100);
    expect(lease.holds(999)).toBe(true);
    expect(lease.holds(1000)).toBe(false);
    lease.renew(50); // a late confirmation of an older heartbeat
    expect(lease.holds(999)).toBe(true);
    expect(lease.overdue(1100)).toBe(100);
  });
});

describe('an answer lost with a broken connection', () => {
  it('is asked for again when the caller reconnects, and replayed: every dispatch resolves, none runs twice', async () => {
    const server = await NatsServer.start();
    const relay = await Partition.between(server.port);
    const record = new ExecutionRecord();
    const member = await MemberProcess.start('A', server.url, record.file, [{ name: 'slow', kind: 'slow', delay: 300, options: { batchSize: 10, batchTimeout: 5 } }]);
    const app = await startCallerApp(relay.url);
    try {
      await eventually(() => app.transport.members('slow').length === 1, 10_000, 'the member');
      const pending = Promise.all(Array.from({ length: 10 }, (_, i) => app.client.dispatch('slow', i)));
      await eventually(() => record.values('slow').length === 10, 10_000, 'the batch to start');
      // The answers leave the member while the caller is cut off, and are lost when its connection breaks.
      relay.sever();
      await new Promise((resolve) => setTimeout(resolve, 500));
      relay.reset();
      await expect(pending).resolves.toEqual(Array.from({ length: 10 }, (_, i) => i));
      expect(app.logger.lines.some((line) => line.includes('reconnected'))).toBe(true);
      expect(record.values('slow').map(({ value }) => value)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    } finally {
      await app.close();
      await member.close();
      await relay.close();
      await server.dispose();
      record.dispose();
    }
  });
});
