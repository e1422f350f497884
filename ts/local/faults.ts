/**
 * Fault injection for the local stand-ins, one kind for all of them:
 *
 * - FaultProxy: a TCP proxy on 127.0.0.1 in front of any service (MQTT over
 *   TLS, HTTPS, PTP/IP): TLS still ends at the service, so a device meets its
 *   real certificates. Modes, switched at any time: pass, refuse (new
 *   connections are reset), stall (bytes stop both ways, sockets stay open),
 *   delay (each chunk held for a while), cut (a connection is reset after so
 *   many bytes in either direction); and drop() resets every open connection
 *   now, as when a link goes.
 * - HttpFaults: error answers from an HTTP stand-in (the S3 store, the KVS
 *   endpoint, the credentials provider): the next n requests, or those that
 *   match, get a status and body of your choosing before the service sees them.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { listenLocal } from './server';

export type ProxyFault =
  | { kind: 'pass' }
  /** New connections are reset at once (a port with nobody home, after a TCP accept). */
  | { kind: 'refuse' }
  /** Bytes stop in both directions; connections stay open (a hung peer, a dead NAT entry). */
  | { kind: 'stall' }
  /** Every chunk is held this long before it is passed on (a slow link). */
  | { kind: 'delay'; ms: number }
  /** Each connection is reset once this many bytes went through it, both directions counted. */
  | { kind: 'cut'; afterBytes: number };

export interface FaultProxyEvents {
  /** A connection came in: its number (from 1) and what the fault did with it. */
  connection: [info: { n: number; fault: ProxyFault['kind']; from: string; upstream: number }];
  /** A connection ended: bytes each way, and whether a fault reset it. */
  closed: [info: { n: number; up: number; down: number; reset: boolean }];
}

/** One direction of a connection: the bytes read and not yet passed on, in order. */
interface Flow {
  from: net.Socket;
  to: net.Socket;
  dir: 'up' | 'down';
  queue: Buffer[];
  /** A delay timer is holding the head of the queue. */
  timer: NodeJS.Timeout | undefined;
  /** The head waited its delay already. */
  due: boolean;
  /** Waiting for `to` to drain. */
  draining: boolean;
  /** `from` ended: end `to` once the queue is empty. */
  ended: boolean;
}

interface Link {
  n: number;
  client: net.Socket;
  upstream: net.Socket;
  up: number;
  down: number;
  reset: boolean;
  flows: Flow[];
}

export class FaultProxy extends EventEmitter<FaultProxyEvents> {
  private server: net.Server | undefined;
  private readonly links = new Set<Link>();
  private count = 0;
  private current: ProxyFault = { kind: 'pass' };
  private redirect: number | undefined;
  port = 0;

  /**
   * target: the service's port on 127.0.0.1. listenHost: 127.0.0.1 unless
   * the device test bench serves a camera on the LAN.
   */
  constructor(
    private readonly target: { port: number; host?: '127.0.0.1' },
    private readonly listenPort = 0,
    private readonly listenHost = '127.0.0.1',
  ) {
    super();
  }

  /**
   * New connections go to another port on 127.0.0.1 (a stand-in that shows
   * other certificates, for a TLS case) until retarget() without a port;
   * open connections stay where they are.
   */
  retarget(port?: number): void {
    this.redirect = port;
  }

  get url(): string {
    return `${this.listenHost}:${this.port}`;
  }

  /** Connections accepted so far. */
  get connections(): number {
    return this.count;
  }

  get fault(): ProxyFault {
    return this.current;
  }

  /**
   * Switches the fault for new bytes and new connections. A stall also holds
   * the open ones; what a delay holds stays in order and goes on once its
   * time is up (or at once after pass).
   */
  set(fault: ProxyFault): void {
    if (fault.kind === 'delay' && !(fault.ms >= 0)) throw new RangeError(`FaultProxy: a delay of ${fault.ms} ms`);
    if (fault.kind === 'cut' && !(fault.afterBytes >= 0)) throw new RangeError(`FaultProxy: a cut after ${fault.afterBytes} bytes`);
    this.current = fault;
    for (const l of [...this.links]) {
      if (fault.kind === 'cut' && l.up + l.down >= fault.afterBytes) {
        this.reset(l);
        continue;
      }
      for (const f of l.flows) this.pump(l, f);
    }
  }

  /** Resets every open connection now. */
  drop(): number {
    const n = this.links.size;
    for (const l of [...this.links]) this.reset(l);
    return n;
  }

  async start(): Promise<void> {
    this.server = net.createServer((client) => this.accept(client));
    this.port = await listenLocal(this.server, this.listenPort, this.listenHost);
  }

  async stop(): Promise<void> {
    this.drop();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  private accept(client: net.Socket): void {
    const n = ++this.count;
    const fault = this.current;
    const port = this.redirect ?? this.target.port;
    this.emit('connection', { n, fault: fault.kind, from: `${client.remoteAddress ?? '?'}:${client.remotePort ?? 0}`, upstream: port });
    if (fault.kind === 'refuse') {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(port, this.target.host ?? '127.0.0.1');
    const flow = (from: net.Socket, to: net.Socket, dir: 'up' | 'down'): Flow => ({
      from,
      to,
      dir,
      queue: [],
      timer: undefined,
      due: false,
      draining: false,
      ended: false,
    });
    const link: Link = { n, client, upstream, up: 0, down: 0, reset: false, flows: [flow(client, upstream, 'up'), flow(upstream, client, 'down')] };
    this.links.add(link);
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      this.links.delete(link);
      for (const f of link.flows) if (f.timer) clearTimeout(f.timer);
      client.destroy();
      upstream.destroy();
      this.emit('closed', { n, up: link.up, down: link.down, reset: link.reset });
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
    for (const f of link.flows) {
      f.from.on('data', (chunk: Buffer) => {
        f.queue.push(chunk);
        // One chunk in hand at a time: the sender waits while it is held (backpressure, delay, stall).
        f.from.pause();
        this.pump(link, f);
      });
      f.from.on('end', () => {
        f.ended = true;
        this.pump(link, f);
      });
    }
  }

  /** Passes on what a flow holds, in order, as far as the current fault lets it. */
  private pump(link: Link, f: Flow): void {
    if (link.reset || f.to.destroyed) return;
    for (;;) {
      const fault = this.current;
      if (fault.kind === 'stall' || f.draining) return;
      const chunk = f.queue[0];
      if (!chunk) {
        if (f.ended) {
          if (!f.to.writableEnded) f.to.end();
        } else {
          f.from.resume();
        }
        return;
      }
      if (fault.kind !== 'delay' && f.timer) {
        clearTimeout(f.timer);
        f.timer = undefined;
      }
      if (fault.kind === 'delay' && fault.ms > 0 && !f.due) {
        f.timer ??= setTimeout(() => {
          f.timer = undefined;
          f.due = true;
          this.pump(link, f);
        }, fault.ms);
        return;
      }
      if (fault.kind === 'cut') {
        const room = fault.afterBytes - (link.up + link.down);
        if (room <= 0) return this.reset(link);
        if (chunk.length >= room) {
          link[f.dir] += room;
          f.queue.length = 0;
          f.to.write(chunk.subarray(0, room), () => this.reset(link));
          return;
        }
      }
      f.queue.shift();
      f.due = false;
      link[f.dir] += chunk.length;
      if (!f.to.write(chunk)) {
        f.draining = true;
        f.to.once('drain', () => {
          f.draining = false;
          this.pump(link, f);
        });
        return;
      }
    }
  }

  private reset(l: Link): void {
    l.reset = true;
    l.client.resetAndDestroy();
    l.upstream.resetAndDestroy();
  }
}

export interface HttpFault {
  /** The answer's status (e.g. 503, 500, 403). */
  status: number;
  /** How many requests get it (default 1; Infinity until cleared). */
  count?: number;
  /** Only requests this matches (e.g. by method or path); default every one. */
  match?: (req: IncomingMessage) => boolean;
  /** Body and headers of the answer (default an S3-style XML error naming the status). */
  body?: string;
  headers?: Record<string, string>;
  /** Hold the answer this long first (ms). */
  delayMs?: number;
}

/** Error answers an HTTP stand-in gives before it handles a request. */
export class HttpFaults {
  private readonly queue: Array<HttpFault & { left: number }> = [];
  /** Requests answered with a fault so far. */
  answered = 0;

  /** Adds a fault; faults are tried in the order added. */
  add(f: HttpFault): void {
    this.queue.push({ ...f, left: f.count ?? 1 });
  }

  clear(): void {
    this.queue.length = 0;
  }

  /** Answers req with the first fault that takes it and returns true; false when the service should handle it. */
  answer(req: IncomingMessage, res: ServerResponse): boolean {
    const i = this.queue.findIndex((f) => f.left > 0 && (!f.match || f.match(req)));
    if (i < 0) return false;
    const f = this.queue[i]!;
    if (--f.left <= 0) this.queue.splice(i, 1);
    this.answered++;
    const body =
      f.body ??
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>Injected${f.status}</Code><Message>a fault injected by camwire's local stand-in</Message></Error>`;
    const go = (): void => {
      if (res.writableEnded || res.destroyed) return;
      res.writeHead(f.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), connection: 'close', ...f.headers });
      res.end(body);
    };
    // The answer goes once the request body is read (and thrown away), so a client still sending
    // it meets the answer, not a reset; a body that never ends gets it after 2 s anyway.
    req.resume();
    let sent = false;
    const answer = (): void => {
      if (sent) return;
      sent = true;
      clearTimeout(cap);
      if (f.delayMs) setTimeout(go, f.delayMs);
      else go();
    };
    const cap = setTimeout(answer, 2000);
    if (req.complete) answer();
    else {
      req.once('end', answer);
      req.once('error', answer);
    }
    return true;
  }
}
