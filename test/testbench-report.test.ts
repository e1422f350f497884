/**
 * The report writers of `camwire testbench run`: the JUnit XML read back by a
 * JUnit parser (junit2json) with the counts, names, failure bodies and skips
 * a CI shows; the HTML page with every device string escaped, a bar per chart
 * value and a section per case; the JSON line's key order; writeReports'
 * files, made atomically in directories that did not exist.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { htmlReport, jsonLine, junitXml, writeReports } from '../ts/testbench/report';
import type { BenchReport, CaseResult } from '../ts/testbench/report-types';
import { tempDir } from './helpers/tmp';

const work = tempDir('testbench-report');

// Device output can hold anything: markup, entities, both quotes, CDATA ends (two of them), an ESC.
const HOSTILE = `<script>alert("x")</script> & 'q' ]]> and ]]> again \u001b[31m`;
const INTERVALS = [480, 1010, 1990, 4020, 7950, 8000];

const cases: CaseResult[] = [
  {
    id: 'tls.wrong-ca',
    family: 'tls',
    title: 'Refuses a server from another CA',
    checks: 'The device closes the TLS handshake when the server certificate is from a CA it does not trust.',
    status: 'passed',
    durationMs: 1234,
    evidence: ['handshake alert: unknown_ca', 'no MQTT CONNECT seen'],
    timeline: [
      { atMs: 0, who: 'bench', what: 'serving a certificate from the other CA' },
      { atMs: 310, who: 'device', what: 'TLS alert 48' },
    ],
  },
  {
    id: 'mqtt.backoff',
    family: 'mqtt',
    title: 'Reconnect backoff <grows>',
    checks: 'Intervals between reconnect attempts grow and are capped at 8 s.',
    status: 'failed',
    durationMs: 30500,
    message: 'interval 6 (8000 ms) "not capped" & <over>',
    evidence: [`device stderr: ${HOSTILE}`, 'intervals: 480 1010 1990 4020 7950 8000'],
    timeline: [
      { atMs: 0, who: 'bench', what: 'dropped the connection' },
      { atMs: 480, who: 'device', what: `CONNECT ${HOSTILE}` },
      { atMs: 30500, who: 'check', what: 'cap exceeded' },
    ],
    chart: { title: 'Reconnect intervals', unit: 'ms', values: INTERVALS },
  },
  {
    id: 'mqtt.qos1-redelivery',
    family: 'mqtt',
    title: 'QoS 1 redelivery',
    checks: 'An unacknowledged PUBLISH is sent again with DUP after reconnecting.',
    status: 'passed',
    durationMs: 2500,
    evidence: ['redelivered packet id 7 with DUP'],
    timeline: [],
  },
  {
    id: 'upload.resume',
    family: 'upload',
    title: 'Resumes an interrupted upload',
    checks: 'After a reset mid-body the device uploads the file again and the hash matches.',
    status: 'skipped',
    durationMs: 0,
    message: 'the device has no "upload" capability <config>',
    evidence: [],
    timeline: [],
  },
  {
    id: 'ptp.clock',
    family: 'ptp',
    title: 'PTP offset',
    checks: 'The device clock follows the bench grandmaster within 1 ms.',
    status: 'skipped',
    durationMs: 5,
    message: 'no PTP on this link',
    evidence: [],
    timeline: [],
  },
];

const report: BenchReport = {
  version: 1,
  thing: 'camera<042>',
  startedAt: '2026-05-01T10:00:00.000Z',
  durationMs: 40000,
  device: { command: './device --config "bench/device.json" && echo <done>', external: false },
  cases,
  summary: { total: 5, passed: 2, failed: 1, skipped: 2 },
};

test('junitXml: a JUnit parser reads the suites per family, the counts, the cases, the failure with its evidence and timeline, the skips', async (t) => {
  const xml = junitXml(report);
  const { parse } = await import('junit2json');
  const parsed = await parse(xml);
  if (!parsed || !('testsuite' in parsed) || !parsed.testsuite) return t.fail(`no <testsuites>: ${xml}`);
  const root = parsed as { name?: string; tests?: number; failures?: number; errors?: number; skipped?: number; time?: number };
  t.like(root, { name: 'camwire.testbench', tests: 5, failures: 1, errors: 0, skipped: 2, time: 40 });

  // One suite per family that has cases, in the families' order (kvs has none here).
  const suites = parsed.testsuite;
  t.deepEqual(
    suites.map((s) => [s.name, s.tests, s.failures, s.skipped, s.time]),
    [
      ['camwire.testbench.tls', 1, 0, 0, 1.234],
      ['camwire.testbench.mqtt', 2, 1, 0, 33],
      ['camwire.testbench.upload', 1, 0, 1, 0],
      ['camwire.testbench.ptp', 1, 0, 1, 0.005],
    ],
  );
  t.deepEqual(suites[0].properties, [
    { name: 'thing', value: 'camera<042>' },
    { name: 'device', value: report.device.command },
  ]);

  const byName = new Map(suites.flatMap((s) => s.testcase ?? []).map((c) => [c.name, c]));
  t.deepEqual([...byName.keys()], ['tls.wrong-ca', 'mqtt.backoff', 'mqtt.qos1-redelivery', 'upload.resume', 'ptp.clock']);
  t.like(byName.get('tls.wrong-ca'), { classname: 'testbench.tls', time: 1.234 });
  t.deepEqual(byName.get('tls.wrong-ca')?.['system-out'], ['handshake alert: unknown_ca\nno MQTT CONNECT seen']);
  t.is(byName.get('tls.wrong-ca')?.failure, undefined);
  t.is(byName.get('tls.wrong-ca')?.skipped, undefined);

  const failed = byName.get('mqtt.backoff');
  t.like(failed, { classname: 'testbench.mqtt', time: 30.5 });
  t.is(failed?.failure?.length, 1);
  const failure = failed?.failure?.[0];
  t.is(failure?.message, 'interval 6 (8000 ms) "not capped" & <over>');
  const body = failure?.inner ?? '';
  const shown = HOSTILE.replace('\u001b', '\\u001b'); // ESC cannot be in XML: it is written as text
  t.true(body.startsWith('interval 6 (8000 ms) "not capped" & <over>\n'), body);
  t.true(body.includes(`  - device stderr: ${shown}\n`), body);
  t.true(body.includes('  - intervals: 480 1010 1990 4020 7950 8000\n'), body);
  t.true(body.includes('timeline (ms since the case started):\n'), body);
  t.true(body.includes('      0  bench   dropped the connection'), body);
  t.true(body.includes(`    480  device  CONNECT ${shown}`), body);
  t.true(body.includes('  30500  check   cap exceeded'), body);
  t.is(failed?.skipped, undefined);
  t.is(failed?.['system-out'], undefined);

  t.like(byName.get('mqtt.qos1-redelivery'), { classname: 'testbench.mqtt', time: 2.5, 'system-out': ['redelivered packet id 7 with DUP'] });
  t.deepEqual(byName.get('upload.resume')?.skipped, [{ message: 'the device has no "upload" capability <config>' }]);
  t.like(byName.get('upload.resume'), { classname: 'testbench.upload', time: 0 });
  t.is(byName.get('upload.resume')?.failure, undefined);
  t.deepEqual(byName.get('ptp.clock')?.skipped, [{ message: 'no PTP on this link' }]);

  // The raw text: the CDATA ends and the markup are escaped, no control character is left.
  t.false(xml.includes('<script'));
  t.false(xml.includes(']]> and'));
  // eslint-disable-next-line no-control-regex -- looking for control characters
  t.false(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/.test(xml));
});

test('junitXml: a report with no cases is an empty <testsuites> with zero counts', async (t) => {
  const { parse } = await import('junit2json');
  const parsed = await parse(junitXml({ ...report, cases: [], summary: { total: 0, passed: 0, failed: 0, skipped: 0 } }));
  t.like(parsed, { name: 'camwire.testbench', tests: 0, failures: 0, skipped: 0 });
  t.false(parsed !== null && parsed !== undefined && 'testsuite' in parsed && parsed.testsuite !== undefined);
});

/** The HTML of one case's section. */
function section(html: string, index: number): string {
  const start = html.indexOf(`<section class="case ${cases[index].status}" id="case-${index}">`);
  const end = html.indexOf('</section>', start);
  if (start < 0 || end < 0) throw new Error(`no section for case ${index}`);
  return html.slice(start, end);
}

test('htmlReport: every report string escaped, the header, a row and a section per case, the chart with one bar per value', (t) => {
  const html = htmlReport(report);
  t.true(html.startsWith('<!DOCTYPE html>'));
  // Nothing from the device becomes markup; the page itself has no script and loads nothing.
  t.false(/<script/i.test(html));
  t.false(/\b(src|href)=["'](?!#)/i.test(html), 'no external asset');
  t.true(html.includes(`content="default-src 'none'; style-src 'unsafe-inline'"`));
  t.true(html.includes('device stderr: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; ]]&gt; and ]]&gt; again \\u001b[31m'));
  t.false(html.includes('\u001b'));

  // Header: thing, start, duration, device command, coloured counts.
  t.true(html.includes('<h1>camwire testbench: camera&lt;042&gt;</h1>'));
  t.true(html.includes('<dd>2026-05-01T10:00:00.000Z</dd>'));
  t.true(html.includes('<dt>Duration</dt><dd>40.0 s</dd>'));
  t.true(html.includes('<code>./device --config &quot;bench/device.json&quot; &amp;&amp; echo &lt;done&gt;</code>'));
  t.true(html.includes('<span class="count passed">2 passed</span>'));
  t.true(html.includes('<span class="count failed">1 failed</span>'));
  t.true(html.includes('<span class="count skipped">2 skipped</span>'));
  t.true(html.includes('.count.failed {'), 'the counts have colours');
  t.true(htmlReport({ ...report, device: { external: true } }).includes('<dt>Device</dt><dd>external device</dd>'));

  // The table: one row per case, linking to its section.
  const rows = html.slice(html.indexOf('<table class="cases">'), html.indexOf('</table>')).match(/<tr><td>/g) ?? [];
  t.is(rows.length, cases.length);
  t.true(html.includes('<td>Reconnect backoff &lt;grows&gt;</td><td><span class="badge failed">failed</span></td><td class="num">30.5 s</td>'));
  t.true(html.includes('<td>interval 6 (8000 ms) &quot;not capped&quot; &amp; &lt;over&gt;</td>'));

  cases.forEach((c, i) => {
    t.true(html.includes(`<a href="#case-${i}"><code>${c.id}</code></a>`), c.id);
    const s = section(html, i);
    t.true(s.includes(`<h2><code>${c.id}</code>`), c.id);
    t.true(s.includes(`<span class="badge ${c.status}">${c.status}</span>`), c.id);
  });

  // The failed case's section: checks, verdict, evidence, timeline, chart.
  const failed = section(html, 1);
  t.true(failed.includes('<strong>Checks:</strong> Intervals between reconnect attempts grow and are capped at 8 s.'));
  t.true(failed.includes('<p class="verdict">interval 6 (8000 ms) &quot;not capped&quot; &amp; &lt;over&gt;</p>'));
  t.is((failed.match(/<li class="mono">/g) ?? []).length, 2);
  t.is((failed.match(/<tr><td class="num mono">/g) ?? []).length, 3);
  t.true(failed.includes('<tr><td class="num mono">30500</td><td class="who-check">check</td><td class="what mono">cap exceeded</td></tr>'));
  const svg = failed.slice(failed.indexOf('<svg'), failed.indexOf('</svg>') + 6);
  t.true(svg.startsWith('<svg class="chart" xmlns="http://www.w3.org/2000/svg"'));
  const bars = [...svg.matchAll(/<rect class="bar" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"><title>#(\d+): (\d+) ms<\/title><\/rect>/g)];
  t.deepEqual(
    bars.map((b) => Number(b[4])),
    INTERVALS,
  );
  t.deepEqual(
    bars.map((b) => Number(b[3])),
    [1, 2, 3, 4, 5, 6],
  );
  t.is((svg.match(/<rect /g) ?? []).length, INTERVALS.length, 'no other rect');
  // Heights follow the values (same scale), every bar standing on the same baseline.
  const heights = bars.map((b) => Number(b[2]));
  for (let i = 1; i < heights.length; i++) t.true(heights[i] >= heights[i - 1], `bar ${i + 1} not shorter`);
  heights.forEach((h, i) => t.true(Math.abs(h / heights[5] - INTERVALS[i] / 8000) < 0.005, `${heights}`));
  const baselines = bars.map((b) => Number(b[1]) + Number(b[2]));
  t.true(
    baselines.every((y) => Math.abs(y - baselines[0]) < 0.2),
    `${baselines}`,
  );
  t.true(svg.includes('rotate(-90)" text-anchor="middle">ms</text>'), 'the unit on the y axis');
  t.true(svg.includes('>sample (1 to 6)</text>'), 'the x axis label');
  t.true(svg.includes('>8000</text>') && svg.includes('>0</text>'), 'ticks and values labelled');
  t.true(svg.includes('<text class="chart-title" x="64" y="16">Reconnect intervals</text>'), 'the chart titled');

  // No chart for a case without one; a skipped case's reason is its verdict.
  t.false(section(html, 0).includes('<svg'));
  t.true(section(html, 3).includes('<p class="verdict">the device has no &quot;upload&quot; capability &lt;config&gt;</p>'));
  t.true(section(html, 0).includes('<p class="verdict">Passed.</p>'));
  t.is((html.match(/<svg/g) ?? []).length, 1);
});

test('htmlReport: a chart title and unit from the device are escaped too', (t) => {
  const evil = { ...cases[1], chart: { title: '</svg><script>x()</script>', unit: '"><img src=x>', values: [1, Number.NaN, 3] } };
  const html = htmlReport({ ...report, cases: [evil] });
  t.false(/<script|<img/i.test(html));
  t.true(html.includes('&lt;/svg&gt;&lt;script&gt;x()&lt;/script&gt;'));
  t.is((html.match(/<rect class="bar"/g) ?? []).length, 3);
  t.true(html.includes('<title>#2: NaN &quot;&gt;&lt;img src=x&gt;</title>'));
});

test('jsonLine: one line, keys id, family, status, durationMs, message, evidence in that order', (t) => {
  const line = jsonLine(cases[1]);
  t.false(line.includes('\n'));
  t.deepEqual(Object.keys(JSON.parse(line) as object), ['id', 'family', 'status', 'durationMs', 'message', 'evidence']);
  t.deepEqual(JSON.parse(line), {
    id: 'mqtt.backoff',
    family: 'mqtt',
    status: 'failed',
    durationMs: 30500,
    message: cases[1].message,
    evidence: cases[1].evidence,
  });
  // A passed case has no message; the key order holds whatever order the object was built in.
  const shuffled = { evidence: ['e'], timeline: [], status: 'passed', id: 'tls.ok', durationMs: 3, family: 'tls', title: 't', checks: 'c' } as CaseResult;
  t.is(jsonLine(shuffled), '{"id":"tls.ok","family":"tls","status":"passed","durationMs":3,"evidence":["e"]}');
});

test('writeReports: both files in directories that did not exist, replaced whole on a second run, no temp file left', (t) => {
  const junit = path.join(work, 'ci', 'junit', 'bench.xml');
  const html = path.join(work, 'pages', 'deep', 'bench.html');
  writeReports(report, { junit, html });
  t.is(fs.readFileSync(junit, 'utf8'), junitXml(report));
  t.is(fs.readFileSync(html, 'utf8'), htmlReport(report));

  const second = { ...report, thing: 'camera043' };
  writeReports(second, { junit, html });
  t.is(fs.readFileSync(junit, 'utf8'), junitXml(second));
  t.is(fs.readFileSync(html, 'utf8'), htmlReport(second));
  t.deepEqual(fs.readdirSync(path.dirname(junit)), ['bench.xml']);
  t.deepEqual(fs.readdirSync(path.dirname(html)), ['bench.html']);

  // Only what is asked for is written.
  const only = path.join(work, 'only', 'r.html');
  writeReports(report, { html: only });
  t.deepEqual(fs.readdirSync(path.dirname(only)), ['r.html']);
  t.false(fs.existsSync(path.join(work, 'only', 'r.xml')));

  // A path that cannot be written to throws and leaves no temp file.
  const blocked = path.join(work, 'blocked');
  fs.mkdirSync(path.join(blocked, 'bench.xml'), { recursive: true }); // a directory where the file would go
  t.throws(() => writeReports(report, { junit: path.join(blocked, 'bench.xml') }));
  t.deepEqual(fs.readdirSync(blocked), ['bench.xml']);
});
