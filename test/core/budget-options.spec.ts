import {
  BatchServing,
  BatchServingError,
  BatchTooLargeError,
  RetryableError,
  ServingConfigurationError,
  errorFromCode,
  resolveServingOptions,
} from 'nestjs-batch-serving';
import { checkBudgetsFit } from '../../lib/core/options';

const refusal = (options: object): string => {
  try {
    resolveServingOptions('embed', options);
  } catch (error) {
    expect(error).toBeInstanceOf(ServingConfigurationError);
    return (error as Error).message;
  }
  throw new Error('accepted');
};

describe('options of budgets, rate limits and retries', () => {
  it('accepts a full configuration for a model API', () => {
    const options = resolveServingOptions('embed', {
      maxBatchCost: 300_000,
      rateLimit: { per: 60_000, batches: 3000, cost: 1_000_000 },
      retry: { attempts: 4, backoff: { initial: 50, max: 2000, factor: 3 }, classify: () => 'retry' },
    });
    expect(options.maxBatchCost).toBe(300_000);
    expect(options.rateLimit).toEqual({ per: 60_000, batches: 3000, cost: 1_000_000 });
    expect(options.retry?.attempts).toBe(4);
    expect(resolveServingOptions('plain').rateLimit).toBeUndefined();
  });

  it.each([
    [{ maxBatchCost: 0 }, "Serving 'embed' has an invalid maxBatchCost: 0. It must be a positive number, or left out."],
    [{ maxBatchCost: Number.NaN }, 'invalid maxBatchCost: NaN'],
    [{ rateLimit: 5 }, 'invalid rateLimit: 5. It must be an object { per, batches?, cost? }'],
    [{ rateLimit: { batches: 3 } }, 'invalid rateLimit.per: undefined. It must be a number of milliseconds'],
    [{ rateLimit: { per: 1000 } }, 'It must be given at least one of batches and cost.'],
    [{ rateLimit: { per: 1000, batches: 1.5 } }, 'invalid rateLimit.batches: 1.5. It must be a whole number of at least 1'],
    [{ rateLimit: { per: 1000, cost: -1 } }, 'invalid rateLimit.cost: -1'],
    [{ retry: { attempts: 0 } }, 'invalid retry.attempts: 0. It must be a whole number of at least 1 (1 means no retry).'],
    [{ retry: { attempts: 2, backoff: { initial: 100, max: 50 } } }, 'invalid retry.backoff.max: 50. It must be a number of milliseconds from backoff.initial (100)'],
    [{ retry: { attempts: 2, backoff: { initial: 1, max: 5, factor: 0.5 } } }, 'invalid retry.backoff.factor: 0.5'],
    [{ retry: { attempts: 2, classify: 'split' } }, 'invalid retry.classify: "split". It must be a function'],
  ])('refuses %j, naming the serving, the option, the value and the rule', (options, message) => {
    expect(refusal(options)).toContain(message);
  });

  it('refuses a maxBatchCost over rateLimit.cost: such a batch could never start', () => {
    expect(refusal({ maxBatchCost: 2000, rateLimit: { per: 60_000, cost: 1000 } })).toBe(
      "Serving 'embed' has an invalid maxBatchCost: 2000. It must be at most rateLimit.cost (1000): a batch over it could never start.",
    );
  });

  it('refuses a budget under 1 when values cost 1 each (no .cost)', () => {
    const options = resolveServingOptions('embed', { rateLimit: { per: 1000, cost: 0.5 } });
    expect(() => checkBudgetsFit('embed', options, false)).toThrow(/rateLimit.cost: 0.5. It must be at least 1 when the serving has no .cost/);
    expect(() => checkBudgetsFit('embed', options, true)).not.toThrow();
    expect(() => BatchServing.start(BatchServing.new((v: number[]) => v), { name: 'embed', maxBatchCost: 0.5 })).toThrow(ServingConfigurationError);
  });
});

describe('errors of model APIs', () => {
  it('RetryableError carries retryAfterMs and its cause, and keeps its class across the network', () => {
    const cause = new Error('429 Too Many Requests');
    const error = new RetryableError('rate limited', { retryAfterMs: 1500, cause });
    expect(error).toBeInstanceOf(BatchServingError);
    expect([error.code, error.name, error.retryAfterMs, error.cause]).toEqual(['RETRYABLE', 'RetryableError', 1500, cause]);
    expect(errorFromCode('RETRYABLE', 'rate limited')).toBeInstanceOf(RetryableError);
  });

  it('BatchTooLargeError has code BATCH_TOO_LARGE and keeps its class across the network', () => {
    const error = new BatchTooLargeError('413', { cause: 'too many tokens' });
    expect([error.code, error.name, error.cause]).toEqual(['BATCH_TOO_LARGE', 'BatchTooLargeError', 'too many tokens']);
    expect(errorFromCode('BATCH_TOO_LARGE', '413')).toBeInstanceOf(BatchTooLargeError);
  });
});

describe('.cost(fn)', () => {
  it('returns a new serving and leaves the one it was built from as it was', () => {
    const plain = BatchServing.new((texts: string[]) => texts.map((t) => t.length));
    const costed = plain.cost((text) => text.length);
    expect(costed).not.toBe(plain);
    expect(plain.spec.cost).toBeUndefined();
    expect(costed.spec.cost!('four')).toBe(4);
    expect(costed.mapResults((out) => out).spec.cost).toBe(costed.spec.cost);
  });

  it('is picked up from a handler object', () => {
    const serving = BatchServing.new({ handleBatch: (texts: string[]) => texts, cost: (text: string) => text.length * 2 });
    expect(serving.spec.cost!('abc')).toBe(6);
  });
});
