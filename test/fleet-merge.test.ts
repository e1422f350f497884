/**
 * `fleet merge`: shards built from known values merge into what one recorder
 * of every value reports (the merged p99 is the p99 of all values, not the
 * mean of the shards' p99s), counts and errors sum, overlapping shards are
 * refused, a report that breaks the schema is refused naming the field, and
 * a pod log with the report line reads like the report itself.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { CamwireError } from '../ts/errors';
import { checkReport, mergeReports, parseReport, readReport, REPORT_LOG_MARKER } from '../ts/fleet/report';
import { camwire, camwireJson } from './helpers/run';
import { recorder, shardReport, values } from './helpers/fleet-reports';
import { tempDir } from './helpers/tmp';

const dir = tempDir('fleet-merge');

const connectVs = [values(200, 40, 1), values(200, 60, 2), values(200, 400, 3)];
const publishVs = [values(5000, 2, 4), values(5000, 3, 5), values(5000, 30, 6)];
const shards = [0, 1, 2].map((i) =>
  shardReport(i, 3, 600, { connect: connectVs[i]!, publish: publishVs[i]!, errors: i === 1 ? { ECONNRESET: 2, FLEET_CONNECT_TIMEOUT: 1 } : { ECONNRESET: 1 } }),
);

test('three shards merge into what one recorder of every value says; counts, errors and ramps sum', (t) => {
  const m = mergeReports(shards);
  const allConnect = recorder(connectVs.flat());
  const allPublish = recorder(publishVs.flat());
  t.is(m.latency.publish.p99, allPublish.percentileMs(99));
  t.is(m.latency.publish.p999, allPublish.percentileMs(99.9));
  t.is(m.latency.connect.p99, allConnect.percentileMs(99));
  t.is(m.latency.publish.count, 15000);
  // The max of a decoded histogram is its bucket's highest equivalent value: equal to 3 significant digits.
  const max = allPublish.summary().max;
  t.true(Math.abs(m.latency.publish.max - max) <= max * 1e-3, `${m.latency.publish.max} ≈ ${max}`);
  // The average of the shards' p99s is a different (wrong) number: the merge did not take it.
  const averaged = shards.reduce((s, r) => s + r.latency.publish.p99, 0) / 3;
  t.not(m.latency.publish.p99, Math.round(averaged * 1000) / 1000);
  t.is(m.devices, 600);
  t.is(m.published, 15000);
  t.is(m.acknowledged, 15000);
  t.is(m.delivered, 15000 - 3);
  t.is(m.connects, 603);
  t.is(m.reconnects, 3);
  t.deepEqual(m.errors, { ECONNRESET: 4, FLEET_CONNECT_TIMEOUT: 1 });
  t.deepEqual(m.ramp, [
    { t: 0, connected: 0 },
    { t: 1, connected: 300 },
    { t: 2, connected: 600 },
  ]);
  t.deepEqual(
    m.shards.map((s) => [s.from, s.to]),
    [
      [0, 200],
      [200, 400],
      [400, 600],
    ],
  );
  t.is(m.processes.length, 3);
  t.is(m.durationMs, 11_000);
  t.is(m.rampMs, 1_200, 'the slowest ramp');
  t.is(m.rssPerDeviceBytes, 30_000, 'memory per camera weighted by devices');
  t.is(m.startedAt, shards[0]!.startedAt);
  t.deepEqual(checkReport(JSON.parse(JSON.stringify(m))), m, 'the merge is itself a valid report');
  // A merge of merges is the merge of all.
  const again = mergeReports([mergeReports(shards.slice(0, 2)), shards[2]!]);
  t.is(again.latency.publish.p99, m.latency.publish.p99);
  t.is(again.devices, 600);
});

test('overlapping shards are refused with FLEET_SHARDS_OVERLAP', (t) => {
  const e = t.throws(() => mergeReports([shards[0]!, shards[1]!, shards[1]!]), { instanceOf: CamwireError });
  t.is(e?.code, 'FLEET_SHARDS_OVERLAP');
  t.regex(e!.message, /\[200, 400\)/);
  // A shard of a 4-way split of the same fleet overlaps two of the 3-way split.
  const other = shardReport(1, 4, 600, { connect: [1], publish: [1] });
  t.is(t.throws(() => mergeReports([shards[0]!, other]), { instanceOf: CamwireError })?.code, 'FLEET_SHARDS_OVERLAP');
});

test('a report that breaks the schema is refused naming the field; a pod log reads like its report', (t) => {
  const bad = JSON.parse(JSON.stringify(shards[0])) as Record<string, unknown>;
  bad['published'] = -1;
  const e = t.throws(() => checkReport(bad), { instanceOf: CamwireError });
  t.is(e?.code, 'FLEET_REPORT_INVALID');
  t.regex(e!.message, /\/published/);
  const wrongKind = { ...shards[0], kind: 'k6.summary' };
  t.regex(t.throws(() => checkReport(wrongKind))!.message, /\/kind/);
  const log = `starting\n${REPORT_LOG_MARKER} ${JSON.stringify(shards[2])}\n`;
  t.deepEqual(parseReport(log), shards[2]);
  t.is(t.throws(() => parseReport('just a log\n'), { instanceOf: CamwireError })?.code, 'FLEET_REPORT_INVALID');
});

test('camwire fleet merge writes the merged report and its page', (t) => {
  const files = shards.map((r, i) => {
    const f = path.join(dir, `shard-${i}.json`);
    fs.writeFileSync(f, i === 2 ? `pod log line\n${REPORT_LOG_MARKER} ${JSON.stringify(r)}\n` : JSON.stringify(r, null, 2));
    return f;
  });
  const merged = path.join(dir, 'merged.json');
  const html = path.join(dir, 'merged.html');
  const r = camwireJson<{ devices: number; shards: number; latency: { publish: { p99: number } } }>([
    'fleet',
    'merge',
    ...files,
    '--report',
    merged,
    '--html',
    html,
  ]);
  t.is(r.devices, 600);
  t.is(r.shards, 3);
  const m = readReport(merged);
  t.is(m.latency.publish.p99, recorder(publishVs.flat()).percentileMs(99));
  t.is(r.latency.publish.p99, m.latency.publish.p99);
  t.regex(fs.readFileSync(html, 'utf8'), /<svg/);
  const dup = camwire(['--json', 'fleet', 'merge', files[0]!, files[0]!, '--report', path.join(dir, 'dup.json')]);
  t.is(dup.status, 1);
  t.is((JSON.parse(dup.stdout) as { error: { code: string } }).error.code, 'FLEET_SHARDS_OVERLAP');
  t.false(fs.existsSync(path.join(dir, 'dup.json')), 'nothing written on a refused merge');
});

test('no percentile lies above the max, before or after a merge', (t) => {
  for (const r of [...shards, mergeReports(shards)]) {
    for (const s of [r.latency.connect, r.latency.publish]) {
      t.true(s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max, JSON.stringify({ ...s, histogram: undefined }));
    }
  }
  // One value: every percentile is that value's bucket, capped at the value itself.
  const one = recorder([77.384]).summary();
  t.is(one.p99, one.max);
});
