/*
 * The budgets that keep a process within bounded memory and time whatever others send it. They
 * are constants, the same in every process, so that what one process sends another accepts:
 * senders split what they send to fit (encodeFitting), receivers refuse what does not.
 */

/**
 * Values (every number, string, array, object, … counted once) in one message. Decoding costs
 * memory by values far more than by bytes (an empty array is 1 byte on the wire and ~30 in the
 * heap), so a message is counted before it is decoded, without allocating. A message of fewer
 * bytes than this cannot hold more values, and is not counted at all.
 */
export const MAX_VALUES = 1_000_000;

/** Dispatches in one request message: admitting them is synchronous work, so it is kept short. */
export const MAX_ENTRIES = 10_000;

/** Servings one heartbeat may announce, and characters of a serving name. */
export const MAX_SERVINGS_PER_PROCESS = 1_000;
export const MAX_NAME_LENGTH = 1_000;

/** Serving names remembered (hosted now, or once) and processes known at once. */
export const MAX_NAMES = 10_000;
export const MAX_PEERS = 10_000;
