import { startCallerApp, type CallerApp } from './support/caller-app';
import { ExecutionRecord, FAST, MemberProcess, eventually } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(120_000);

/*
 * API.md section 9: across NATS the rate limit is the fleet's. Three member processes host one
 * serving with `rateLimit: { per: 1000, batches: 4 }`; a steady load runs while members join and
 * one is SIGKILLed. Every member records the start of each batch (Date.now(), one clock for all
 * processes of the machine), and the fleet's starts in any 1000 ms must stay within 4.
 */

const PER = 1000;
const BATCHES = 4;
const limited = [{ name: 'limited', kind: 'squares' as const, options: { batchSize: 5, batchTimeout: 0, rateLimit: { per: PER, batches: BATCHES } } }];

/** Batch starts of 'limited', oldest first, by member and time (the fixture stamps each with `at`). */
function starts(record: ExecutionRecord): Array<{ member: string; at: number }> {
  return (record.batches() as Array<{ member: string; serving: string; at?: number }>).filter((batch) => batch.serving === 'limited').map(({ member, at }) => ({ member, at: at! })).sort((a, b) => a.at - b.at);
}

/** Most starts in any interval of PER ms (less 2 ms: Date.now() and the limiter's clock round apart). */
function busiest(list: Array<{ at: number }>): number {
  let most = 0;
  for (const first of list) most = Math.max(most, list.filter((s) => s.at >= first.at && s.at < first.at + PER - 2).length);
  return most;
}

describe('a rate limit across a NATS fleet', () => {
  let server: NatsServer;
  let record: ExecutionRecord;
  const members: MemberProcess[] = [];
  let app: CallerApp;

  beforeAll(async () => {
    server = await NatsServer.start();
    record = new ExecutionRecord();
    app = await startCallerApp(server.url);
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all(members.map((m) => m.close()));
    await server?.dispose();
    record?.dispose();
  });

  it("keeps the fleet's starts in any window within the limit as members join and one is killed; a member alone uses the whole limit", async () => {
    members.push(await MemberProcess.start('a', server.url, record.file, limited));
    await eventually(() => app.transport.members('limited').length === 1, 10_000, 'member a');

    // A steady load: callers in a loop, until told to stop. Values the killed member held fail; the rest are served.
    let running = true;
    let next = 0;
    const outcomes = { ok: 0, failed: 0 };
    const caller = async () => {
      while (running) {
        const v = next++;
        await app.client.dispatch('limited', v, { timeout: 20_000 }).then(
          (result) => (result === v * v ? outcomes.ok++ : (outcomes.failed++, void 0)),
          () => outcomes.failed++,
        );
      }
    };
    const callers = Promise.all(Array.from({ length: 40 }, caller));

    // Alone, member a takes the whole limit at once.
    await eventually(() => starts(record).length >= BATCHES, 5_000, 'member a to start its first batches');
    const first = starts(record)[0].at;
    expect(starts(record).filter((s) => s.at < first + PER - 2)).toHaveLength(BATCHES);

    members.push(await MemberProcess.start('b', server.url, record.file, limited));
    members.push(await MemberProcess.start('c', server.url, record.file, limited));
    await eventually(() => app.transport.members('limited').length === 3, 10_000, 'three members');
    // Each member waits a window before it starts; then all three serve.
    await eventually(() => new Set(starts(record).map((s) => s.member)).size === 3, 15_000, 'all three members to start batches');
    await new Promise((resolve) => setTimeout(resolve, 1500));

    await members[2].kill();
    const killedAt = Date.now();
    // The survivors take the dead member's share after memberTimeout and one window more.
    await new Promise((resolve) => setTimeout(resolve, FAST.memberTimeout + 2 * PER + 1500));
    running = false;
    await callers;

    const all = starts(record);
    expect(busiest(all)).toBeLessThanOrEqual(BATCHES);
    // Three members hold a share of 4 / 3 each, one batch a window; once the death is seen and a
    // window has passed, the two survivors hold 2 each: the fleet uses the whole limit again.
    const beforeDeath = all.filter((s) => s.at > first + 2 * PER && s.at < killedAt);
    expect(new Set(beforeDeath.map((s) => s.member)).size).toBeGreaterThanOrEqual(2);
    expect(busiest(all.filter((s) => s.at > killedAt + FAST.memberTimeout + 2 * PER))).toBe(BATCHES);
    expect(outcomes.ok).toBeGreaterThan(0);
  });
});
