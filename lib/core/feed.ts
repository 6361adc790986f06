import { DispatchAbortedError, DispatchTimeoutError, type BatchServingError } from './errors';
import * as messages from './messages';
import type { ManyInputs } from './types';
import { MAX_TIMER_MS } from './clock';


/**
 * The life of one dispatch over an iterable, as an AbortSignal whose reason is the typed error to
 * fail with: its deadline passed, its caller's signal aborted, or `stop` (shutdown). Waiting on the
 * source and the chunk in flight both end with it, so that no source can make a dispatch hang.
 */
export class SourceGuard {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly unlink: () => void = () => undefined;

  constructor(name: string, timeout: number | undefined, signal: AbortSignal | undefined) {
    if (timeout !== undefined && timeout <= MAX_TIMER_MS) {
      this.timer = setTimeout(() => this.stop(new DispatchTimeoutError(messages.dispatchTimeout(name, timeout))), timeout);
    }
    if (signal) {
      const onAbort = () => this.stop(new DispatchAbortedError(messages.dispatchAborted(name, signal.reason), { cause: signal.reason }));
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.unlink = () => signal.removeEventListener('abort', onAbort);
      }
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  stop(reason: BatchServingError): void {
    this.controller.abort(reason);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.unlink();
  }
}

/**
 * The one loop that feeds a dispatch from its inputs, local or remote: pulls a chunk of at most
 * `size`, hands it to `send` with its offset, waits for it, then pulls the next. `send` resolves
 * with how many values the chunk became (mapInputs may change the count): the next chunk's offset,
 * so at most one chunk is in flight. `signal` ends a wait on the source (the dispatch's deadline,
 * its caller's signal, shutdown): pass one that covers shutdown, or a source that stops yielding
 * keeps the dispatch pending past it. Rejects with the first failure, of the source or of `send`.
 */
export async function feed<T>(inputs: ManyInputs<T>, size: number, signal: AbortSignal, send: (chunk: T[], offset: number) => Promise<number>): Promise<void> {
  let offset = 0;
  for await (const chunk of chunksOf(inputs, size, signal)) offset += await send(chunk, offset);
}

/** Rejects with the signal's reason when it aborts; never settles otherwise. */
function abortion(signal: AbortSignal): Promise<never> {
  const promise = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  promise.catch(() => undefined); // raced, never awaited alone
  return promise;
}

const NOT_READY = Symbol('not ready');
const endOfTurn = () => new Promise<typeof NOT_READY>((resolve) => setImmediate(resolve, NOT_READY));

/**
 * Cuts iterable inputs into chunks of at most `size`, pulling lazily: the next chunk is pulled only when
 * the consumer asks for it. An async source that has nothing ready by the end of the turn gets
 * what it gave so far sent on, so a slow source is not held back until a chunk fills up.
 */
export async function* chunksOf<T>(inputs: ManyInputs<T>, size: number, signal?: AbortSignal): AsyncGenerator<T[]> {
  if (Array.isArray(inputs)) {
    // Already in memory: nothing to pull lazily, and one dispatch lets its parts run on all partitions.
    if (inputs.length) yield inputs;
    return;
  }
  if (Symbol.iterator in (inputs as object)) {
    let chunk: T[] = [];
    for (const input of inputs as Iterable<T>) {
      chunk.push(input);
      if (chunk.length === size) {
        if (signal?.aborted) throw signal.reason;
        yield chunk;
        chunk = [];
      }
    }
    if (chunk.length) yield chunk;
    return;
  }
  const iterator = (inputs as AsyncIterable<T>)[Symbol.asyncIterator]();
  const aborted = signal ? abortion(signal) : undefined;
  let pending: Promise<IteratorResult<T>> | undefined;
  let finished = false;
  try {
    while (!finished) {
      const chunk: T[] = [];
      while (chunk.length < size) {
        pending ??= iterator.next();
        const waits: Array<Promise<IteratorResult<T> | typeof NOT_READY>> = [pending];
        if (chunk.length > 0) waits.push(endOfTurn());
        if (aborted) waits.push(aborted);
        const result = waits.length === 1 ? await pending : await Promise.race(waits);
        if (result === NOT_READY) break;
        pending = undefined;
        if (result.done) {
          finished = true;
          break;
        }
        chunk.push(result.value);
      }
      if (chunk.length) yield chunk;
    }
  } finally {
    if (!finished) {
      // An async generator queues return() behind a next() still running: awaiting it would hang
      // on a source that never yields again. Ask it to stop, and do not wait.
      const stopping = iterator.return?.();
      if (pending) void Promise.resolve(stopping).catch(() => undefined);
      else await stopping;
    }
  }
}
