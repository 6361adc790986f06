import { NatsServer, freePort } from './nats-server';

/** A cluster of nats-servers of the test's own, each routed to every other, on free loopback ports. */
export class NatsCluster {
  private constructor(readonly servers: NatsServer[]) {}

  static async start(size: number): Promise<NatsCluster> {
    const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
    const servers = await Promise.all(
      routePorts.map((port, i) => {
        const routes = routePorts.filter((_, j) => j !== i).map((p) => `"nats-route://127.0.0.1:${p}"`);
        return NatsServer.start({ config: `cluster {\n  name: "batch-serving-test"\n  listen: "127.0.0.1:${port}"\n  routes: [${routes.join(', ')}]\n}\n` });
      }),
    );
    return new NatsCluster(servers);
  }

  /** The servers' URLs, starting with the `first`-th: with noRandomize, a client connects to that one first. */
  urls(first = 0): string[] {
    return this.servers.map((_, i) => this.servers[(first + i) % this.servers.length].url);
  }

  async dispose(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.dispose()));
  }
}
