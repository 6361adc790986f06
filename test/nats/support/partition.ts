import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP relay between one process and its nats-server that can cut the network: while cut, bytes
 * in both directions are held back (as TCP holds them across a real partition), and nothing is
 * closed, so neither side notices until its own timers say so. heal() lets everything through, in
 * order.
 */
export class Partition {
  private readonly pairs: Array<[Socket, Socket]> = [];
  /** Bytes held back while cut, in order, with the socket each is for. */
  private held: Array<[Socket, Buffer]> = [];
  private cut = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async between(upstreamPort: number): Promise<Partition> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const partition = new Partition(server, typeof address === 'object' && address ? address.port : 0);
    server.on('connection', (client) => partition.relay(client, upstreamPort));
    return partition;
  }

  /** From now on nothing passes, in either direction. */
  sever(): void {
    this.cut = true;
  }

  /** What was held back passes now, and everything after it. */
  heal(): void {
    this.cut = false;
    const held = this.held;
    this.held = [];
    for (const [to, data] of held) if (!to.destroyed) to.write(data);
  }

  /** The connections break, and what was held back is lost with them (as when a server dies); new ones pass. */
  reset(): void {
    this.held = [];
    this.cut = false;
    for (const [a, b] of this.pairs.splice(0)) a.destroy(), b.destroy();
  }

  async close(): Promise<void> {
    for (const [a, b] of this.pairs) a.destroy(), b.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket, upstreamPort: number): void {
    const upstream = connect(upstreamPort, '127.0.0.1');
    const forward = (to: Socket) => (data: Buffer) => {
      if (this.cut) this.held.push([to, data]);
      else to.write(data);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    const end = () => (client.destroy(), upstream.destroy());
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    this.pairs.push([client, upstream]);
  }
}
