'use strict';
/*
 * The code of every partition thread of a worker serving: piscina runs this file, and this file
 * runs the user's worker module. Plain JavaScript on purpose: a worker thread loads files with
 * Node's own loader, which cannot read TypeScript, and this file must load both from dist/ and
 * from the sources under a test runner. It uses nothing of the library but what it is sent.
 */
const { BroadcastChannel, threadId, workerData } = require('node:worker_threads');
const { move, transferableSymbol, valueSymbol } = require('piscina');

const { filename, userData, hooks, toServing, toThreads } = workerData;
const declared = new Set(hooks);

/*
 * Two channels per serving, shared by its threads, instead of a MessageChannel per batch (whose
 * making and transfer cost about 250 µs a batch): hook events and the ready announcement go to
 * the serving, aborts come from it. Unref'd: they must not keep the thread alive.
 */
const serving = new BroadcastChannel(toServing);
serving.unref();
// It also hears the other threads' messages: drained, so that they do not pile up unread.
serving.onmessage = () => undefined;
const aborts = new BroadcastChannel(toThreads);
aborts.unref();
/** The batch this thread runs now, and the last batches aborted before they reached it (bounded). */
let current;
const abortedEarly = new Map();
aborts.onmessage = ({ data }) => {
  if (current && current.batch === data.batch) return current.controller.abort(new Error(data.reason));
  abortedEarly.set(data.batch, data.reason);
  if (abortedEarly.size > 64) abortedEarly.delete(abortedEarly.keys().next().value);
};

/**
 * The user's module, loaded and initialised once per thread, at thread start: so that a load
 * error reaches the serving's start (through the ready channel), not a later dispatch. A thread
 * that replaces a crashed one loads it again; its batches wait for that here.
 */
const ready = (async () => {
  // Loading is inside the async function, so that a module that throws at load time rejects
  // `ready` instead of killing the thread.
  let loaded = require(filename);
  if (loaded && typeof loaded.handleBatch !== 'function' && loaded.default) loaded = loaded.default;
  if (!loaded || typeof loaded.handleBatch !== 'function') {
    throw new TypeError(`it exports no handleBatch(values, ctx) function (exports: ${Object.keys(loaded ?? {}).join(', ') || 'none'})`);
  }
  if (typeof loaded.init === 'function') await loaded.init(userData);
  return loaded;
})();

// Tells the serving whether this thread can run batches.
ready.then(
  () => serving.postMessage({ threadId, ok: true }),
  (error) => serving.postMessage({ threadId, ok: false, error: toWire(error) }),
);

/**
 * One batch: the task piscina hands over, the outputs (transferred where they can be) back.
 * @param {any} task
 * @returns {Promise<unknown>}
 */
module.exports = async function runBatch(task) {
  const module_ = await ready;
  const { values, batch } = task;
  const controller = new AbortController();
  if (abortedEarly.has(batch)) controller.abort(new Error(abortedEarly.get(batch)));
  current = { batch, controller };
  let emitted = 0;
  const ctx = {
    partition: task.partition,
    batchKey: task.batchKey,
    size: task.size,
    cost: task.cost,
    attempt: task.attempt,
    callers: task.callers,
    signal: controller.signal,
    emit(hook, payload) {
      if (!declared.has(hook)) throw Object.assign(new Error(`hook '${hook}' is not declared`), { name: 'UnknownHookError', code: 'UNKNOWN_HOOK', hook });
      if (typeof payload === 'function') {
        // Called here, once per caller, as section 1 says: only the results cross.
        serving.postMessage({ batch, hook, perCaller: task.callers.map((caller) => payload(caller)) });
      } else {
        if (!Array.isArray(payload) || payload.length !== task.size) {
          const got = Array.isArray(payload) ? payload.length : 0;
          throw Object.assign(new Error(`hook '${hook}' payload has ${got} entries for ${task.size} values`), { name: 'BatchResultLengthError', code: 'RESULT_LENGTH_MISMATCH' });
        }
        serving.postMessage({ batch, hook, payload });
      }
      emitted++;
    },
  };
  try {
    const outputs = await module_.handleBatch(values, ctx);
    return moveOutputs(outputs, emitted);
  } catch (error) {
    throw toWire(error);
  } finally {
    current = undefined;
    abortedEarly.delete(batch);
  }
};

/**
 * The outputs with every ArrayBuffer behind them in the transfer list: a 512-float vector moves
 * instead of being copied. Error outputs travel as plain records, which keep their name.
 * `emitted` tells the serving how many hook events to wait for before it delivers the outputs,
 * since they travel on another channel.
 */
function moveOutputs(outputs, emitted) {
  const buffers = new Set();
  if (Array.isArray(outputs)) {
    for (let i = 0; i < outputs.length; i++) {
      const output = outputs[i];
      if (output instanceof Error) outputs[i] = toWire(output);
      else if (output instanceof ArrayBuffer) buffers.add(output);
      // Buffers are left out: small ones share Node's pool, which cannot be transferred.
      else if (ArrayBuffer.isView(output) && output.buffer instanceof ArrayBuffer && !Buffer.isBuffer(output)) buffers.add(output.buffer);
    }
  }
  return move({ [transferableSymbol]: [...buffers], [valueSymbol]: { outputs, emitted } });
}

/**
 * An error as a record that keeps its class name, message, stack and code: a structured clone
 * turns an Error of a class of its own into a plain `Error`.
 */
function toWire(error) {
  if (!(error instanceof Error)) return { workerError: true, name: 'Error', message: String(error) };
  const { name, message, stack, code, hook, retryAfterMs } = error;
  // retryAfterMs: a RetryableError's pause, which the retry policy on the serving's side reads.
  return { workerError: true, name, message, stack, code, hook, retryAfterMs: typeof retryAfterMs === 'number' ? retryAfterMs : undefined };
}
