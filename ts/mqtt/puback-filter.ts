/**
 * Takes the PUBACKs of camwire's own QoS 1 messages (MQTT 3.1.1) out of the
 * bytes a connection receives, before mqtt.js sees them. Parsing 20 000
 * PUBACKs in mqtt.js (a packet object, its buffer list, debug calls and a
 * keepalive reschedule each) was about a seventh of the CPU of
 * `camwire mqtt pub --count 20000 --qos 1`.
 *
 * The filter only ever removes whole 4-byte PUBACK packets whose packet id
 * `take` claims; every other byte reaches mqtt.js unchanged and in order. It
 * follows the packet framing (fixed header, remaining length) across chunk
 * boundaries; a PUBACK cut by a chunk boundary is left in the stream (mqtt.js
 * parses it and camwire settles it from its `packetreceive` event), and a
 * remaining length that is not one stops filtering altogether, so that
 * mqtt.js sees the broken stream as it came and reports it.
 */
import type { Readable } from 'node:stream';

const PUBACK = 0x40;

export class PubackFilter {
  /** Bytes of the packet under way still to pass (its body, past this chunk). */
  private skip = 0;
  /** A fixed header cut by the end of a chunk: its bytes so far. */
  private header: number[] = [];
  private broken = false;

  /** take(id): whether the PUBACK of packet id is camwire's (it is then settled, and removed from the stream). */
  constructor(private readonly take: (id: number) => boolean) {}

  /** The chunk without the PUBACKs taken: the same Buffer when none was. */
  filter(chunk: Buffer): Buffer {
    if (this.broken) return chunk;
    const n = chunk.length;
    let at = 0;
    let keptFrom = 0;
    let pieces: Buffer[] | undefined;
    while (at < n) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, n - at);
        this.skip -= k;
        at += k;
        continue;
      }
      if (this.header.length === 0 && chunk[at] === PUBACK && at + 3 < n && chunk[at + 1] === 2) {
        if (this.take((chunk[at + 2]! << 8) | chunk[at + 3]!)) {
          pieces ??= [];
          if (at > keptFrom) pieces.push(chunk.subarray(keptFrom, at));
          keptFrom = at + 4;
        }
        at += 4;
        continue;
      }
      // Any other packet (or one whose header began in the previous chunk): its remaining length.
      const header = this.header;
      if (header.length === 0) header.push(chunk[at++]!);
      let complete = false;
      while (at < n) {
        const b = chunk[at++]!;
        header.push(b);
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
        if (header.length === 5) {
          // A fifth length byte: not MQTT. Everything from here on goes to mqtt.js untouched.
          this.broken = true;
          return this.result(chunk, keptFrom, pieces);
        }
      }
      if (!complete) break; // the header goes on in the next chunk
      let len = 0;
      for (let i = header.length - 1; i >= 1; i--) len = len * 128 + (header[i]! & 0x7f);
      this.header = [];
      this.skip = len;
    }
    return this.result(chunk, keptFrom, pieces);
  }

  private result(chunk: Buffer, keptFrom: number, pieces: Buffer[] | undefined): Buffer {
    if (!pieces) return chunk;
    if (keptFrom < chunk.length) pieces.push(chunk.subarray(keptFrom));
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  }
}

const FILTERED = Symbol('camwire.pubackFilter');

/**
 * Puts the filter in front of a socket's readable side (its push(), where
 * Node's TCP and TLS sockets hand each read to the stream), once per socket.
 */
export function filterPubacks(stream: Readable, take: (id: number) => boolean): void {
  const s = stream as Readable & { [FILTERED]?: true };
  if (s[FILTERED]) return;
  s[FILTERED] = true;
  const filter = new PubackFilter(take);
  const push = s.push.bind(s);
  s.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (!Buffer.isBuffer(chunk)) return push(chunk, encoding);
    const rest = filter.filter(chunk);
    if (rest.length === 0) return s.readableLength < s.readableHighWaterMark;
    return push(rest, encoding);
  };
}
