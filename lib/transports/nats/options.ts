import type { NodeConnectionOptions } from '@nats-io/transport-node';
import { ServingConfigurationError } from '../../core/errors';
import { msgpackCodec, type Codec } from './codec';
import { DEFAULT_REPLAY_BUDGET } from './answers';
import * as messages from './nats.messages';
import * as security from './security.messages';

/** Where the transport reports refused messages and connection events. */
export interface TransportLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * Options of `natsTransport()`: every NATS connection option (`servers`, `user`/`pass`, `token`,
 * `tls`, `name`, `reconnect`, `maxReconnectAttempts`, `reconnectTimeWait`, …) is passed through to
 * `connect()` of `@nats-io/transport-node`, plus these.
 */
export interface NatsTransportOptions extends NodeConnectionOptions {
  /** First token of every subject; processes with different prefixes never see each other. Default `'batch-serving'`. */
  subjectPrefix?: string;
  /** How often (ms) this process announces itself and the servings it hosts. Default 1000. */
  heartbeatInterval?: number;
  /**
   * A member not heard from for this long (ms) is taken for dead: dispatches it holds fail with
   * ServingUnavailableError and new ones go to the others. A dispatch in flight this long is
   * audited: its member answers it again, or says what became of it. A member starts work for
   * other processes only within 90 % of this after its last heartbeat the server confirmed (its
   * lease), so it never starts what a caller already gave up on. Default 3000.
   */
  memberTimeout?: number;
  /** Encodes every message. Default `msgpackCodec` (MessagePack that keeps Date, Map, Set, BigInt, typed arrays…); every process of a fleet must use the same. */
  codec?: Codec;
  /** Default: Nest's `Logger` with context `BatchServing`. */
  logger?: TransportLogger;
  /**
   * Signs every message with HMAC-SHA256 under this secret, and refuses every message not signed
   * with it (logged): forged replies, fake members and forged departures get nowhere. The same
   * key in every process of the fleet. Default: none (messages are not signed).
   */
  key?: string;
  /** A key ring, for rotation: signs with the first, accepts any. Instead of `key`. */
  keys?: string[];
  /**
   * How long (ms) start() keeps trying to reach a server before init fails with
   * ServingUnavailableError. Default 0: fail at once when no server answers.
   */
  waitForServer?: number;
  /**
   * Bytes (encoded) of answers a member keeps until their callers acknowledge them, so that an
   * answer lost in a failover is replayed rather than lost. Default 32 MiB.
   */
  replayBudget?: number;
}

export interface ResolvedNatsOptions {
  connection: NodeConnectionOptions;
  subjectPrefix: string;
  heartbeatInterval: number;
  memberTimeout: number;
  codec: Codec;
  logger: TransportLogger | undefined;
  /** Signing keys, the first signs; undefined when messages are not signed. */
  keys: string[] | undefined;
  waitForServer: number;
  replayBudget: number;
}

/** The defaults, in one place. `maxReconnectAttempts: -1`: a service keeps reconnecting rather than give up after 10 tries. */
export const DEFAULT_NATS_OPTIONS = Object.freeze({
  subjectPrefix: 'batch-serving',
  heartbeatInterval: 1000,
  memberTimeout: 3000,
  maxReconnectAttempts: -1,
});

const SUBJECT_TOKENS = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Splits our options from NATS's and refuses what cannot work, at natsTransport() time. */
export function resolveNatsOptions(options: NatsTransportOptions): ResolvedNatsOptions {
  const { subjectPrefix, heartbeatInterval, memberTimeout, codec, logger, key, keys, waitForServer, replayBudget, ...connection } = options;
  const resolved: ResolvedNatsOptions = {
    connection: { maxReconnectAttempts: DEFAULT_NATS_OPTIONS.maxReconnectAttempts, ...connection },
    subjectPrefix: subjectPrefix ?? DEFAULT_NATS_OPTIONS.subjectPrefix,
    heartbeatInterval: heartbeatInterval ?? DEFAULT_NATS_OPTIONS.heartbeatInterval,
    memberTimeout: memberTimeout ?? DEFAULT_NATS_OPTIONS.memberTimeout,
    codec: codec ?? msgpackCodec,
    logger,
    keys: resolveKeys(key, keys),
    waitForServer: waitForServer ?? 0,
    replayBudget: replayBudget ?? DEFAULT_REPLAY_BUDGET,
  };
  const check = (ok: boolean, option: string, value: unknown, rule: string) => {
    if (!ok) throw new ServingConfigurationError(messages.invalidOption(option, value, rule));
  };
  check(SUBJECT_TOKENS.test(resolved.subjectPrefix), 'subjectPrefix', resolved.subjectPrefix, 'dot-separated tokens of letters, digits, _ and -');
  check(resolved.heartbeatInterval > 0 && Number.isFinite(resolved.heartbeatInterval), 'heartbeatInterval', resolved.heartbeatInterval, 'a positive number of milliseconds');
  check(
    Number.isFinite(resolved.memberTimeout) && resolved.memberTimeout >= 2 * resolved.heartbeatInterval,
    'memberTimeout',
    resolved.memberTimeout,
    `at least twice heartbeatInterval (${resolved.heartbeatInterval} ms), so that one late heartbeat is not taken for a death`,
  );
  check(resolved.waitForServer >= 0 && Number.isFinite(resolved.waitForServer), 'waitForServer', resolved.waitForServer, 'a number of milliseconds, at least 0');
  check(resolved.replayBudget >= 0 && Number.isFinite(resolved.replayBudget), 'replayBudget', resolved.replayBudget, 'a number of bytes, at least 0');
  check(typeof resolved.codec?.encode === 'function' && typeof resolved.codec?.decode === 'function', 'codec', resolved.codec, 'an object with encode(message) and decode(bytes)');
  return resolved;
}

/** A key shorter than this is guessable offline from one captured message. */
export const MIN_KEY_LENGTH = 16;

function resolveKeys(key: unknown, keys: unknown): string[] | undefined {
  if (key === undefined && keys === undefined) return undefined;
  const fail = (option: string, value: unknown, rule: string) => {
    throw new ServingConfigurationError(messages.invalidOption(option, value, rule));
  };
  if (key !== undefined && keys !== undefined) fail('key', 'given with keys', 'given alone: pass either key or keys, not both');
  const ring = key !== undefined ? [key] : keys;
  if (!Array.isArray(ring) || ring.length === 0) return fail('keys', keys, 'a non-empty array of strings (the first signs, any is accepted)');
  for (const k of ring) {
    // The key itself is never printed: only what is wrong with it.
    const what = typeof k === 'string' ? `a string of ${k.length} characters` : `a ${typeof k}`;
    if (typeof k !== 'string' || k.length < MIN_KEY_LENGTH) fail(key !== undefined ? 'key' : 'keys', what, security.weakKey(MIN_KEY_LENGTH));
  }
  return ring as string[];
}
