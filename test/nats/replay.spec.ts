import { AnswerStore } from '../../lib/transports/nats/answers';
import { Lease } from '../../lib/transports/nats/lease';
import { OK } from '../../lib/transports/nats/protocol';
import { jsonCodec } from 'nestjs-batch-serving/nats';
import { startCallerApp } from './support/caller-app';
import { ExecutionRecord, MemberProcess, eventually } from './support/members';
import { NatsServer } from './support/nats-server';
import { Partition } from './support/partition';

jest.setTimeout(60_000);

describe('the answers a member keeps', () => {
  const message = (...ids: number[]) => jsonCodec.encode({ v: 1, k: 'res', from: 'member', r: ids.map((id) => [id, OK, [id]]) });

  it('are kept, as the message that carried them, until acknowledged, then forgotten', () => {
    const store = new AnswerStore(1000, 5000);
    const data = message(1, 2);
    store.keep('caller', [1, 2], data, 0);
    expect(store.recall('caller', 1)).toBe(data);
    expect(store.recall('other', 1)).toBeUndefined();
    expect(store.unacknowledged()).toEqual(new Map([['caller', [data]]]));
    store.acknowledge('caller', [1]);
    expect(store.recall('caller', 1)).toBeUndefined();
    expect(store.size).toBe(1);
    store.acknowledge('caller', [2]);
    expect(store.unacknowledged()).toEqual(new Map());
  });

  it('stay within the byte budget: the oldest goes first, and what went is known as run, never as not received', () => {
    const sizes = message(1).length;
    const store = new AnswerStore(2 * sizes + 1, 5000);
    for (let id = 1; id <= 4; id++) store.keep('caller', [id], message(id), id);
    expect(store.size).toBe(2);
    expect(store.recall('caller', 1)).toBe('dropped');
    expect(store.recall('caller', 2)).toBe('dropped');
    expect(store.recall('caller', 4)).toEqual(message(4));
  });

  it('an answer sent again is kept through its latest message only', () => {
    const store = new AnswerStore(1000, 5000);
    const first = message(1, 2);
    const again = message(1);
    store.keep('caller', [1, 2], first, 0);
    store.keep('caller', [1], again, 1);
    expect(store.recall('caller', 1)).toBe(again);
    store.acknowledge('caller', [2]);
    expect(store.unacknowledged()).toEqual(new Map([['caller', [again]]]));
  });

  it('are forgotten after the retention, as are the tombstones', () => {
    const store = new AnswerStore(1000, 5000);
    store.keep('caller', [1], message(1), 0);
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
