import net from 'node:net';

/** Ports this process handed out already: the kernel may offer a closed one again at once. */
const given = new Set<number>();

function probe(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago and that this process
 * has not handed out before (a broker's three listeners once got the same
 * port twice from three calls in a row: "Address already in use").
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = await probe();
    if (!given.has(port)) {
      given.add(port);
      return port;
    }
  }
  throw new Error('no fresh free port on 127.0.0.1 after 100 tries');
}
