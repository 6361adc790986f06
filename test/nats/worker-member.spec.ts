import { BatchServing, BatchTooLargeError } from 'nestjs-batch-serving';
import { startCallerApp, type CallerApp } from './support/caller-app';
import { ExecutionRecord, MemberProcess } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(60_000);

/*
 * API.md section 10, last point, over NATS: a member process hosts worker servings, and this
 * process, which hosts neither, dispatches to them. The batches run on the member's threads.
 */
let server: NatsServer;
let record: ExecutionRecord;
let member: MemberProcess;
let caller: CallerApp;

beforeAll(async () => {
  server = await NatsServer.start();
  record = new ExecutionRecord();
  member = await MemberProcess.start('A', server.url, record.file, [
    { name: 'threads', kind: 'worker', options: { partitions: 2, batchSize: 4, batchTimeout: 20 } },
    { name: 'provider', kind: 'provider', options: { batchSize: 4, batchTimeout: 20, maxBatchCost: 10, retry: { attempts: 3 } } },
  ]);
  caller = await startCallerApp(server.url, [{ name: 'here', serving: BatchServing.new((values: number[]) => values) }]);
});

afterAll(async () => {
  await caller?.close();
  await member?.close();
  await server?.dispose();
  record?.dispose();
});

interface Echo {
  n: number;
  threadId: number;
  inits: number;
  initData: string;
  ctx: { size: number; cost: number; attempt: number };
}

describe('a worker serving hosted by a NATS member', () => {
  it("answers a remote dispatch from a thread of the member, after the thread's init", async () => {
    expect(caller.transport.members('threads')).toEqual([{ member: member.id, shares: 2 }]);
    const echoes = await caller.client.dispatchMany<Echo>('threads', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(echoes.map((e) => e.n)).toEqual([1, 2, 3]);
    for (const echo of echoes) {
      expect(echo).toMatchObject({ inits: 1, initData: 'member A', ctx: { size: 3, attempt: 1 } });
      // Thread 0 is a process's main thread: these ran on a worker thread.
      expect(echo.threadId).not.toBe(0);
    }
  });

  it("keeps the member's cost budget, and its retries of a RetryableError thrown in the thread", async () => {
    const seen = await caller.client.dispatchMany<Echo>('provider', [{ op: 'quota', n: 1 }, { n: 5 }, { n: 6 }]);
    // maxBatchCost 10: [1, 5] and [6]. The 'quota' batch failed once in the thread with retryAfterMs 30, and ran again.
    expect(seen.map((s) => [s.n, s.ctx.size, s.ctx.cost, s.ctx.attempt])).toEqual([
      [1, 2, 6, 2],
      [5, 2, 6, 2],
      [6, 1, 6, 1],
    ]);
  });

  it('gives a remote caller the BatchTooLargeError of a value its member refused as too large, even alone', async () => {
    await expect(caller.client.dispatch('provider', { op: 'always-too-large', n: 1 })).rejects.toBeInstanceOf(BatchTooLargeError);
  });
});
