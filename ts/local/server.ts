/** Listening and stopping for camwire's local test endpoints: 127.0.0.1 only, stopped with their connections. */
import type { IncomingMessage } from 'node:http';
import { Server } from 'node:net';

/**
 * Listens on 127.0.0.1 (port 0 = any free one) and returns the port. Only
 * the device test bench passes another host: the address a camera on the LAN
 * reaches it by, which its operator chose (`testbench init --host`).
 */
export async function listenLocal(server: Server, port = 0, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as { port: number }).port;
}

/** Closes the server and every open connection. */
export async function closeServer(server: (Server & { closeAllConnections(): void }) | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/** Reads a small request body; rejects with an Error whose `tooLarge` is true past `limit` bytes (the request is then destroyed). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.destroy();
        reject(Object.assign(new Error(`the request body is larger than ${limit} bytes`), { tooLarge: true }));
      } else {
        chunks.push(c);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
