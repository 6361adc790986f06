/** The batch key of a serving without `.batchKey`, and of `ctx.batchKey` then. */
export const DEFAULT_BATCH_KEY = 'default';

/** A stretch `[start, end)` of consecutive values with one batch key. */
export interface KeyRun {
  readonly key: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Cuts values into stretches of one batch key, calling `keyOf` once per value; what it throws
 * passes through, for the caller to type. Values of one key stay contiguous, so each stretch is
 * one slice of its dispatch in a batch.
 */
export function keyRuns<I>(values: readonly I[], keyOf: (value: I) => string): KeyRun[] {
  const runs: KeyRun[] = [];
  let start = 0;
  let current = '';
  for (let i = 0; i < values.length; i++) {
    const key = String(keyOf(values[i]));
    if (i === 0) current = key;
    else if (key !== current) {
      runs.push({ key: current, start, end: i });
      start = i;
      current = key;
    }
  }
  if (values.length > 0) runs.push({ key: current, start, end: values.length });
  return runs;
}
