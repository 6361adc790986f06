import { keepShape } from './shapes';

/*
 * A clock read once per event-loop turn. Reading the real clock costs about 40 ns, as much as the
 * rest of a dispatch, and nothing the batcher schedules can fire inside one turn anyway: timers
 * only run between turns. So every dispatch of one turn shares one reading, which is thrown away
 * when the turn ends (setImmediate) or when user code has run for a while (invalidateClock).
 */
/** A reading of the clock shared by everything that happened in one turn. */
export interface TurnStamp {
  readonly ms: number;
  /**
   * A value handed from one call to the next inside the turn: the dispatch path leaves a promise's
   * resolve here, from its executor. This object is made new every turn, so it is young: storing
   * into it skips the write barrier that a module variable (old) takes (~50 instructions per value,
   * bench/instructions.js).
   */
  handoff: unknown;
}

/**
 * The reading of this turn, undefined once it expired. Sharing one object also saves each dispatch
 * the heap box a number field would cost. A `var`: V8 checks a module-level `let` for its
 * temporal dead zone at every read, twice on each dispatch (6 instructions per value,
 * bench/instructions.js).
 */
var reading: TurnStamp | undefined;

// One of Node's Immediate objects, cleared at once, kept for the map that every `setImmediate`
// makes (the clock's and the batcher's end of turn compile against it, shapes.ts). Not the last
// real one: that holds the next in its queue, and a request's AsyncLocalStorage store.
clearImmediate(keepShape(setImmediate(expire)));

function expire(): void {
  reading = undefined;
}

/** Milliseconds (performance.now scale), at most one event-loop turn old. */
export function turnStamp(): TurnStamp {
  // This small, V8 inlines it wherever it is called; the reading is taken apart. The reading is
  // tested against undefined, not a `fresh` flag: V8 knows no type for a module variable, so a
  // test of a boolean one compiled to a full ToBoolean (about 13 instructions), and `??` to two
  // compares (undefined, null) where this is one (6 instructions per value, bench/instructions.js).
  return reading !== undefined ? reading : read();
}

/** @internal Takes a new reading. Exported for test/core/fixtures/full-gc-burst.ts: it makes the Immediates (setImmediate inlined). */
export function read(): TurnStamp {
  const stamp: TurnStamp = { ms: globalThis.performance.now(), handoff: undefined };
  reading = stamp;
  setImmediate(expire);
  return stamp;
}

/** Leaves `value` in this turn's reading (`handoff`), for `takeHandoff` to take at once. */
export function handOff(value: unknown): void {
  // turnStamp(), written out: one function less on the dispatch path (V8's inlining budget).
  (reading !== undefined ? reading : read()).handoff = value;
}

/**
 * What `handOff` just left, taken so that nothing keeps it. Called right after `handOff`, so the
 * reading is there: not asking `turnStamp` again spares the dispatch path a branch.
 */
export function takeHandoff(): unknown {
  const stamp = reading!;
  const value = stamp.handoff;
  stamp.handoff = undefined;
  return value;
}

/** Before any dispatch has been stamped. */
export const NO_STAMP: TurnStamp = { ms: 0, handoff: undefined };

/** Forgets the reading: call after running user code that may have taken long. */
export function invalidateClock(): void {
  reading = undefined;
}

export const preciseClock = (): number => globalThis.performance.now();

/** setTimeout fires at once for delays above 2^31-1 ms; longer waits are cut to that and re-armed. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
