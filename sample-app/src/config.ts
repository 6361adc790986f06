import { resolve } from 'node:path';

/** Everything the app reads from its environment, read once at start-up. */
export interface AppConfig {
  /** HTTP port (`PORT`); 0 picks a free one. Default 3000. */
  port: number;
  /** Folder of the SQLite file (`DATA_DIR`). Default `sample-app/data`. */
  dataDir: string;
  /** Whether POST /events batches its writes (`EVENTS_BATCHING=off` to not); `?batching=` overrides it per request. Default on. */
  eventsBatching: boolean;
  /** Longest time a shutdown drains in-flight work (`SHUTDOWN_TIMEOUT_MS`). Default 10000. */
  shutdownTimeoutMs: number;
  /**
   * A NATS server (`NATS_URL`, e.g. `nats://127.0.0.1:4222`): every process started with the same
   * one shares its servings with the others. Default none: everything in this process.
   */
  natsUrl?: string;
}

/** Injection token of the AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');

// src/ and dist/ sit side by side, so this is sample-app/data for the sources and the build alike.
const DEFAULT_DATA_DIR = resolve(__dirname, '..', 'data');

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return {
    port: integer('PORT', env.PORT, 3000),
    dataDir: env.DATA_DIR ? resolve(env.DATA_DIR) : DEFAULT_DATA_DIR,
    eventsBatching: switchValue('EVENTS_BATCHING', env.EVENTS_BATCHING, true),
    shutdownTimeoutMs: integer('SHUTDOWN_TIMEOUT_MS', env.SHUTDOWN_TIMEOUT_MS, 10_000),
    natsUrl: env.NATS_URL || undefined,
  };
}

/** `on`/`true`/`1` or `off`/`false`/`0`; undefined gives the default. Throws on anything else. */
export function switchValue(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  const normalized = value.trim().toLowerCase();
  if (['on', 'true', '1', 'yes'].includes(normalized)) return true;
  if (['off', 'false', '0', 'no'].includes(normalized)) return false;
  throw new Error(`${name} must be on or off, got '${value}'`);
}

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`${name} must be a whole number, got '${value}'`);
  return parsed;
}
