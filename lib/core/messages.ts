/* Every error text of the package: each names the serving, what went wrong, and the fix. */

export function describe(value: unknown): string {
  if (value instanceof Error) return value.message || value.name;
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value);
  // JSON would print NaN and Infinity as null, and throw on a BigInt.
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  try {
    return String(JSON.stringify(value) ?? value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

export const servingNotFound = (name: string, known: readonly string[]) =>
  `No serving named '${name}'. ` +
  (known.length ? `Known servings: ${known.map((n) => `'${n}'`).join(', ')}. ` : 'No serving is registered. ') +
  'Declare it with @Serving(), BatchServingModule.forRoot({ servings }) or BatchServingRegistry.register().';

export const servingNotLocal = (name: string) =>
  `Serving '${name}' is not hosted in this process and the dispatch asked for { local: true }. ` +
  'Provide the serving in this application, or drop { local: true } to reach another member.';

export const batchFailed = (name: string, size: number, cause: unknown) =>
  `Serving '${name}' failed a batch of ${size} value(s): ${describe(cause)}`;

export const valueFailed = (name: string, index: number, cause: unknown) =>
  `Serving '${name}' returned an error for value ${index} of this dispatch: ${describe(cause)}`;

export const resultLength = (name: string, got: number, expected: number) =>
  `Serving '${name}' returned ${got} output(s) for ${expected} value(s); ` +
  'the batch function must return exactly one output per value, in the same order.';

export const resultNotArray = (name: string, got: unknown, expected: number) =>
  `Serving '${name}' returned ${got === undefined ? 'undefined' : typeof got} instead of an array of ${expected} output(s); ` +
  'the batch function must return (or resolve to) an array with one output per value.';

export const mapResultsLength = (name: string, got: number | string, expected: number) =>
  `mapResults of serving '${name}' returned ${got} result(s) for ${expected} input(s); it must return exactly one result per input.`;

export const mapResultsFailed = (name: string, cause: unknown) =>
  `mapResults of serving '${name}' threw: ${describe(cause)}`;

export const hookPayloadLength = (name: string, hook: string, got: number, expected: number) =>
  `Serving '${name}' emitted ${got} '${hook}' entries for a batch of ${expected} value(s); ` +
  'pass one entry per value, or a function (caller) => payload.';

export const invalidInput = (name: string, cause: unknown) =>
  `Serving '${name}' refused an input: ${describe(cause)}`;

export const mapInputsFailed = (name: string, cause: unknown) =>
  `mapInputs of serving '${name}' threw: ${describe(cause)}`;

export const mapInputsNotArray = (name: string) =>
  `mapInputs of serving '${name}' did not return an array; it must turn the caller's inputs into an array of values.`;

export const inputsIterableFailed = (name: string, cause: unknown) =>
  `The inputs iterable of a dispatch to serving '${name}' threw: ${describe(cause)}`;

export const dispatchTimeout = (name: string, ms: number) =>
  `Dispatch to serving '${name}' timed out after ${ms} ms. Raise { timeout }, or add partitions or batchSize so that it is served sooner.`;

export const dispatchAborted = (name: string, reason: unknown) =>
  `Dispatch to serving '${name}' was aborted by its signal` + (reason === undefined ? '.' : `: ${describe(reason)}`);

export const overloaded = (name: string, queued: number, adding: number, max: number) =>
  `Serving '${name}' is overloaded: ${queued} value(s) queued and ${adding} more would exceed maxQueueSize ${max}. ` +
  'Retry later, or raise maxQueueSize, partitions or batchSize.';

export const shuttingDown = (name: string) =>
  `Serving '${name}' is shutting down and takes no more dispatches.`;

export const shutdownDeadline = (name: string, ms: number) =>
  `Serving '${name}' shut down before this dispatch finished (shutdown.timeout ${ms} ms passed). ` +
  'Raise shutdown.timeout to let running batches finish.';

export const unknownHook = (name: string, hook: string, declared: readonly string[]) =>
  `Serving '${name}' emitted hook '${hook}', which it did not declare. ` +
  (declared.length ? `Declared hooks: ${declared.map((h) => `'${h}'`).join(', ')}. ` : '') +
  `Add it with .streaming({ hooks: [..., '${hook}'] }) or @Serving({ hooks: [...] }).`;

export const invalidOption = (name: string, option: string, value: unknown, rule: string) =>
  `Serving '${name}' has an invalid ${option}: ${describe(value)}. It must be ${rule}.`;

export const dispatchOptionInvalid = (name: string, option: string, value: unknown, rule: string) =>
  `A dispatch to serving '${name}' has an invalid ${option}: ${describe(value)}. It must be ${rule}.`;

export const notAServing = (name: string, got: unknown) =>
  `Serving '${name}' is not a BatchServing, function, or object with handleBatch(values, ctx) (got ${describe(got)}).`;

export const costFailed = (name: string, index: number, cause: unknown) =>
  `.cost of serving '${name}' threw for value ${index} of this dispatch: ${describe(cause)}`;

export const costInvalid = (name: string, index: number, cost: unknown) =>
  `.cost of serving '${name}' gave value ${index} of this dispatch the cost ${describe(cost)}; it must return a finite number of at least 0.`;

export const costOverBudget = (name: string, index: number, cost: number, budget: string, max: number) =>
  `Value ${index} of this dispatch to serving '${name}' costs ${cost}, more than ${budget} ${max}, so no batch could hold it. ` +
  `Cut the value smaller (chunk the text, say), or raise ${budget}.`;

export const batchFailedAfter = (name: string, size: number, attempts: number, cause: unknown) =>
  `Serving '${name}' failed a batch of ${size} value(s) after ${attempts} attempts: ${describe(cause)}`;

export const valueTooLarge = (name: string, cause: unknown) =>
  `Serving '${name}' was refused a batch of a single value as too large: ${describe(cause)}. ` +
  'Cut the value smaller, or lower maxBatchCost (with a .cost that counts what the provider counts).';
