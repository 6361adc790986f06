import { BatchServing } from 'nestjs-batch-serving';
import { FleetRateLimits } from '../../lib/transports/nats/fleet-rate-limit';
import { Membership } from '../../lib/transports/nats/membership';

/*
 * The shares of a fleet-wide rate limit, from the membership the heartbeats keep (no NATS here:
 * the membership is fed the heartbeats other members would send). fleet-rate-limit.spec.ts runs
 * the same on a real nats-server with member processes.
 */

const PER = 1000;
const HEARTBEAT = 100;
const HOLD = PER + 2 * HEARTBEAT;
const beat = (from: string, shares = 1) => ({ v: 1 as const, k: 'hb' as const, from, s: [['limited', shares, 8]] as Array<[string, number, number]> });

function setUp() {
  const membership = new Membership('self', { gone: () => undefined });
  const fleet = new FleetRateLimits(membership, HEARTBEAT);
  const running = BatchServing.start(BatchServing.new((v: number[]) => v), { name: 'limited', rateLimit: { per: PER, batches: 12 } });
  const shares: number[] = [];
  const share = running.batcher.rateShare.bind(running.batcher);
  running.batcher.rateShare = (s: number) => (shares.push(s), share(s));
  return { membership, fleet, running, shares, last: () => shares[shares.length - 1] };
}

describe('the shares of a fleet-wide rate limit', () => {
  it('gives a member alone the whole limit at once', async () => {
    const { membership, fleet, running, last } = setUp();
    membership.hostHere('limited', 1, 8);
    fleet.host(running, 0);
    expect(last()).toBe(1);
    await running.close('drain', 100);
  });

  it('makes a member that joins a fleet wait a window and two heartbeats, then take its part by weight × partitions', async () => {
    const { membership, fleet, running, last } = setUp();
    membership.heartbeat(beat('other', 3), 0);
    membership.hostHere('limited', 1, 8);
    fleet.host(running, 0);
    expect(last()).toBe(0);
    fleet.update(HEARTBEAT);
    expect(last()).toBe(0);
    fleet.update(HEARTBEAT + HOLD - 1);
    expect(last()).toBe(0);
    fleet.update(HEARTBEAT + HOLD);
    expect(last()).toBe(0.25);
    await running.close('drain', 100);
  });

  it('shrinks its share at once when a member joins, and grows it only a window and two heartbeats after one died', async () => {
    const { membership, fleet, running, last } = setUp();
    membership.hostHere('limited', 2, 8);
    fleet.host(running, 0);
    membership.heartbeat(beat('b', 2), 50);
    fleet.update(100);
    expect(last()).toBe(0.5);
    membership.sweep(2000, 1000);
    fleet.update(2000);
    expect(last()).toBe(0.5);
    fleet.update(2000 + HOLD);
    expect(last()).toBe(1);
    await running.close('drain', 100);
  });
});
