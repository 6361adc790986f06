import { Dispatch } from './dispatch';
import type { BatchServingError } from './errors';
import { keepShape, noop } from './shapes';
import type { ServingEvent } from './types';

interface Held {
  hooks: Array<{ hook: string; payload: unknown }>;
  outputs?: unknown[];
}

/**
 * A dispatch of `stream()`. Parts may finish in any order across partitions, but the caller sees
 * them in offset order: events of the part at `expected` pass straight through, the others are
 * held until every part before them has finished.
 */
export class StreamDispatch extends Dispatch<unknown, unknown> {
  /** Offset (in this dispatch's values) of the part whose events pass through now. */
  private expected = 0;
  private readonly held = new Map<number, Held>();

  constructor(
    values: unknown[],
    context: unknown,
    /** Offset of this dispatch's first value in the whole stream. */
    private readonly base: number,
    private readonly send: (event: ServingEvent<unknown>) => void,
    private readonly resolve: () => void,
    private readonly reject: (error: BatchServingError) => void,
  ) {
    super(values, context);
  }

  override get streams(): boolean {
    return true;
  }

  override hook(offset: number, hook: string, payload: unknown): void {
    if (offset === this.expected) this.send({ type: 'hook', hook, payload });
    else this.holding(offset).hooks.push({ hook, payload });
  }

  override part(offset: number, outputs: unknown[]): void {
    if (offset !== this.expected) {
      this.holding(offset).outputs = outputs;
      return;
    }
    this.held.delete(offset);
    this.send({ type: 'batch', offset: this.base + offset, outputs });
    this.expected += outputs.length;
    // Release parts that finished early, in order, as long as they follow on.
    for (let next = this.held.get(this.expected); next; next = this.held.get(this.expected)) {
      for (const { hook, payload } of next.hooks) this.send({ type: 'hook', hook, payload });
      if (!next.outputs) break;
      this.held.delete(this.expected);
      this.send({ type: 'batch', offset: this.base + this.expected, outputs: next.outputs });
      this.expected += next.outputs.length;
    }
    const current = this.held.get(this.expected);
    if (current) current.hooks.length = 0;
  }

  complete(): void {
    this.resolve();
  }

  fail(error: BatchServingError): void {
    this.reject(error);
  }

  private holding(offset: number): Held {
    let held = this.held.get(offset);
    if (!held) this.held.set(offset, (held = { hooks: [] }));
    return held;
  }
}

// Kept so that full collections keep the compiled code of streams (shapes.ts).
keepShape(new StreamDispatch([], undefined, 0, noop, noop, noop));
