import { ServingConfigurationError } from 'nestjs-batch-serving';
import { jsonCodec, natsTransport } from 'nestjs-batch-serving/nats';
import { Membership } from '../../lib/transports/nats/membership';
import { entryProblem, isReplyItem, nameToken, parseControl, parseHeartbeat, parseRequest } from '../../lib/transports/nats/protocol';
import { encodeFitting } from '../../lib/transports/nats/wire';

describe('subjects', () => {
  it('a plain serving name is its own subject token', () => {
    expect(nameToken('squares')).toBe('squares');
    expect(nameToken('embed_v2-large')).toBe('embed_v2-large');
  });

  it('dots, wildcards and anything else are escaped, so that no name reaches another name’s subject', () => {
    expect(nameToken('tenant.a')).toBe('tenant~2ea');
    expect(nameToken('*')).toBe('~2a');
    expect(nameToken('>')).toBe('~3e');
    expect(nameToken('é')).toBe('~c3~a9');
    const names = ['a.b', 'a~2eb', 'a b', 'a*b', 'a>b', '~', ''];
    expect(new Set(names.map(nameToken)).size).toBe(names.length);
    for (const name of names) expect(nameToken(name)).toMatch(/^[A-Za-z0-9_~-]+$/);
  });
});

describe('messages received are checked before anything acts on them', () => {
  const request = { v: 1, k: 'req', from: 'abc', seq: 3, e: [{ i: 1, in: [1, 2] }, { i: 2, in: ['x'], s: 1, t: 50, c: { user: 'u' } }] };

  it('a well-formed request passes', () => {
    expect(parseRequest(request)).toBe(request);
  });

  it.each([
    ['not an object', 'hello', 'not an object'],
    ['another protocol version', { ...request, v: 2 }, 'protocol version 2'],
    ['another kind', { ...request, k: 'res' }, 'unexpected kind'],
    ['a sender id that could inject a subject', { ...request, from: 'a.b' }, 'no valid sender id'],
    ['no seq', { ...request, seq: -1 }, 'no valid seq'],
    ['no entries', { ...request, e: 'x' }, 'no entries'],
  ])('a request with %s is refused', (_, message, reason) => {
    expect(parseRequest(message)).toEqual(expect.stringContaining(reason));
  });

  it.each([
    ['no valid id', { i: -1, in: [] }, 'an entry without a valid id'],
    ['inputs that are not an array', { i: 1, in: 5 }, 'an entry without inputs'],
    ['a bad flag', { i: 1, in: [], s: true }, 'an entry with a bad flag'],
  ])('an entry with %s is refused alone: the message itself passes', (_, entry, reason) => {
    expect(parseRequest({ ...request, e: [request.e[0], entry] })).toEqual(expect.objectContaining({ k: 'req' }));
    expect(entryProblem(entry)).toBe(reason);
    expect(entryProblem(request.e[0])).toBeUndefined();
  });

  it('dispatch options of an entry are left to the serving, which checks them as a local dispatch\'s', () => {
    expect(entryProblem({ i: 1, in: [], t: -5 })).toBeUndefined();
    expect(entryProblem({ i: 1, in: [], t: null, p: 1.5 })).toBeUndefined();
  });

  it('reply items are checked one by one', () => {
    expect(isReplyItem([1, 0, [1]])).toBe(true);
    expect(isReplyItem([1, 1, 'BATCH_FAILED', 'boom'])).toBe(true);
    expect(isReplyItem([1, 4, 0, [1, 2]])).toBe(true);
    expect(isReplyItem([1, 5, 2])).toBe(true);
    expect(isReplyItem([1, 6])).toBe(true);
    expect(isReplyItem([1, 8])).toBe(true);
    expect(isReplyItem([1, 5])).toBe(false); // a stream's end says how many batch events came before it
    expect(isReplyItem([1, 0, 'not an array'])).toBe(false);
    expect(isReplyItem([1, 9])).toBe(false);
    expect(isReplyItem(['1', 6])).toBe(false);
  });

  it('heartbeats and controls are checked too', () => {
    expect(parseHeartbeat({ v: 1, k: 'hb', from: 'a', s: [['x', 2, 32]] })).toEqual({ v: 1, k: 'hb', from: 'a', s: [['x', 2, 32]] });
    expect(parseHeartbeat({ v: 1, k: 'hb', from: 'a', s: [['x', 0, 32]] })).toEqual(expect.stringContaining('shares'));
    expect(parseControl({ v: 1, k: 'cancel', from: 'a', ids: [1, 2] })).toEqual({ v: 1, k: 'cancel', from: 'a', ids: [1, 2] });
    expect(parseControl({ v: 1, k: 'cancel', from: 'a', ids: ['1'] })).toEqual('no valid ids');
  });
});

describe('membership', () => {
  const gone: string[] = [];
  const membership = () => new Membership('me', { gone: (id, reason) => void gone.push(`${id} ${reason}`) });

  it('picks members by smooth weighted round-robin: each its share, interleaved', () => {
    const m = membership();
    m.heartbeat({ v: 1, k: 'hb', from: 'a', s: [['s', 3, 32]] }, 0);
    m.heartbeat({ v: 1, k: 'hb', from: 'b', s: [['s', 1, 32]] }, 0);
    const picks = Array.from({ length: 8 }, () => m.pick('s', undefined, false));
    expect(picks).toEqual(['a', 'a', 'b', 'a', 'a', 'a', 'b', 'a']);
  });

  it('skips members already tried, and this process unless asked', () => {
    const m = membership();
    m.hostHere('s', 100, 32);
    m.heartbeat({ v: 1, k: 'hb', from: 'a', s: [['s', 1, 32]] }, 0);
    m.heartbeat({ v: 1, k: 'hb', from: 'b', s: [['s', 1, 32]] }, 0);
    expect(m.pick('s', ['a'], false)).toBe('b');
    expect(m.pick('s', ['a', 'b'], false)).toBeUndefined();
    expect(m.pick('s', undefined, true)).toBe('me');
  });

  it('forgets a silent member and reports it gone; a goodbye is reported at once', () => {
    const m = membership();
    gone.length = 0;
    m.heartbeat({ v: 1, k: 'hb', from: 'a', s: [['s', 1, 32]] }, 0);
    m.heartbeat({ v: 1, k: 'hb', from: 'b', s: [['s', 1, 16]] }, 0);
    m.heartbeat({ v: 1, k: 'hb', from: 'b', s: [['s', 1, 16]] }, 2500);
    m.sweep(3500, 3000);
    expect(gone).toEqual(['a silent']);
    expect(m.members('s')).toEqual([{ member: 'b', shares: 1 }]);
    expect(m.batchSize('s')).toBe(16);
    m.heartbeat({ v: 1, k: 'hb', from: 'b', s: [], bye: 1 }, 3600);
    expect(gone).toEqual(['a silent', 'b left']);
    expect(m.members('s')).toEqual([]);
    expect(m.wasSeen('s')).toBe(true);
  });

  it('a heartbeat that no longer lists a serving takes the member out of its group', () => {
    const m = membership();
    m.heartbeat({ v: 1, k: 'hb', from: 'a', s: [['s', 1, 32], ['t', 1, 32]] }, 0);
    m.heartbeat({ v: 1, k: 'hb', from: 'a', s: [['t', 1, 32]] }, 1);
    expect(m.names()).toEqual(['t']);
  });
});

describe('encoding under max_payload', () => {
  it('splits what does not fit, in order, and hands an item too large on its own to tooLarge', () => {
    const chunks: number[][] = [];
    const tooLarge: number[] = [];
    const items = [1, 2, 3, 4, 5, 6, 7, 8, 9, 1000];
    const envelope = (chunk: number[]) => chunk.map((n) => 'x'.repeat(n));
    encodeFitting(jsonCodec, 100, items, envelope, (chunk) => void chunks.push(chunk), (item) => void tooLarge.push(item), () => undefined);
    expect(chunks.flat()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(chunks.length).toBeGreaterThan(1);
    expect(tooLarge).toEqual([1000]);
  });

  it('hands an item the codec cannot encode to unencodable, and sends all the others, in order', () => {
    const chunks: unknown[][] = [];
    const refused: unknown[] = [];
    const items: unknown[] = [1, 2, 3n, 4, 5, 6n, 7];
    encodeFitting(jsonCodec, 1000, items, (chunk) => chunk, (chunk) => void chunks.push(chunk), () => undefined, (item) => void refused.push(item));
    expect(chunks.flat()).toEqual([1, 2, 4, 5, 7]);
    expect(refused).toEqual([3n, 6n]);
  });
});

describe('natsTransport() options', () => {
  it('refuses, at once, a memberTimeout under twice the heartbeat interval', () => {
    expect(() => natsTransport({ heartbeatInterval: 1000, memberTimeout: 1500 })).toThrow(ServingConfigurationError);
    expect(() => natsTransport({ heartbeatInterval: 1000, memberTimeout: 1500 })).toThrow(/memberTimeout: 1500. It must be at least twice heartbeatInterval/);
  });

  it('refuses a subject prefix that is not plain subject tokens', () => {
    expect(() => natsTransport({ subjectPrefix: 'a.*' })).toThrow(/subjectPrefix/);
  });
});
