import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { ServingUnavailableError } from '../../core/errors';
import * as messages from './nats.messages';

/** Pause between attempts while `waitForServer` allows more. */
const RETRY_MS = 250;

/**
 * The first connection. A server that cannot be reached fails start() (and so the application's
 * init) with a ServingUnavailableError that names the servers and the options to fix, rather than
 * the client's bare ConnectionError; with `waitForServer` it is tried again until that many ms
 * have passed, for fleets where NATS may start after the application.
 */
export async function connectFirst(options: NodeConnectionOptions, waitForServer: number): Promise<NatsConnection> {
  const since = performance.now();
  for (;;) {
    try {
      return await connect(options);
    } catch (error) {
      const waited = performance.now() - since;
      if (waited + RETRY_MS > waitForServer) {
        // Named without credentials: the message ends up in logs.
        const servers = [options.servers ?? 'nats://127.0.0.1:4222']
          .flat()
          .map((url) => url.replace(/\/\/[^/@]*@/, '//'))
          .join(', ');
        throw new ServingUnavailableError(messages.serversUnreachable(servers, waitForServer, error), { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
}
