// Holds N idle TCP connections to 127.0.0.1:PORT open, opening a new one
// whenever the peer closes one; prints "ready" once all N are connected.
// Usage: node idle-sockets.js PORT N   (stopped by its PID)
'use strict';
const net = require('node:net');
const port = Number(process.argv[2]);
const n = Number(process.argv[3] ?? 2);
let connected = 0;
let announced = false;
function open() {
  const s = net.connect(port, '127.0.0.1');
  s.on('connect', () => {
    connected++;
    if (!announced && connected >= n) {
      announced = true;
      process.stdout.write('ready\n');
    }
  });
  s.on('error', () => undefined);
  s.on('close', () => setTimeout(open, 10));
}
for (let i = 0; i < n; i++) open();
