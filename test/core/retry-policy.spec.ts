import { BatchTooLargeError, RetryableError } from 'nestjs-batch-serving';
import { RetryPolicy } from '../../lib/core/retry-policy';
import type { BatchContext } from 'nestjs-batch-serving';

const at = (attempt: number) => ({ attempt }) as BatchContext;
const half = () => 0.5;

describe('RetryPolicy: what a failed batch leads to', () => {
  it('goes by the error class when there is no classify', () => {
    const policy = new RetryPolicy({ attempts: 3 }, half);
    expect(policy.decide(new RetryableError('busy'), at(1))).toEqual({ kind: 'retry', delayMs: 50, pause: false });
    expect(policy.decide(new RetryableError('429', { retryAfterMs: 1200 }), at(1))).toEqual({ kind: 'retry', delayMs: 1200, pause: true });
    expect(policy.decide(new BatchTooLargeError('413'), at(1))).toEqual({ kind: 'split' });
    expect(policy.decide(new Error('bad request'), at(1))).toEqual({ kind: 'fail', exhausted: false });
  });

  it('asks classify first, and falls back to the class when it says nothing', () => {
    const classify = jest.fn((error: unknown) => {
      const status = (error as { status?: number }).status;
      if (status === 429) return { retryAfterMs: 300 };
      if (status === 413) return 'split' as const;
      if (status === 500) return 'retry' as const;
      return undefined;
    });
    const policy = new RetryPolicy({ attempts: 2, classify }, half);
    const ctx = at(1);
    expect(policy.decide(Object.assign(new Error(), { status: 429 }), ctx)).toEqual({ kind: 'retry', delayMs: 300, pause: true });
    expect(policy.decide(Object.assign(new Error(), { status: 413 }), ctx)).toEqual({ kind: 'split' });
    expect(policy.decide(Object.assign(new Error(), { status: 500 }), ctx)).toEqual({ kind: 'retry', delayMs: 50, pause: false });
    expect(policy.decide(new BatchTooLargeError('too big'), ctx)).toEqual({ kind: 'split' });
    expect(classify).toHaveBeenLastCalledWith(expect.any(BatchTooLargeError), ctx);
  });

  it('fails a batch whose classify throws, with the batch error, rather than hang', () => {
    const policy = new RetryPolicy({ attempts: 5, classify: () => { throw new Error('broken classifier'); } }, half);
    expect(policy.decide(new RetryableError('busy'), at(1))).toEqual({ kind: 'fail', exhausted: false });
  });

  it('takes a bad retryAfterMs from classify as a plain retry with backoff', () => {
    const policy = new RetryPolicy({ attempts: 2, classify: () => ({ retryAfterMs: Number.NaN }) }, half);
    expect(policy.decide(new Error('429'), at(1))).toEqual({ kind: 'retry', delayMs: 50, pause: false });
  });

  it('stops after `attempts` executions, and says the retries ran out', () => {
    const policy = new RetryPolicy({ attempts: 3 }, half);
    expect(policy.decide(new RetryableError('busy'), at(2)).kind).toBe('retry');
    expect(policy.decide(new RetryableError('busy'), at(3))).toEqual({ kind: 'fail', exhausted: true });
    expect(new RetryPolicy({ attempts: 1 }).decide(new RetryableError('busy'), at(1))).toEqual({ kind: 'fail', exhausted: false });
  });

  it('splits without a retry option, but never runs the same values again', () => {
    const policy = new RetryPolicy(undefined);
    expect(policy.decide(new BatchTooLargeError('413'), at(1))).toEqual({ kind: 'split' });
    expect(policy.decide(new RetryableError('429', { retryAfterMs: 5 }), at(1))).toEqual({ kind: 'fail', exhausted: false });
  });

  it('backs off exponentially up to max, with full jitter', () => {
    const top = new RetryPolicy({ attempts: 10, backoff: { initial: 100, max: 1000, factor: 3 } }, () => 0.999999);
    expect([1, 2, 3, 4].map((a) => Math.round(top.backoff(a)))).toEqual([100, 300, 900, 1000]);
    const bottom = new RetryPolicy({ attempts: 10 }, () => 0);
    expect(bottom.backoff(5)).toBe(0);
    const defaults = new RetryPolicy({ attempts: 10 }, () => 0.999999);
    expect([1, 2, 8].map((a) => Math.round(defaults.backoff(a)))).toEqual([100, 200, 10_000]);
  });
});
