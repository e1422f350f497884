#!/usr/bin/env node
'use strict';
/**
 * A TCP proxy for fault tests, run as its own process so a test can SIGKILL
 * it (every connection through it dies at once, as when a link drops) and
 * start it again on the same port:
 *   node tcp-proxy.js LISTEN_PORT TARGET_PORT [BYTES_PER_SECOND]
 * Listens on 127.0.0.1 only; with a rate, client-to-target bytes are paced to
 * it (so an upload takes long enough to be interrupted). Prints "listening" when ready.
 */
const net = require('node:net');

const [listenPort, targetPort, rateArg] = process.argv.slice(2).map(Number);
if (!listenPort || !targetPort) {
  process.stderr.write('usage: tcp-proxy.js LISTEN_PORT TARGET_PORT [BYTES_PER_SECOND]\n');
  process.exit(2);
}
const rate = rateArg || 0;
const started = Date.now();
let sent = 0; // shared by all connections: the rate is the link's

const server = net.createServer((client) => {
  const upstream = net.connect(targetPort, '127.0.0.1');
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
  upstream.pipe(client);
  client.on('data', (d) => {
    sent += d.length;
    if (!upstream.write(d)) {
      client.pause();
      upstream.once('drain', () => client.resume());
    }
    if (rate > 0) {
      const aheadMs = (sent / rate) * 1000 - (Date.now() - started);
      if (aheadMs > 0) {
        client.pause();
        setTimeout(() => {
          if (upstream.writableNeedDrain) upstream.once('drain', () => client.resume());
          else client.resume();
        }, aheadMs);
      }
    }
  });
  client.on('end', () => upstream.end());
});
server.listen(listenPort, '127.0.0.1', () => process.stdout.write('listening\n'));
