import { Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/**
 * Lets keep-alive connections go once shutdown begins. Nest closes the HTTP server after the
 * servings have drained, and Node's server.close() then waits for every open connection: one that
 * answered its last request during the drain (an SSE stream that just ended, say) would stay idle
 * and hold the process for the client's keep-alive timeout, seconds. So from the start of
 * shutdown, responses not yet sent say `Connection: close`, and a connection whose response
 * finishes is ended: the process exits as soon as the last answer is out.
 */
@Injectable()
export class KeepAliveCloser implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private closing = false;
  private readonly inFlight = new Set<ServerResponse>();

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    server?.on('request', (request: IncomingMessage, response: ServerResponse) => {
      // The socket, not response.socket: Node detaches it from the response when the response finishes.
      const socket = request.socket;
      this.inFlight.add(response);
      if (this.closing) askToClose(response);
      response.once('finish', () => {
        if (this.closing && !socket.destroyed) socket.end();
      });
      response.once('close', () => this.inFlight.delete(response));
    });
  }

  beforeApplicationShutdown(): void {
    this.closing = true;
    for (const response of this.inFlight) askToClose(response);
  }
}

function askToClose(response: ServerResponse): void {
  if (!response.headersSent) response.setHeader('Connection', 'close');
}
