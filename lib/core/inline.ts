import { Batch } from './batch';
import { DEFAULT_BATCH_KEY } from './key-runs';
import { finish, prepare } from './caller';
import { Dispatch } from './dispatch';
import { BatchExecutionError, InvalidInputError } from './errors';
import * as messages from './messages';
import { checkOutputs, valueError } from './outputs';
import { keyRuns, type KeyRun } from './key-runs';
import type { ServingSpec } from './serving-spec';

/** Stands for the one caller of an inline run, so that the batch has its `callers`. */
class InlineCaller extends Dispatch<unknown, unknown> {
  complete(): void {}
  fail(): void {}
}

/** Consecutive stretches of values with one batch key, each cut to at most `batchSize`. */
function stretches(spec: ServingSpec<unknown, unknown, unknown, unknown>, name: string, values: unknown[], batchSize: number) {
  let runs: KeyRun[];
  try {
    runs = spec.batchKey ? keyRuns(values, (value) => spec.batchKey!(value)) : [{ key: DEFAULT_BATCH_KEY, start: 0, end: values.length }];
  } catch (cause) {
    throw new InvalidInputError(messages.invalidInput(name, cause), { cause });
  }
  const result: Array<{ key: string; start: number; count: number }> = [];
  for (const { key, start, end } of runs) {
    for (let i = start; i < end; i += batchSize) result.push({ key, start: i, count: Math.min(batchSize, end - i) });
  }
  return result;
}

/**
 * Runs a serving at once in the caller: no queue, no coalescing. validate, mapInputs and
 * mapResults apply; more values than `batchSize` run as consecutive batches.
 */
export async function runInline(
  spec: ServingSpec<unknown, unknown, unknown, unknown>,
  name: string,
  inputs: unknown[],
  batchSize = Infinity,
  context?: unknown,
): Promise<unknown[]> {
  const values = prepare(spec, name, inputs);
  const caller = new InlineCaller(values, context);
  // The one caller of an inline run is there until the run ends.
  const host = { name, hooks: new Set(spec.hooks), watch: (batch: Batch) => batch.track(1, false) };
  const outputs = new Array<unknown>(values.length);
  for (const { key, start, count } of stretches(spec, name, values, batchSize)) {
    const batch = new Batch(host, key);
    batch.add(caller, start, count);
    batch.trim();
    let out: unknown;
    try {
      out = await spec.handle(batch.values, batch);
    } catch (cause) {
      throw new BatchExecutionError(messages.batchFailed(name, count, cause), { cause });
    }
    const lengthError = checkOutputs(name, out, count);
    if (lengthError) throw lengthError;
    for (let j = 0; j < count; j++) {
      const output = (out as unknown[])[j];
      if (output instanceof Error) throw valueError(name, output, start + j);
      outputs[start + j] = output;
    }
    batch.finished = true;
  }
  return finish(spec, name, outputs, inputs);
}
