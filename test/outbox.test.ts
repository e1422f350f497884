/** The durable outbox's journal: order, replay, torn tails, corruption, compaction, group commit. */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { DurableOutbox } from '../ts/mqtt';
import { CamwireError } from '../ts/errors';
import { tempDir } from './helpers/tmp';

const root = tempDir('outbox');
let n = 0;
const fresh = () => path.join(root, `box-${n++}`);
const msg = (i: number) => ({ topic: `cameras/c1/uploads`, payload: Buffer.from(`message ${i} \u00e9\n"quoted"`), retain: i % 2 === 0 });

test('appends survive a reopen, in order, until acknowledged', async (t) => {
  const dir = fresh();
  const box = await DurableOutbox.open(dir);
  const recs = await Promise.all([0, 1, 2, 3, 4].map((i) => box.append(msg(i))));
  t.deepEqual(
    recs.map((r) => r.seq),
    [1, 2, 3, 4, 5],
  );
  box.ack(2);
  box.ack(4);
  box.ack(99); // unknown: ignored
  await box.close();
  const again = await DurableOutbox.open(dir);
  t.deepEqual(
    again.pending().map((r) => r.seq),
    [1, 3, 5],
  );
  t.deepEqual(
    again.pending().map((r) => r.payload.toString()),
    [0, 2, 4].map((i) => msg(i).payload.toString()),
  );
  t.deepEqual(
    again.pending().map((r) => r.retain),
    [true, true, true],
  );
  // New messages continue the sequence rather than reusing numbers.
  t.is((await again.append(msg(9))).seq, 6);
  await again.close();
});

test('messages appended in one turn share one fdatasync (group commit)', async (t) => {
  const box = await DurableOutbox.open(fresh());
  await Promise.all(Array.from({ length: 500 }, (_, i) => box.append(msg(i))));
  const s = box.getStats();
  t.is(s.appended, 500);
  t.true(s.syncs <= 2, `${s.syncs} syncs for 500 appends`);
  await box.close();
});

test('a long burst is written and synced in pieces that resolve in order; a payload repeated in appendMany is journaled whole each time', async (t) => {
  const dir = fresh();
  const box = await DurableOutbox.open(dir);
  const same = Buffer.from('the same payload, many times \u00e9');
  const order: number[] = [];
  const pieces = [0, 1, 2, 3].map((k) =>
    box
      .appendMany(Array.from({ length: 1000 }, (_, i) => (i % 3 === 0 ? msg(k * 1000 + i) : { topic: 'cameras/c1/uploads', payload: same, retain: false })))
      .then((recs) => {
        order.push(k);
        return recs;
      }),
  );
  const recs = (await Promise.all(pieces)).flat();
  t.deepEqual(order, [0, 1, 2, 3], 'each piece resolves when its lines are synced, first piece first');
  t.deepEqual(
    recs.map((r) => r.seq),
    Array.from({ length: 4000 }, (_, i) => i + 1),
  );
  const s = box.getStats();
  t.true(s.syncs >= 4, `4000 lines in pieces of at most 1024: ${s.syncs} syncs`);
  await box.close();
  const again = await DurableOutbox.open(dir);
  const pending = again.pending();
  t.is(pending.length, 4000);
  for (const [i, r] of pending.entries()) {
    const want = (i % 1000) % 3 === 0 ? msg(i).payload : same;
    if (!r.payload.equals(want)) return t.fail(`record ${r.seq} came back as ${r.payload.toString()}`);
  }
  await again.close();
});

test('a torn last line (crash mid-write) is dropped; whole lines before it are kept', async (t) => {
  const dir = fresh();
  const box = await DurableOutbox.open(dir);
  await box.append(msg(1));
  await box.append(msg(2));
  await box.close();
  fs.appendFileSync(path.join(dir, 'outbox.jsonl'), '{"s":3,"t":"cameras/c1/up');
  const again = await DurableOutbox.open(dir);
  t.deepEqual(
    again.pending().map((r) => r.seq),
    [1, 2],
  );
  t.is(again.getStats().droppedTornLines, 1);
  await again.append(msg(3));
  await again.close();
  // The reopen compacted the file, so the torn bytes are gone for good.
  const third = await DurableOutbox.open(dir);
  t.deepEqual(
    third.pending().map((r) => r.seq),
    [1, 2, 3],
  );
  t.is(third.getStats().droppedTornLines, 0);
  await third.close();
});

test('a corrupt line in the middle is an error that names the file and line, not a silent loss', async (t) => {
  const dir = fresh();
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'outbox.jsonl'), '{"s":1,"t":"a","p":"","r":false}\nGARBAGE\n{"s":2,"t":"a","p":"","r":false}\n');
  const e = await t.throwsAsync<CamwireError>(DurableOutbox.open(dir));
  t.is(e!.code, 'OUTBOX_CORRUPT');
  t.regex(e!.message, /outbox\.jsonl line 2/);
  fs.writeFileSync(path.join(dir, 'outbox.jsonl'), '{"x":1}\n');
  t.is((await t.throwsAsync<CamwireError>(DurableOutbox.open(dir)))!.code, 'OUTBOX_CORRUPT');
});

test('the journal is compacted and the key file stays private', async (t) => {
  const dir = fresh();
  const box = await DurableOutbox.open(dir);
  for (let round = 0; round < 5; round++) {
    const recs = await Promise.all(Array.from({ length: 5000 }, (_, i) => box.append(msg(i))));
    for (const r of recs.slice(0, 4990)) box.ack(r.seq);
  }
  await new Promise((r) => setImmediate(r));
  await box.append(msg(0));
  t.is(box.size, 51);
  t.true(box.getStats().compactions >= 2, `compactions ${box.getStats().compactions}`);
  const lines = fs.readFileSync(path.join(dir, 'outbox.jsonl'), 'utf8').split('\n').length;
  t.true(lines < 20000, `${lines} lines on disk`);
  t.is(fs.statSync(path.join(dir, 'outbox.jsonl')).mode & 0o777, 0o600);
  await box.close();
  const again = await DurableOutbox.open(dir);
  t.is(again.size, 51);
  await again.close();
});

test('append after close is refused with a code', async (t) => {
  const box = await DurableOutbox.open(fresh());
  await box.close();
  t.is((await t.throwsAsync<CamwireError>(box.append(msg(1))))!.code, 'OUTBOX_CLOSED');
});
