/**
 * The few MQTT 3.1.1 packets a simulated camera needs (CONNECT with a will,
 * CONNACK, SUBSCRIBE/SUBACK, PUBLISH QoS 0/1 both ways, PUBACK, PINGREQ/RESP,
 * DISCONNECT), for `fleet run`. mqtt.js keeps per client an event emitter
 * tree, stores and stream machinery (see bench/fleet.ts for the numbers); a
 * fleet of thousands needs a connection to cost a socket and a few fields.
 * Every length read from the broker is checked against the bytes there and
 * against a maximum before anything is allocated.
 */

export const PACKET = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  SUBSCRIBE: 8,
  SUBACK: 9,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
} as const;

/** The largest remaining length MQTT can encode (4 bytes of varint). */
const MAX_REMAINING = 268_435_455;

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function packet(first: number, body: Buffer[]): Buffer {
  const len = body.reduce((s, b) => s + b.length, 0);
  if (len > MAX_REMAINING) throw new RangeError('MQTT packet too large');
  return Buffer.concat([Buffer.from([first]), remainingLength(len), ...body]);
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  if (b.length > 0xffff) throw new RangeError('MQTT string longer than 65535 bytes');
  const h = Buffer.allocUnsafe(2);
  h.writeUInt16BE(b.length, 0);
  return Buffer.concat([h, b]);
}

function u16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n, 0);
  return b;
}

export interface ConnectPacket {
  clientId: string;
  keepaliveS: number;
  will?: { topic: string; payload: string | Buffer; qos: 0 | 1; retain: boolean };
}

export function encodeConnect(o: ConnectPacket): Buffer {
  // Clean session: a simulated camera resends its own unacknowledged telemetry.
  let flags = 0x02;
  const body = [str('MQTT'), Buffer.from([4]), Buffer.alloc(1), u16(o.keepaliveS), str(o.clientId)];
  if (o.will) {
    flags |= 0x04 | (o.will.qos << 3) | (o.will.retain ? 0x20 : 0);
    body.push(str(o.will.topic), str(o.will.payload));
  }
  body[2]![0] = flags;
  return packet(PACKET.CONNECT << 4, body);
}

/** A PUBLISH in one allocation (it is the per-message packet of every QoS 1 path: no intermediate buffers). */
export function encodePublish(topic: string, payload: Buffer, o: { qos: 0 | 1; retain?: boolean; packetId?: number }): Buffer {
  const out = Buffer.allocUnsafe(publishSize(Buffer.byteLength(topic, 'utf8'), payload.length, o.qos));
  encodePublishInto(out, 0, topic, payload, o);
  return out;
}

/** The bytes of a PUBLISH with a topic of topicLen UTF-8 bytes (throws if it cannot be one). */
export function publishSize(topicLen: number, payloadLen: number, qos: 0 | 1): number {
  if (topicLen > 0xffff) throw new RangeError('MQTT string longer than 65535 bytes');
  const len = 2 + topicLen + (qos ? 2 : 0) + payloadLen;
  if (len > MAX_REMAINING) throw new RangeError('MQTT packet too large');
  return 1 + (len < 0x80 ? 1 : len < 0x4000 ? 2 : len < 0x200000 ? 3 : 4) + len;
}

/** Encodes a PUBLISH into out at offset at (publishSize bytes of room); returns the offset after it. */
export function encodePublishInto(out: Buffer, at: number, topic: string, payload: Buffer, o: { qos: 0 | 1; retain?: boolean; packetId?: number }): number {
  const topicLen = Buffer.byteLength(topic, 'utf8');
  if (topicLen > 0xffff) throw new RangeError('MQTT string longer than 65535 bytes');
  let n = 2 + topicLen + (o.qos ? 2 : 0) + payload.length;
  if (n > MAX_REMAINING) throw new RangeError('MQTT packet too large');
  out[at++] = (PACKET.PUBLISH << 4) | (o.qos << 1) | (o.retain ? 1 : 0);
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out[at++] = byte;
  } while (n > 0);
  out.writeUInt16BE(topicLen, at);
  at += 2;
  at += out.write(topic, at, 'utf8');
  if (o.qos) {
    out.writeUInt16BE(o.packetId!, at);
    at += 2;
  }
  return at + payload.copy(out, at);
}

export function encodePuback(packetId: number): Buffer {
  return Buffer.from([PACKET.PUBACK << 4, 2, packetId >> 8, packetId & 0xff]);
}

export function encodeSubscribe(packetId: number, filters: Array<{ topic: string; qos: 0 | 1 }>): Buffer {
  const body = [u16(packetId)];
  for (const f of filters) body.push(str(f.topic), Buffer.from([f.qos]));
  return packet((PACKET.SUBSCRIBE << 4) | 0x02, body);
}

export const PINGREQ = Buffer.from([PACKET.PINGREQ << 4, 0]);
export const DISCONNECT = Buffer.from([PACKET.DISCONNECT << 4, 0]);

/** A packet read from the broker; `publish` only for PUBLISH. */
export type Inbound =
  | { type: typeof PACKET.CONNACK; sessionPresent: boolean; returnCode: number }
  | { type: typeof PACKET.PUBACK; packetId: number }
  | { type: typeof PACKET.SUBACK; packetId: number; granted: number[] }
  | { type: typeof PACKET.PINGRESP }
  | { type: typeof PACKET.PUBLISH; qos: number; retain: boolean; packetId: number; topic: string; payload: Buffer };

export class MqttProtocolError extends Error {}

/**
 * Splits the broker's byte stream into packets. Holds at most one partial
 * packet, never more than `maxPacket` bytes (checked from the header before
 * any buffer is grown).
 */
export class PacketReader {
  private pending: Buffer | undefined;

  constructor(private readonly maxPacket: number) {}

  /** Feeds bytes; calls `on` for each whole packet. Throws MqttProtocolError on a malformed stream. */
  push(chunk: Buffer, on: (p: Inbound) => void): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let off = 0;
    for (;;) {
      if (buf.length - off < 2) break;
      let len = 0;
      let mult = 1;
      let i = off + 1;
      let complete = false;
      for (let n = 0; n < 4; n++, i++) {
        if (i >= buf.length) break;
        const b = buf[i]!;
        len += (b & 0x7f) * mult;
        mult *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
        if (n === 3) throw new MqttProtocolError('remaining length longer than 4 bytes');
      }
      if (!complete) break; // the length itself is still arriving
      if (len > this.maxPacket) throw new MqttProtocolError(`packet of ${len} bytes exceeds the limit of ${this.maxPacket}`);
      if (buf.length - i < len) break;
      on(decode(buf[off]!, buf.subarray(i, i + len)));
      off = i + len;
    }
    if (off < buf.length) {
      // Copy the tail so the big chunk it came from can be freed.
      const rest = buf.subarray(off);
      this.pending = Buffer.from(rest);
    }
  }
}

function decode(first: number, body: Buffer): Inbound {
  const type = first >> 4;
  switch (type) {
    case PACKET.CONNACK:
      if (body.length !== 2) throw new MqttProtocolError(`CONNACK of ${body.length} bytes (2 expected)`);
      return { type, sessionPresent: (body[0]! & 1) === 1, returnCode: body[1]! };
    case PACKET.PUBACK:
      if (body.length !== 2) throw new MqttProtocolError(`PUBACK of ${body.length} bytes (2 expected)`);
      return { type, packetId: body.readUInt16BE(0) };
    case PACKET.SUBACK:
      if (body.length < 3) throw new MqttProtocolError(`SUBACK of ${body.length} bytes (at least 3 expected)`);
      return { type, packetId: body.readUInt16BE(0), granted: [...body.subarray(2)] };
    case PACKET.PINGRESP:
      if (body.length !== 0) throw new MqttProtocolError(`PINGRESP of ${body.length} bytes (0 expected)`);
      return { type };
    case PACKET.PUBLISH: {
      const qos = (first >> 1) & 3;
      if (qos === 3) throw new MqttProtocolError('PUBLISH with QoS 3');
      if (body.length < 2) throw new MqttProtocolError('PUBLISH without a topic length');
      const tl = body.readUInt16BE(0);
      const idLen = qos > 0 ? 2 : 0;
      if (2 + tl + idLen > body.length) throw new MqttProtocolError(`PUBLISH topic of ${tl} bytes overruns the packet of ${body.length}`);
      const topic = body.toString('utf8', 2, 2 + tl);
      const packetId = qos > 0 ? body.readUInt16BE(2 + tl) : 0;
      return { type, qos, retain: (first & 1) === 1, packetId, topic, payload: body.subarray(2 + tl + idLen) };
    }
    default:
      throw new MqttProtocolError(`unexpected packet type ${type} from the broker`);
  }
}
