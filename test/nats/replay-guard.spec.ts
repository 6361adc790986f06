import { ServingConfigurationError } from 'nestjs-batch-serving';
import { natsTransport } from 'nestjs-batch-serving/nats';
import { MAX_SKEW_MS, ReplayGuard, WINDOW } from '../../lib/transports/nats/replay-guard';
import { Signer } from '../../lib/transports/nats/signing';

const NOW = 1_700_000_000_000;

describe('the replay guard', () => {
  it('accepts each counter of a signer once, in any order within the window', () => {
    const guard = new ReplayGuard();
    for (const counter of [5, 3, 9, 4, 6]) expect(guard.check('p', counter, NOW, NOW)).toBeUndefined();
    for (const counter of [5, 3, 9]) expect(guard.check('p', counter, NOW, NOW)).toMatch(/a replay/);
    expect(guard.check('other', 5, NOW, NOW)).toBeUndefined();
  });

  it('refuses what fell behind the window, and what was signed too far from this clock', () => {
    const guard = new ReplayGuard();
    expect(guard.check('p', 1, NOW, NOW)).toBeUndefined();
    expect(guard.check('p', 1 + WINDOW, NOW, NOW)).toBeUndefined();
    expect(guard.check('p', 1 + WINDOW - 1, NOW, NOW)).toBeUndefined();
    expect(guard.check('p', 1, NOW, NOW)).toMatch(/a replay/);
    expect(guard.check('q', 1, NOW - MAX_SKEW_MS - 1, NOW)).toMatch(/beyond the 30 s allowed/);
  });
});

describe('the signer', () => {
  const payload = new Uint8Array([1, 2, 3]);

  it('opens what it sealed for the same subject once, and nothing else', () => {
    const sender = new Signer(['a-long-enough-key-0123'], 'Sender1');
    const receiver = new Signer(['another-key-0123456789', 'a-long-enough-key-0123'], 'Receiver1');
    const sealed = sender.seal('x.in.r', payload);
    expect(receiver.open('x.in.other', sealed)).toMatch(/signature does not match/);
    expect(receiver.open('x.in.r', sealed)).toEqual({ payload: Buffer.from(payload), signer: 'Sender1' });
    expect(receiver.open('x.in.r', sealed)).toMatch(/a replay/);
    const tampered = Buffer.from(sender.seal('x.in.r', payload));
    tampered[0] ^= 1;
    expect(receiver.open('x.in.r', tampered)).toMatch(/signature does not match/);
    expect(receiver.open('x.in.r', payload)).toMatch(/carries no signature/);
  });
});

describe('natsTransport({ key })', () => {
  it.each([
    [{ key: 'short' }, /invalid key: "a string of 5 characters". It must be a string of at least 16 characters/],
    [{ keys: [] }, /invalid keys: \[\]. It must be a non-empty array/],
    [{ key: 'a-long-enough-key-0123', keys: ['a-long-enough-key-0123'] }, /pass either key or keys, not both/],
    [{ keys: ['a-long-enough-key-0123', 42 as unknown as string] }, /invalid keys: "a number"/],
  ])('refuses %j with a clear error that never prints the key', (options, message) => {
    expect(() => natsTransport(options)).toThrow(ServingConfigurationError);
    expect(() => natsTransport(options)).toThrow(message);
    expect(() => natsTransport(options)).not.toThrow(/a-long-enough-key-0123"/);
  });
});
