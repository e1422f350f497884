/**
 * The PUBACK filter in front of mqtt.js: on streams of mixed packets cut at
 * every byte, it removes exactly the whole PUBACKs it is told are camwire's,
 * passes every other byte through in order, and stops touching a stream whose
 * framing is broken.
 */
import test from 'ava';
import crypto from 'node:crypto';
import { PassThrough } from 'node:stream';
import { filterPubacks, PubackFilter } from '../ts/mqtt/puback-filter';
import { encodePuback, encodePublish } from '../ts/mqtt/wire';

interface Packet {
  bytes: Buffer;
  /** A PUBACK of one of "our" ids. */
  ours: boolean;
  id?: number;
}

/** A random mix: our PUBACKs, others' PUBACKs, PUBLISHes with every length width, PINGRESP, SUBACK. */
function stream(seed: number, count: number): Packet[] {
  let x = seed;
  const rand = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const out: Packet[] = [];
  for (let i = 0; i < count; i++) {
    const kind = rand(6);
    if (kind <= 2) {
      const id = 1 + rand(65535);
      out.push({ bytes: encodePuback(id), ours: id % 2 === 0, id });
    } else if (kind === 3) {
      const size = [0, 1, 2, 130, 20_000][rand(5)]!;
      // A payload full of bytes that look like PUBACKs: the filter must not look inside a packet.
      const payload = Buffer.alloc(size, 0x40);
      for (let k = 1; k < size; k += 4) payload[k] = 2;
      out.push({ bytes: encodePublish('cameras/c1/upload-targets', payload, { qos: 1, packetId: 1 + rand(65535) }), ours: false });
    } else if (kind === 4) {
      out.push({ bytes: Buffer.from([0xd0, 0x00]), ours: false }); // PINGRESP
    } else {
      out.push({ bytes: Buffer.from([0x90, 0x03, 0x00, 0x07, 0x01]), ours: false }); // SUBACK
    }
  }
  return out;
}

function run(packets: Packet[], cuts: number[]): { out: Buffer; taken: number[] } {
  const taken: number[] = [];
  const f = new PubackFilter((id) => {
    if (id % 2 !== 0) return false;
    taken.push(id);
    return true;
  });
  const all = Buffer.concat(packets.map((p) => p.bytes));
  const outs: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, all.length]) {
    if (c < from) continue;
    outs.push(f.filter(all.subarray(from, c)));
    from = c;
  }
  return { out: Buffer.concat(outs), taken };
}

/** What should come out: every packet but our PUBACKs that lie whole inside one chunk. */
function expected(packets: Packet[], cuts: number[]): { out: Buffer; taken: number[] } {
  const bounds = new Set(cuts);
  const kept: Buffer[] = [];
  const taken: number[] = [];
  let at = 0;
  for (const p of packets) {
    let cut = false;
    for (let k = at + 1; k < at + p.bytes.length; k++) if (bounds.has(k)) cut = true;
    if (p.ours && !cut) taken.push(p.id!);
    else kept.push(p.bytes);
    at += p.bytes.length;
  }
  return { out: Buffer.concat(kept), taken };
}

test('PUBACKs that are ours are taken whole; everything else passes in order, cut at every byte', (t) => {
  const packets = stream(7, 60);
  const total = packets.reduce((n, p) => n + p.bytes.length, 0);
  let checked = 0;
  for (let cut = 1; cut < Math.min(total, 700); cut++) {
    const cuts = [cut];
    const got = run(packets, cuts);
    const want = expected(packets, cuts);
    if (!got.out.equals(want.out) || got.taken.join() !== want.taken.join()) return t.fail(`cut at ${cut}`);
    checked++;
  }
  t.true(checked > 100);
});

test('random chunkings of long mixed streams', (t) => {
  for (let seed = 1; seed <= 40; seed++) {
    const packets = stream(seed, 300);
    const total = packets.reduce((n, p) => n + p.bytes.length, 0);
    const cuts: number[] = [];
    for (let at = 0; at < total;) {
      at += 1 + crypto.randomInt(seed % 3 === 0 ? 8 : 4000);
      if (at < total) cuts.push(at);
    }
    const got = run(packets, cuts);
    const want = expected(packets, cuts);
    t.true(got.out.equals(want.out), `seed ${seed}: the bytes passed on`);
    t.deepEqual(got.taken, want.taken, `seed ${seed}: the ids taken`);
  }
  // Whole chunks: every one of our PUBACKs is taken, nothing else is touched.
  const packets = stream(99, 500);
  const got = run(packets, []);
  t.deepEqual(
    got.taken,
    packets.filter((p) => p.ours).map((p) => p.id!),
  );
  t.true(got.out.equals(Buffer.concat(packets.filter((p) => !p.ours).map((p) => p.bytes))), 'the rest, byte for byte');
});

test('a broken remaining length stops the filtering: mqtt.js gets the bytes as they came', (t) => {
  const f = new PubackFilter(() => true);
  const bad = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
  t.is(f.filter(bad), bad);
  const puback = encodePuback(2);
  t.true(f.filter(puback).equals(puback), 'not taken once the framing is lost');
  // A chunk with nothing to take is passed as the same Buffer (no copy).
  const g = new PubackFilter(() => false);
  const chunk = Buffer.concat([encodePuback(4), Buffer.from([0xd0, 0x00])]);
  t.is(g.filter(chunk), chunk);
});

test('in front of a stream: taken PUBACKs never reach a reader, the rest does, EOF passes', async (t) => {
  const s = new PassThrough();
  const taken: number[] = [];
  filterPubacks(s, (id) => {
    if (id > 100) return false;
    taken.push(id);
    return true;
  });
  filterPubacks(s, () => true); // once per stream: a second call changes nothing
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  const ended = new Promise((r) => s.on('end', r));
  s.push(Buffer.concat([encodePuback(1), encodePuback(200), encodePuback(2)]));
  s.push(encodePuback(3));
  s.push(null);
  await ended;
  t.deepEqual(taken, [1, 2, 3]);
  t.true(Buffer.concat(got).equals(encodePuback(200)));
});
