import { configFromEnv } from '../../sample-app/src/config';

describe('sample app: configuration from the environment', () => {
  it('has defaults, and reads PORT, DATA_DIR, EVENTS_BATCHING and SHUTDOWN_TIMEOUT_MS', () => {
    expect(configFromEnv({})).toMatchObject({ port: 3000, eventsBatching: true, shutdownTimeoutMs: 10_000 });
    expect(configFromEnv({}).dataDir).toMatch(/sample-app[/\\]data$/);
    expect(configFromEnv({ PORT: '0', DATA_DIR: '/tmp/x', EVENTS_BATCHING: 'off', SHUTDOWN_TIMEOUT_MS: '500' })).toEqual({ port: 0, dataDir: '/tmp/x', eventsBatching: false, shutdownTimeoutMs: 500 });
  });

  it('refuses values it cannot use', () => {
    expect(() => configFromEnv({ PORT: 'eighty' })).toThrow("PORT must be a whole number, got 'eighty'");
    expect(() => configFromEnv({ EVENTS_BATCHING: 'maybe' })).toThrow("EVENTS_BATCHING must be on or off, got 'maybe'");
  });
});
