/** Full-jitter backoff: windows double from the base up to the cap, delays are uniform inside them. */
import test from 'ava';
import { FullJitterBackoff } from '../ts/mqtt';

test('windows are 1 s, 2 s, 4 s ... capped at 60 s by default', (t) => {
  const b = new FullJitterBackoff({ random: () => 0.999999 });
  const delays = Array.from({ length: 10 }, () => b.next());
  t.deepEqual(
    delays.map((d) => Math.round(d / 1000)),
    [1, 2, 4, 8, 16, 32, 60, 60, 60, 60],
  );
  b.reset();
  t.is(b.window(), 1000);
});

test('delays spread over the whole window (full jitter), never beyond it', (t) => {
  const b = new FullJitterBackoff({ baseMs: 100, capMs: 100 });
  const d = Array.from({ length: 5000 }, () => b.next());
  t.true(d.every((x) => x >= 0 && x < 100));
  const buckets = [0, 0, 0, 0];
  for (const x of d) buckets[Math.floor(x / 25)]!++;
  for (const c of buckets) t.true(c > 1000 && c < 1500, `bucket ${c}`);
});

test('many attempts do not overflow', (t) => {
  const b = new FullJitterBackoff({ random: () => 0.5 });
  for (let i = 0; i < 2000; i++) b.next();
  t.is(b.window(), 60_000);
  t.throws(() => new FullJitterBackoff({ baseMs: 0 }));
  t.throws(() => new FullJitterBackoff({ baseMs: 10, capMs: 5 }));
});
