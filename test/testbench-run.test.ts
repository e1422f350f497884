/**
 * `camwire testbench run` (issue 18): the reference camera (`camwire device`
 * with the bench's device.json) passes every case, started, killed and
 * restarted by the bench, in one run whose JUnit file a JUnit consumer reads;
 * an external camera in another language (test/fixtures/testbench_device.py
 * on python3-paho-mqtt), started by hand, is waited for and judged per case.
 * The misbehaving devices, one per case, are in testbench-misbehaving.test.ts.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { explain, makeBench, pythonDevice, referenceDevice, runBench } from './helpers/testbench';
import { camwire } from './helpers/run';
import { tempDir } from './helpers/tmp';

const work = tempDir('testbench-run');

test.serial('the reference camera passes every case; JUnit read back by junit2json, HTML written', async (t) => {
  t.timeout(290_000);
  const dir = await makeBench(path.join(work, 'reference'), 'benchcam01');
  const junit = path.join(dir, 'reports', 'junit.xml');
  const html = path.join(dir, 'reports', 'report.html');
  const r = await runBench(dir, ['--device-cmd', referenceDevice(dir), '--junit', junit, '--html', html]);
  const list = JSON.parse(camwire(['--json', 'testbench', 'list']).stdout) as Array<{ id: string }>;
  t.is(r.cases.length, list.length, explain(r));
  t.is(r.status, 0, explain(r));
  t.deepEqual(
    r.cases.filter((c) => c.status !== 'passed').map((c) => c.id),
    [],
    explain(r),
  );
  // The bound is 3 minutes on this machine; logged, not asserted (no timed assertions in tests).
  t.log(`${r.cases.length} cases passed in ${(r.ms / 1000).toFixed(1)} s`);
  for (const id of ['kvs.clock-skew', 'kvs.tracks']) t.log(`${id}: ${r.byId.get(id)?.evidence.join(' | ')}`);

  const { parse } = await import('junit2json');
  const parsed = (await parse(fs.readFileSync(junit, 'utf8'))) as {
    tests?: number;
    failures?: number;
    testsuite?: Array<{ name?: string; tests?: number; testcase?: Array<{ name?: string; classname?: string; failure?: unknown[] }> }>;
  };
  t.is(parsed.tests, list.length);
  t.is(parsed.failures, 0);
  const names = (parsed.testsuite ?? []).flatMap((s) => (s.testcase ?? []).map((c) => c.name));
  t.deepEqual([...names].sort(), list.map((c) => c.id).sort());
  t.deepEqual(
    (parsed.testsuite ?? []).map((s) => s.name),
    ['camwire.testbench.tls', 'camwire.testbench.mqtt', 'camwire.testbench.upload', 'camwire.testbench.kvs', 'camwire.testbench.ptp'],
  );
  const page = fs.readFileSync(html, 'utf8');
  t.true(page.includes('mqtt.backoff') && page.includes('<svg'), 'the HTML report has the cases and the reconnect chart');
  // The device's own log is kept with the run, and it was restarted once (the resume case).
  const log = fs.readFileSync(path.join(dir, 'run', 'device.log'), 'utf8');
  t.is((log.match(/--- camwire testbench: start/g) ?? []).length, 2);
});

test.serial('an external camera in Python is waited for and judged per case; what it cannot do is skipped with the reason', async (t) => {
  t.timeout(290_000);
  const dir = await makeBench(path.join(work, 'python'), 'pycam01', (d) => {
    delete d['kvs'];
    delete d['ptp'];
  });
  const bench = runBench(dir, ['--cases', 'tls.mutual', 'mqtt.status', 'mqtt.will', 'upload.*', 'kvs.sigv4', 'ptp.session']);
  // The camera comes up on its own, a little after the bench, as a real one would.
  await new Promise((r) => setTimeout(r, 1500));
  const [cmd, ...args] = pythonDevice(dir)
    .split(' ')
    .map((a) => a.replace(/^"|"$/g, ''));
  const cam = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let camOut = '';
  cam.stdout.on('data', (d: Buffer) => (camOut += d.toString()));
  cam.stderr.on('data', (d: Buffer) => (camOut += d.toString()));
  const r = await bench;
  cam.kill('SIGTERM');
  const why = `${explain(r)}\ncamera: ${camOut.slice(-1500)}`;
  t.is(r.status, 0, why);
  for (const id of ['tls.mutual', 'mqtt.status', 'mqtt.will', 'upload.put', 'upload.multipart', 'upload.retry-503', 'upload.expired', 'upload.idempotent'])
    t.is(r.byId.get(id)?.status, 'passed', `${id}: ${why}`);
  t.is(r.byId.get('upload.resume')?.status, 'skipped');
  t.regex(r.byId.get('upload.resume')?.message ?? '', /--device-cmd/);
  t.is(r.byId.get('kvs.sigv4')?.status, 'skipped');
  t.regex(r.byId.get('kvs.sigv4')?.message ?? '', /no kvs section/);
  t.is(r.byId.get('ptp.session')?.status, 'skipped');
});

test.serial('a failing external camera: its failures are reported per case, and the run exits 1', async (t) => {
  t.timeout(200_000);
  const dir = await makeBench(path.join(work, 'python-bad'), 'pycam02', (d) => {
    delete d['kvs'];
    delete d['ptp'];
  });
  const junit = path.join(dir, 'junit.xml');
  const bench = runBench(dir, ['--cases', 'tls.mutual', 'upload.put', 'upload.expired', '--junit', junit]);
  await new Promise((r) => setTimeout(r, 1000));
  const [cmd, ...args] = pythonDevice(dir, ['wrong-sha'])
    .split(' ')
    .map((a) => a.replace(/^"|"$/g, ''));
  const cam = spawn(cmd!, args, { stdio: 'ignore' });
  const r = await bench;
  cam.kill('SIGTERM');
  t.is(r.status, 1, explain(r));
  t.is(r.byId.get('tls.mutual')?.status, 'passed', explain(r));
  t.is(r.byId.get('upload.put')?.status, 'failed', explain(r));
  t.regex(r.byId.get('upload.put')?.message ?? '', /published sha256 [0-9a-f]{64} is not the object's/);
  t.is(r.byId.get('upload.expired')?.status, 'passed', explain(r));
  const xml = fs.readFileSync(junit, 'utf8');
  t.regex(xml, /<failure message="the published sha256/);
  t.regex(r.stdout + r.stderr, /TESTBENCH_FAILED/);
});

test('testbench list: every case with its family and what it checks; --cases that match nothing is a clear error', (t) => {
  const list = JSON.parse(camwire(['--json', 'testbench', 'list']).stdout) as Array<{ id: string; family: string; checks: string }>;
  t.true(list.length >= 26);
  for (const fam of ['tls', 'mqtt', 'upload', 'kvs', 'ptp'])
    t.true(
      list.some((c) => c.family === fam),
      fam,
    );
  t.true(list.every((c) => c.checks.length > 20 && c.id.startsWith(`${c.family}.`)));
  const dir = path.join(work, 'nocase');
  camwire(['testbench', 'init', '--out', dir, '--thing', 'nocase01']);
  const r = camwire(['testbench', 'run', '--dir', dir, '--cases', 'nope.*']);
  t.is(r.status, 1);
  t.regex(r.stderr, /TESTBENCH_NO_CASES: --cases nope\.\* matched no case/);
  const missing = camwire(['testbench', 'run', '--dir', path.join(work, 'absent')]);
  t.regex(missing.stderr, /TESTBENCH_NO_BENCH/);
});
