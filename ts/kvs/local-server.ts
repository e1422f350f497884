/** Listening and stopping for camwire's local test endpoints: 127.0.0.1 only, stopped with their connections. */
import { Server } from 'node:net';

/** Listens on 127.0.0.1 (port 0 = any free one) and returns the port. */
export async function listenLocal(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as { port: number }).port;
}

/** Closes the server and every open connection. */
export async function closeServer(server: (Server & { closeAllConnections(): void }) | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}
