import { BatchServing } from 'nestjs-batch-serving';

/**
 * The quick start of the package, as a value for `forRoot({ servings })`. Inputs come from the
 * network, so `validate` refuses a non-number before it enters a batch: only its own caller
 * fails (400, INVALID_INPUT) and the other callers of that batch never notice.
 */
export const squares = BatchServing.new((values: number[]) => values.map((v) => v * v)).validate((value: unknown) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`expected a finite number, got ${JSON.stringify(value)}`);
});

/** Name and options of the squares serving, those of the quick start: batches of up to 10, a 100 ms window. */
export const SQUARES = { name: 'squares', batchSize: 10, batchTimeout: 100 } as const;
