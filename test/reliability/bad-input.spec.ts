/*
 * Bad configuration and bad input through the public API: each case fails with a typed error
 * (a BatchServingError with a stable code) whose message names the serving and says what to fix.
 * Configuration is refused at start-up; input and batch-function mistakes fail only the dispatches
 * concerned, and the serving goes on serving.
 *
 * The table this spec prints ([reliability] bad-input) is the one in RELIABILITY.md.
 */
import { Test } from '@nestjs/testing';
import {
  BatchExecutionError,
  BatchResultLengthError,
  BatchServing,
  BatchServingError,
  BatchServingModule,
  BatchServingRegistry,
  InvalidInputError,
  ServingConfigurationError,
  UnknownHookError,
  type BatchServingModuleOptions,
  type RunningServing,
  type ServingOptions,
} from 'nestjs-batch-serving';
import { report } from './support/scale';

const rows: Array<{ case: string; error: string; code: string; message: string }> = [];

function row(name: string, error: unknown): BatchServingError {
  expect(error).toBeInstanceOf(BatchServingError);
  const e = error as BatchServingError;
  rows.push({ case: name, error: e.constructor.name, code: e.code, message: e.message });
  return e;
}

afterAll(() => report('bad-input', { table: rows }));

function startError(options: Partial<ServingOptions>): unknown {
  try {
    BatchServing.start(BatchServing.new((v: number[]) => v), { name: 'cfg', ...options });
  } catch (error) {
    return error;
  }
  throw new Error('BatchServing.start accepted a configuration that cannot work');
}

describe('bad configuration is refused at start-up, naming the serving and the rule', () => {
  const cases: Array<[string, Partial<ServingOptions>, string, RegExp]> = [
    ['batchSize 0', { batchSize: 0 }, 'batchSize', /invalid batchSize: 0\. It must be a whole number of at least 1/],
    ['batchSize -4', { batchSize: -4 }, 'batchSize', /invalid batchSize: -4\. It must be a whole number of at least 1/],
    ['batchSize NaN', { batchSize: NaN }, 'batchSize', /invalid batchSize: .*\. It must be a whole number of at least 1/],
    ['batchSize 2.5', { batchSize: 2.5 }, 'batchSize', /invalid batchSize: 2\.5\. It must be a whole number of at least 1/],
    ['partitions 0', { partitions: 0 }, 'partitions', /invalid partitions: 0\. It must be a whole number of at least 1/],
    ['batchTimeout -1', { batchTimeout: -1 }, 'batchTimeout', /invalid batchTimeout: -1\. It must be a number of milliseconds from 0 to 2147483647/],
    ['maxQueueSize 0', { maxQueueSize: 0 }, 'maxQueueSize', /invalid maxQueueSize: 0/],
    ['timeout 0', { timeout: 0 }, 'timeout', /invalid timeout: 0\. It must be a positive number of milliseconds, or left out/],
  ];
  it.each(cases)('%s', (name, options, option, message) => {
    const error = row(`BatchServing.start({ ${name.replace(' ', ': ')} })`, startError(options));
    expect(error).toBeInstanceOf(ServingConfigurationError);
    expect(error.code).toBe('INVALID_CONFIGURATION');
    expect(error.message).toContain("Serving 'cfg'");
    expect(error.message).toContain(option);
    expect(error.message).toMatch(message);
  });

  /** Compiles and inits a Nest module that must fail at init, and gives the error. */
  async function initError(options: BatchServingModuleOptions): Promise<unknown> {
    const app = await Test.createTestingModule({ imports: [BatchServingModule.forRoot(options)] }).compile();
    const error = await app.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    await app.close().catch(() => undefined);
    return error;
  }

  it('batchSize NaN in BatchServingModule.forRoot: refused at init', async () => {
    const error = row('forRoot servings: [{ batchSize: NaN }]', await initError({ servings: [{ name: 'nest-nan', serving: (v: number[]) => v, batchSize: NaN }] }));
    expect(error).toBeInstanceOf(ServingConfigurationError);
    expect(error.message).toContain("Serving 'nest-nan' has an invalid batchSize");
  });

  it('a duplicate serving name in BatchServingModule.forRoot: refused at init, naming both', async () => {
    const error = row(
      'two forRoot servings named "twin"',
      await initError({ servings: [{ name: 'twin', serving: (v: number[]) => v }, { name: 'twin', serving: (v: number[]) => v }] }),
    );
    expect(error).toBeInstanceOf(ServingConfigurationError);
    expect(error.message).toMatch(/Two servings are named 'twin': forRoot servings\[0\] and forRoot servings\[1\]/);
    expect(error.message).toMatch(/Serving names must be unique: rename one/);
  });

  it('a duplicate serving name through BatchServingRegistry.register: refused, the first one keeps serving', async () => {
    const app = await Test.createTestingModule({ imports: [BatchServingModule.forRoot({ servings: [{ name: 'tenant', serving: (v: number[]) => v.map((x) => x + 1) }] })] }).compile();
    await app.init();
    try {
      const registry = app.get(BatchServingRegistry);
      const error = row('registry.register of a taken name', await Promise.resolve(registry.register('tenant', BatchServing.new((v: number[]) => v), {})).catch((e: unknown) => e));
      expect(error).toBeInstanceOf(ServingConfigurationError);
      expect(error.message).toContain("Two servings are named 'tenant'");
      await expect(registry.get('tenant')!.dispatch(1)).resolves.toBe(2);
    } finally {
      await app.close();
    }
  });

  it('a serving that is not a function nor a handler: refused at init', async () => {
    const error = row('forRoot serving: 42', await initError({ servings: [{ name: 'nothing', serving: 42 as never }] }));
    expect(error).toBeInstanceOf(ServingConfigurationError);
    expect(error.message).toMatch(/forRoot servings\[0\] cannot serve 'nothing': it has no handleBatch\(values, ctx\) method \(got 42\)/);
  });
});

describe('bad input and broken batch functions fail only the dispatches concerned, with typed errors', () => {
  const servings: RunningServing[] = [];
  afterAll(async () => {
    await Promise.all(servings.map((s) => s.close('reject', 1000)));
  });
  function start<In, Out>(serving: BatchServing<In, Out, any, any>, name: string): RunningServing<In, Out> {
    const running = BatchServing.start(serving, { name, batchSize: 4, batchTimeout: 0 }) as RunningServing<In, Out>;
    servings.push(running);
    return running;
  }
  const rejection = (promise: Promise<unknown>) =>
    promise.then(
      (value) => {
        throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
      },
      (error: unknown) => error,
    );

  /** A batch function that returns `bad` for the batch holding 'bad', and squares otherwise. */
  function broken(name: string, bad: () => unknown): RunningServing<number | string, number> {
    return start(
      BatchServing.new((values: Array<number | string>) => {
        if (values.includes('bad')) return bad() as number[];
        return values.map((v) => Number(v) * Number(v));
      }),
      name,
    );
  }

  const outputCases: Array<[string, () => unknown, new (...args: never[]) => BatchServingError, RegExp]> = [
    ['returns a number (not an array)', () => 42, BatchResultLengthError, /returned number instead of an array of 1 output\(s\)/],
    ['returns undefined', () => undefined, BatchResultLengthError, /returned undefined instead of an array of 1 output\(s\)/],
    ['returns a Promise of a string', () => Promise.resolve('oops'), BatchResultLengthError, /returned string instead of an array/],
    ['returns the wrong length', () => [1, 2, 3], BatchResultLengthError, /returned 3 output\(s\) for 1 value\(s\); the batch function must return exactly one output per value/],
    [
      'throws a string',
      () => {
        throw 'model not loaded';
      },
      BatchExecutionError,
      /failed a batch of 1 value\(s\): "model not loaded"/,
    ],
    [
      'throws undefined',
      () => {
        throw undefined;
      },
      BatchExecutionError,
      /failed a batch of 1 value\(s\): undefined/,
    ],
    ['rejects with null', () => Promise.reject(null), BatchExecutionError, /failed a batch of 1 value\(s\): null/],
  ];
  it.each(outputCases)('batch function %s', async (name, bad, ErrorClass, message) => {
    const serving = broken(`fn-${name.replace(/\W+/g, '-')}`, bad);
    const error = row(`batch function ${name}`, await rejection(serving.dispatch('bad')));
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error.message).toContain(`Serving '${serving.name}'`);
    expect(error.message).toMatch(message);
    // The serving goes on.
    await expect(serving.dispatch(3)).resolves.toBe(9);
  });

  it('ctx.emit of an undeclared hook: the batch fails with UnknownHookError naming the hook and the fix', async () => {
    const serving = start(
      BatchServing.new((values: number[], ctx) => {
        if (values.includes(-1)) ctx.emit('progres', values.map(() => 'typo'));
        return values;
      }).streaming({ hooks: ['progress'] }),
      'hooks',
    );
    const error = row("ctx.emit('progres') with hooks ['progress']", await rejection(serving.dispatch(-1)));
    // The batch function did not catch what emit threw: it reaches the caller as the batch's failure.
    const unknown = error instanceof UnknownHookError ? error : (error.cause as unknown);
    expect(unknown).toBeInstanceOf(UnknownHookError);
    expect((unknown as Error).message).toMatch(/Serving 'hooks' emitted hook 'progres', which it did not declare\. Declared hooks: 'progress'\. Add it with \.streaming/);
    await expect(serving.dispatch(5)).resolves.toBe(5);
  });

  it('mapResults of the wrong length: RESULT_LENGTH_MISMATCH, for that caller only', async () => {
    const serving = start(
      BatchServing.new((values: number[]) => values).mapResults((outputs: number[]) => (outputs.includes(0) ? [...outputs, 99] : outputs)),
      'map-results',
    );
    const [bad, good] = await Promise.allSettled([serving.dispatchMany([0, 1]), serving.dispatchMany([2, 3])]);
    const error = row('mapResults returns one result too many', (bad as PromiseRejectedResult).reason);
    expect(error).toBeInstanceOf(BatchResultLengthError);
    expect(error.message).toBe("mapResults of serving 'map-results' returned 3 result(s) for 2 input(s); it must return exactly one result per input.");
    expect(good).toEqual({ status: 'fulfilled', value: [2, 3] });
  });

  it('mapResults returning a non-array', async () => {
    const serving = start(BatchServing.new((values: number[]) => values).mapResults(() => 'nope' as unknown as number[]), 'map-results-2');
    const error = row('mapResults returns a string', await rejection(serving.dispatch(1)));
    expect(error).toBeInstanceOf(BatchResultLengthError);
    expect(error.message).toContain("mapResults of serving 'map-results-2' returned string result(s) for 1 input(s)");
  });

  it('mapInputs that throws: INVALID_INPUT at dispatch, nothing queued', async () => {
    let executions = 0;
    const serving = start(
      BatchServing.new((values: number[]) => {
        executions++;
        return values;
      }).mapInputs((inputs: string[]) =>
        inputs.map((s) => {
          if (s === '') throw new Error('empty text');
          return s.length;
        }),
      ),
      'map-inputs',
    );
    const error = row('mapInputs throws', await rejection(serving.dispatch('')));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe("mapInputs of serving 'map-inputs' threw: empty text");
    expect(error.cause).toBeInstanceOf(Error);
    expect(serving.stats().queued).toBe(0);
    expect(executions).toBe(0);
    await expect(serving.dispatch('abc')).resolves.toBe(3);
  });

  it('mapInputs that returns a non-array', async () => {
    const serving = start(BatchServing.new((values: number[]) => values).mapInputs(() => 7 as unknown as number[]), 'map-inputs-2');
    const error = row('mapInputs returns a number', await rejection(serving.dispatch('x')));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toContain("mapInputs of serving 'map-inputs-2' did not return an array");
  });

  it('validate that throws a string: INVALID_INPUT with the thrown value as cause', async () => {
    const serving = start(
      BatchServing.new((values: number[]) => values).validate((v: number) => {
        if (v < 0) throw 'negative';
      }),
      'validated',
    );
    const error = row('validate throws a string', await rejection(serving.dispatch(-1)));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe('Serving \'validated\' refused an input: "negative"');
    expect(error.cause).toBe('negative');
  });

  it('batchKey that throws: INVALID_INPUT, nothing queued', async () => {
    const serving = start(
      BatchServing.new((values: number[]) => values).batchKey((v: number) => {
        if (v === 13) throw new Error('unlucky');
        return String(v % 2);
      }),
      'keyed',
    );
    const error = row('batchKey throws', await rejection(serving.dispatch(13)));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toContain("Serving 'keyed' refused an input: unlucky");
    await expect(serving.dispatch(4)).resolves.toBe(4);
  });
});
