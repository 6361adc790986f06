import { runInThisContext } from 'node:vm';
import { jsonCodec, msgpackCodec } from 'nestjs-batch-serving/nats';
import { BoundedMap } from '../../lib/transports/nats/bounded-map';
import { RefusalLog } from '../../lib/transports/nats/refusal-log';
import { countJson, countMsgpack } from '../../lib/transports/nats/value-count';
import { RecordingTransportLogger } from './support/caller-app';

describe('counting values before decoding', () => {
  it('counts every value of a MessagePack message once, whatever the headers claim', () => {
    expect(countMsgpack(msgpackCodec.encode([1, 'two', [3, 4], null]), 100)).toBe(7);
    expect(countMsgpack(msgpackCodec.encode(new (runInThisContext('Float32Array') as typeof Float32Array)(1536)), 100)).toBe(1);
    expect(countMsgpack(msgpackCodec.encode('x'.repeat(70_000)), 100)).toBe(1);
    // An array header claiming 4 billion elements, followed by two: 3 values, not 4 billion.
    expect(countMsgpack(Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02]), 100)).toBe(3);
  });

  it('stops once past the limit, and counts truncated or unknown bytes as Infinity', () => {
    expect(countMsgpack(msgpackCodec.encode(new Array(1000).fill(0)), 10)).toBe(11);
    expect(countMsgpack(Uint8Array.from([0xdb, 0x00, 0x00, 0x10, 0x00, 0x41]), 100)).toBe(Infinity);
    expect(countMsgpack(Uint8Array.from([0xc1]), 100)).toBe(Infinity);
    expect(countMsgpack(Uint8Array.from([0xdb, 0x00]), 100)).toBe(Infinity);
  });

  it('counts JSON values by their separators, outside strings', () => {
    expect(countJson(jsonCodec.encode({ a: [1, 2, 3], b: 'x,[{' }), 100)).toBe(6);
    expect(countJson(jsonCodec.encode('a \\" , quoted'), 100)).toBe(1);
  });
});

describe('bounded tables and log lines', () => {
  it('a bounded map keeps the most recently used entries only', () => {
    const map = new BoundedMap<string, number>(3);
    for (const [key, value] of [['a', 1], ['b', 2], ['c', 3]] as const) map.set(key, value);
    map.get('a');
    map.set('d', 4);
    expect([map.has('a'), map.has('b'), map.has('c'), map.has('d'), map.size]).toEqual([true, false, true, true, 3]);
  });

  it("a refusal log line carries at most 200 characters of the sender's data", () => {
    const logger = new RecordingTransportLogger();
    new RefusalLog(logger).refuse('x'.repeat(10_000), `unexpected kind ${'y'.repeat(1_000_000)}`);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0].length).toBeLessThan(800);
    expect(logger.lines[0]).toContain('(999816 more characters)');
  });
});
