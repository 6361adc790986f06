
/*
 * A clock read once per event-loop turn. Reading the real clock costs about 40 ns, as much as the
 * rest of a dispatch, and nothing the batcher schedules can fire inside one turn anyway: timers
 * only run between turns. So every dispatch of one turn shares one reading, which is thrown away
 * when the turn ends (setImmediate) or when user code has run for a while (invalidateClock).
 */
/** A reading of the clock shared by everything that happened in one turn. */
export interface TurnStamp {
  readonly ms: number;
}

/** Sharing one object also saves each dispatch the heap box a number field would cost. */
let reading: TurnStamp = { ms: 0 };
let fresh = false;

function expire(): void {
  fresh = false;
}

/** Milliseconds (performance.now scale), at most one event-loop turn old. */
export function turnStamp(): TurnStamp {
  // This small, V8 inlines it wherever it is called; the reading is taken apart.
  return fresh ? reading : read();
}

function read(): TurnStamp {
  reading = { ms: globalThis.performance.now() };
  fresh = true;
  setImmediate(expire);
  return reading;
}

/** Before any dispatch has been stamped. */
export const NO_STAMP: TurnStamp = { ms: 0 };

/** Forgets the reading: call after running user code that may have taken long. */
export function invalidateClock(): void {
  fresh = false;
}

export const preciseClock = (): number => globalThis.performance.now();

/** setTimeout fires at once for delays above 2^31-1 ms; longer waits are cut to that and re-armed. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
