/**
 * Every bench case can fail (issue 18): for each rule, the bench runs against
 * a device that breaks exactly that rule, and that case fails with its
 * message while neighbouring cases, which the same device still honours,
 * pass. The devices: test/fixtures/testbench_device.py (MQTT and uploads; a
 * --break flag per rule), the reference camera with wrong AWS keys (SigV4),
 * test/fixtures/testbench-bad-kvs-device.js (a KVS producer, careful unless
 * told otherwise), and camwire's PTP/IP responder with a card that differs
 * from the bench's or behind a fragile front (testbench-bad-ptp-responder.js).
 *
 * Each run is its own bench (own CA, ports, directory) and its own device:
 * one rule broken each, never two, with only the cases that show it: the
 * file takes about four minutes.
 */
import test, { ExecutionContext } from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_OBJECTS, benchObjectBytes } from '../ts/testbench/objects';
import { freePort } from './helpers/ports';
import { CLI, ROOT } from './helpers/run';
import { BenchRun, explain, makeBench, pythonDevice, referenceDevice, runBench } from './helpers/testbench';
import { tempDir } from './helpers/tmp';

const work = tempDir('testbench-misbehaving');
const KVS_DEVICE = path.join(ROOT, 'test', 'fixtures', 'testbench-bad-kvs-device.js');
const PTP_RESPONDER = path.join(ROOT, 'test', 'fixtures', 'testbench-bad-ptp-responder.js');
const node = `"${process.execPath}"`;

/** The Python device takes no part in KVS or PTP: a bench without those sections. */
const mqttOnly = (d: Record<string, unknown>) => {
  delete d['kvs'];
  delete d['ptp'];
};

/** Asserts the run failed, each of `fails` failed with its message, and each of `passes` passed. */
function verdicts(t: ExecutionContext, r: BenchRun, fails: Record<string, RegExp>, passes: string[]): void {
  t.is(r.status, 1, explain(r));
  t.deepEqual(r.cases.map((c) => c.id).sort(), [...Object.keys(fails), ...passes].sort(), explain(r));
  for (const [id, message] of Object.entries(fails)) {
    const c = r.byId.get(id);
    t.is(c?.status, 'failed', `${id} should fail:\n${explain(r)}`);
    t.regex(c?.message ?? '', message, `${id}: ${c?.message}`);
    t.log(`${id} failed (${((c?.durationMs ?? 0) / 1000).toFixed(1)} s): ${c?.message?.slice(0, 300)}`);
  }
  for (const id of passes) t.is(r.byId.get(id)?.status, 'passed', `${id} should pass:\n${explain(r)}`);
  t.log(`run: ${(r.ms / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------- the Python device, one rule broken at a time

interface Rule {
  rule: string;
  /** The cases the rule breaks, each with what its message must say. */
  fails: Record<string, RegExp>;
  /** Cases the same device must still pass. */
  passes: string[];
  /** What else the failed case's evidence must show. */
  evidence?: Record<string, RegExp>;
  timeoutMs?: number;
}

const RULES: Rule[] = [
  {
    rule: 'trust-any-cert',
    fails: {
      'tls.untrusted-server':
        /^the device accepted the server certificate from an untrusted CA \(TLS handshake completed(?:, \d+ bytes of MQTT sent)?\): it must verify the server chain against its CA$/,
    },
    passes: ['tls.mutual', 'mqtt.status'],
  },
  {
    rule: 'no-hostname-check',
    fails: {
      'tls.wrong-host':
        /^the device accepted the server certificate for the wrong host name \(TLS handshake completed(?:, \d+ bytes of MQTT sent)?\): it must verify the server host name/,
    },
    // It still checks the chain: the impostor from another CA is refused.
    passes: ['tls.mutual', 'tls.untrusted-server'],
  },
  {
    rule: 'no-will',
    fails: { 'mqtt.will': /^the CONNECT has no last will: nobody learns the camera went away$/ },
    passes: ['tls.mutual', 'mqtt.status'],
    evidence: { 'mqtt.will': /^the CONNECT had no will$/ },
  },
  {
    rule: 'no-status',
    fails: { 'mqtt.status': /^`online` on the status topic: not within 10\.0 s$/ },
    passes: ['tls.mutual', 'mqtt.subscribe'],
  },
  {
    rule: 'no-backoff',
    fails: { 'mqtt.backoff': /^a reconnect storm: \d+ attempts in 20 s, median interval \d+ ms$/ },
    passes: ['mqtt.status', 'mqtt.will'],
  },
  {
    rule: 'fixed-backoff',
    fails: { 'mqtt.backoff': /^the intervals are a fixed period \(about 20\d\d ms, CV 0\.0\d\): no backoff, no jitter$/ },
    passes: ['mqtt.status', 'mqtt.will'],
  },
  {
    rule: 'clean-session',
    fails: { 'mqtt.persistent-session': /^the device connects with a clean session \(a new session each time\): targets sent while it is away are lost$/ },
    passes: ['mqtt.status', 'mqtt.will'],
    evidence: { 'mqtt.persistent-session': /^CONNECT clean session: true$/ },
  },
  {
    rule: 'forget-qos1',
    // The device reconnects but never publishes the result whose PUBACK it did not get.
    fails: { 'mqtt.qos1-resend': /^the result sent again after the reconnect: not within 30\.0 s$/ },
    passes: ['mqtt.status', 'upload.put'],
    timeoutMs: 120_000,
  },
  {
    rule: 'no-keepalive',
    fails: { 'mqtt.keepalive': /^keep-alive 0 s: a dead link goes unnoticed/ },
    passes: ['mqtt.status', 'mqtt.subscribe'],
  },
  {
    rule: 'wrong-sha',
    fails: { 'upload.put': /^the published sha256 [0-9a-f]{64} is not the object's [0-9a-f]{64}$/ },
    passes: ['mqtt.status', 'upload.expired'],
  },
  {
    rule: 'bad-result',
    fails: { 'upload.put': /^the result does not match the contract \(DESIGN\.md\): result must have required property 'thing'/ },
    passes: ['mqtt.status', 'mqtt.subscribe'],
  },
  {
    rule: 'ignore-expiry',
    fails: { 'upload.expired': /^the device sent [1-9]\d* request\(s\) with an expired URL \(PUT → 403/ },
    passes: ['upload.put'],
  },
  {
    rule: 'no-retry',
    fails: {
      // The device gives up after the first 503: the result says failed, and the case says so.
      'upload.retry-503': /^the device gave up after 1 503 answer\(s\) instead of retrying: \{"code":"UPLOAD_/,
      'upload.reset-mid-body':
        /^the upload failed: \{"code":"UPLOAD_NETWORK","message":"PUT \(http:\/\/127\.0\.0\.1:\d+\/[^)]+\) failed after 1 attempt\(s\); last: \w+/,
    },
    passes: ['upload.put'],
    evidence: { 'upload.retry-503': /^requests: 503$/ },
  },
  {
    rule: 'duplicate',
    fails: { 'upload.idempotent': /^the object was uploaded 2 times for one target id$/ },
    passes: ['upload.put'],
  },
  {
    rule: 'no-resume',
    fails: { 'upload.resume': /^parts stored \(and answered\) before the kill were sent again: 1, 2 \(no resume\)$/ },
    passes: ['upload.multipart'],
  },
  {
    rule: 'multipart-unordered',
    fails: { 'upload.multipart': /^the parts were not sent in order: part \d+ came after 8 \(8, 7, 6, 5, 4, 3, 2, 1\)$/ },
    passes: ['upload.put'],
  },
];

/** The bench against the Python device with one rule broken. */
async function pythonRun(r: Rule): Promise<BenchRun> {
  const dir = await makeBench(path.join(work, r.rule), 'pycam', mqttOnly);
  return runBench(dir, ['--device-cmd', pythonDevice(dir, [r.rule]), '--cases', ...Object.keys(r.fails), ...r.passes]);
}

test.serial('the well-behaved Python device passes every tls, mqtt and upload case; kvs and ptp are skipped with the reason', async (t) => {
  t.timeout(180_000);
  const dir = await makeBench(path.join(work, 'well-behaved'), 'pycam', mqttOnly);
  const r = await runBench(dir, ['--device-cmd', pythonDevice(dir), '--cases', 'tls.*', 'mqtt.*', 'upload.*', 'kvs.*', 'ptp.*']);
  t.is(r.status, 0, explain(r));
  t.is(r.cases.length, 28, explain(r));
  const ran = r.cases.filter((c) => /^(tls|mqtt|upload)\./.test(c.id));
  t.is(ran.length, 17);
  t.deepEqual(
    ran.filter((c) => c.status !== 'passed').map((c) => c.id),
    [],
    explain(r),
  );
  for (const c of r.cases.filter((x) => x.id.startsWith('kvs.')))
    t.like(c, { status: 'skipped', message: 'device.json has no kvs section (the device does not stream)' });
  for (const c of r.cases.filter((x) => x.id.startsWith('ptp.'))) {
    t.is(c.status, 'skipped');
    t.regex(c.message ?? '', /^the device serves no PTP\/IP/);
  }
  t.log(`17 passed, 11 skipped in ${(r.ms / 1000).toFixed(1)} s`);
});

for (const r of RULES) {
  test.serial(
    `--break ${r.rule}: ${Object.keys(r.fails).join(' and ')} fail${Object.keys(r.fails).length > 1 ? '' : 's'}, ${r.passes.join(' and ')} pass`,
    async (t) => {
      t.timeout(r.timeoutMs ?? 90_000);
      const run = await pythonRun(r);
      verdicts(t, run, r.fails, r.passes);
      for (const [id, re] of Object.entries(r.evidence ?? {}))
        t.true(
          run.byId.get(id)?.evidence.some((l) => re.test(l)),
          `${id} evidence: ${run.byId.get(id)?.evidence.join(' | ')}`,
        );
    },
  );
}

// ---------------------------------------------------------------- kvs

test.serial('kvs.sigv4: the reference camera signing with wrong AWS keys (the env chain) is refused by the endpoint', async (t) => {
  t.timeout(90_000);
  const dir = await makeBench(path.join(work, 'kvs-wrong-keys'), 'refcam', (d) => {
    delete d['ptp'];
    delete (d['kvs'] as Record<string, unknown>)['iotCredentials'];
  });
  // No IoT credentials provider: the AWS chain, and the environment comes first in it.
  const cmd = `env -u AWS_SESSION_TOKEN -u AWS_PROFILE AWS_ACCESS_KEY_ID=AKIDNOTTHEBENCHS0001 AWS_SECRET_ACCESS_KEY=not-the-bench-secret ${referenceDevice(dir)}`;
  const r = await runBench(dir, ['--device-cmd', cmd, '--cases', 'tls.mutual', 'mqtt.status', 'upload.put', 'kvs.sigv4']);
  verdicts(t, r, { 'kvs.sigv4': /^the endpoint refused a signature \(\/getDataEndpoint\): The security token included in the request is invalid\.$/ }, [
    'tls.mutual',
    'mqtt.status',
    'upload.put',
  ]);
});

/** The KVS producer fixture next to the Python device (MQTT, for the bench's first-connection wait): one process group. */
const kvsDevice = (dir: string, rule?: string) => `${pythonDevice(dir)} & exec ${node} "${KVS_DEVICE}" --dir "${dir}"${rule ? ` --break ${rule}` : ''}`;

/** device.json declares G.711 A-law audio: the producer fixture streams it beside the video. */
const withAudio = (d: Record<string, unknown>) =>
  Object.assign(d['kvs'] as Record<string, unknown>, { audio: { codec: 'alaw', sampleRate: 8000, channels: 1 } });

const KVS_RULES: Array<{ rule: string; target: string; message: RegExp; device?: (d: Record<string, unknown>) => void; cases?: string[] }> = [
  {
    rule: 'no-resend-after-error',
    target: 'kvs.error-ack',
    message: /^the new session starts at \d{13}, after the fragment that got the ERROR ack \(\d{13}\): it was not re-sent$/,
  },
  { rule: 'no-resend-after-cut', target: 'kvs.cut', message: /^frames lost across the cut: \d{13}\.\.\d{13} ms$/ },
  { rule: 'corrupt-frame', target: 'kvs.fragments', message: /^session 1: ffprobe decoded (\d+) frames of the \d+ the endpoint received$/ },
  {
    rule: 'no-clock-correction',
    target: 'kvs.clock-skew',
    message:
      /^[4-9] requests refused after the endpoint's clock moved 15 min ahead \(last: Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)\): the device does not take the time from the 403's Date header$/,
  },
  {
    rule: 'bad-codec-private',
    target: 'kvs.tracks',
    message: /^the CodecPrivate \(avcC\) SPS says 80x48, the track's PixelWidth x PixelHeight is 64x48( \(the in-band SPS says 64x48\))?$/,
  },
  {
    rule: 'no-audio-track',
    target: 'kvs.tracks',
    message: /^device\.json declares alaw audio \(kvs\.audio\) but session \d+ has no audio track$/,
    device: withAudio,
    cases: ['kvs.sigv4', 'kvs.tracks'],
  },
  {
    rule: 'audio-rate-mismatch',
    target: 'kvs.tracks',
    message: /^the audio track is 16000 Hz, device\.json declares 8000 Hz$/,
    device: withAudio,
    cases: ['kvs.sigv4', 'kvs.tracks'],
  },
  {
    rule: 'short-audio',
    target: 'kvs.tracks',
    message: /^the audio lasts \d+\.\d\d s, the video \d+\.\d\d s: more than 10% apart$/,
    device: withAudio,
    cases: ['kvs.sigv4', 'kvs.tracks'],
  },
];
const KVS_CASES = ['kvs.sigv4', 'kvs.error-ack', 'kvs.cut', 'kvs.clock-skew', 'kvs.fragments', 'kvs.tracks'];

for (const k of KVS_RULES) {
  test.serial(`--break ${k.rule} (KVS producer): ${k.target} fails, the other kvs cases pass`, async (t) => {
    t.timeout(120_000);
    const dir = await makeBench(path.join(work, `kvs-${k.rule}`), 'kvscam', (d) => {
      delete d['ptp'];
      k.device?.(d);
    });
    const cases = k.cases ?? KVS_CASES;
    const r = await runBench(dir, ['--device-cmd', kvsDevice(dir, k.rule), '--cases', ...cases]);
    verdicts(
      t,
      r,
      { [k.target]: k.message },
      cases.filter((c) => c !== k.target),
    );
    if (k.rule === 'corrupt-frame') {
      // One frame fewer decoded than parsed: the zeroed one.
      const m = /decoded (\d+) frames of the (\d+)/.exec(r.byId.get(k.target)?.message ?? '');
      t.is(Number(m?.[1]) + 1, Number(m?.[2]));
    }
    for (const c of ['kvs.clock-skew', 'kvs.tracks']) if (r.byId.get(c)) t.log(`${c}: ${r.byId.get(c)!.evidence.join(' | ')}`);
  });
}

test.serial('kvs.tracks with declared audio: the producer fixture streaming G.711 beside the video passes it, and the cuts', async (t) => {
  t.timeout(90_000);
  const dir = await makeBench(path.join(work, 'kvs-audio'), 'kvscam', (d) => {
    delete d['ptp'];
    withAudio(d);
  });
  const r = await runBench(dir, ['--device-cmd', kvsDevice(dir), '--cases', 'kvs.sigv4', 'kvs.cut', 'kvs.clock-skew', 'kvs.tracks']);
  t.is(r.status, 0, explain(r));
  const ev = r.byId.get('kvs.tracks')?.evidence.join('\n') ?? '';
  t.regex(ev, /^SPS in the CodecPrivate: 64x48; in-band SPS: 64x48$/m);
  t.regex(ev, /^audio track: pcm_alaw 8000 Hz, 1 channel\(s\), \d+\.\d\d s beside \d+\.\d\d s of video$/m);
  t.regex(ev, /^device\.json declares alaw 8000 Hz, 1 channel\(s\)$/m);
  t.log(`kvs.tracks: ${r.byId.get('kvs.tracks')?.evidence.join(' | ')}; run ${(r.ms / 1000).toFixed(1)} s`);
});

// ---------------------------------------------------------------- ptp

/** A camera card with the bench's two files, the video changed in one byte when asked. */
function card(dir: string, o: { alterVideo?: boolean } = {}): string {
  const store = path.join(dir, 'camera-card');
  for (const k of ['photo', 'video'] as const) {
    const file = path.join(store, BENCH_OBJECTS[k].path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const bytes = benchObjectBytes(k);
    if (o.alterVideo && k === 'video') bytes[1000] = bytes[1000]! ^ 0xff;
    fs.writeFileSync(file, bytes);
  }
  return store;
}

const PTP_CASES = ['ptp.session', 'ptp.download', 'ptp.malformed'];

test.serial('ptp.download: a responder whose card holds another TB000002.MP4 (same size, one byte changed) fails the download', async (t) => {
  t.timeout(90_000);
  const dir = await makeBench(path.join(work, 'ptp-other-file'), 'ptpcam', mqttOnly);
  const store = card(dir, { alterVideo: true });
  const port = await freePort();
  const cmd = `${pythonDevice(dir)} & exec ${node} "${CLI}" ptp serve --port ${port} --storage "${store}"`;
  const r = await runBench(dir, ['--device-cmd', cmd, '--ptp', `127.0.0.1:${port}`, '--cases', ...PTP_CASES]);
  verdicts(t, r, { 'ptp.download': /^the downloaded bytes are not the file$/ }, ['ptp.session', 'ptp.malformed']);
  const want = crypto.createHash('sha256').update(benchObjectBytes('video')).digest('hex');
  t.regex(
    r.byId.get('ptp.download')?.evidence.join('\n') ?? '',
    new RegExp(`^listed 1048576 bytes, got 1048576; SHA-256 (?!${want})[0-9a-f]{64} \\(the file's ${want}\\)$`, 'm'),
  );
});

test.serial('ptp.malformed: a responder that stops listening after a malformed packet fails it; the session before works', async (t) => {
  t.timeout(90_000);
  const dir = await makeBench(path.join(work, 'ptp-fragile'), 'ptpcam', mqttOnly);
  const store = card(dir);
  const port = await freePort();
  const cmd = `${pythonDevice(dir)} & exec ${node} "${PTP_RESPONDER}" --port ${port} --storage "${store}"`;
  const r = await runBench(dir, ['--device-cmd', cmd, '--ptp', `127.0.0.1:${port}`, '--cases', ...PTP_CASES]);
  verdicts(t, r, { 'ptp.malformed': new RegExp(`^no PTP/IP session with 127\\.0\\.0\\.1:${port}: .*(refused|ECONNREFUSED)`, 'i') }, [
    'ptp.session',
    'ptp.download',
  ]);
  t.regex(fs.readFileSync(path.join(dir, 'run', 'device.log'), 'utf8'), /malformed first packet \(length 4, type 1\): the front gives up/);
});

test.serial('tls.mutual: a camera whose client id is not its certificate CN is refused, and the run says so at once', async (t) => {
  t.timeout(90_000);
  const dir = await makeBench(path.join(work, 'wrong-client-id'), 'idcam', (d) => {
    mqttOnly(d);
    d['thing'] = 'notidcam'; // the certificate still says idcam
  });
  const r = await runBench(dir, ['--device-cmd', referenceDevice(dir), '--cases', 'tls.mutual', 'mqtt.status', '--wait', '30'], { timeoutMs: 75_000 });
  t.is(r.status, 1, explain(r));
  t.is(r.byId.get('tls.mutual')?.status, 'failed');
  t.regex(r.byId.get('tls.mutual')?.message ?? '', /^the broker refused the device: client id "notidcam" is not the certificate's CN "idcam"$/);
  t.true((r.byId.get('tls.mutual')?.durationMs ?? 99_999) < 20_000, 'the refusal ends the wait');
  t.regex(r.byId.get('mqtt.status')?.message ?? '', /^not run: the device never connected/);
});

test.serial('ptp.session and the handovers: nothing answering at --ptp fails each with the address', async (t) => {
  t.timeout(120_000);
  const dir = await makeBench(path.join(work, 'ptp-nobody'), 'ptpcam', mqttOnly);
  const port = await freePort();
  const r = await runBench(dir, [
    '--device-cmd',
    pythonDevice(dir),
    '--ptp',
    `127.0.0.1:${port}`,
    '--cases',
    'mqtt.status',
    'ptp.session',
    'ptp.handover-vendor',
  ]);
  verdicts(
    t,
    r,
    {
      'ptp.session': new RegExp(`^no PTP/IP session with 127\\.0\\.0\\.1:${port}: `),
      'ptp.handover-vendor': new RegExp(`^no PTP/IP session with 127\\.0\\.0\\.1:${port}: `),
    },
    ['mqtt.status'],
  );
});

test.serial('--break subscribe-qos0: mqtt.subscribe fails, mqtt.status passes', async (t) => {
  t.timeout(90_000);
  const dir = await makeBench(path.join(work, 'subscribe-qos0'), 'pycam', mqttOnly);
  const r = await runBench(dir, ['--device-cmd', pythonDevice(dir, ['subscribe-qos0']), '--cases', 'mqtt.status', 'mqtt.subscribe']);
  verdicts(t, r, { 'mqtt.subscribe': /^cameras\/pycam\/upload-targets was subscribed at QoS 0: targets would be lost while the device is away$/ }, [
    'mqtt.status',
  ]);
});

test.serial('ptp.handover-ticket: a read-only responder (SendObjectInfo refused) fails it; the session still works', async (t) => {
  t.timeout(120_000);
  const dir = await makeBench(path.join(work, 'ptp-read-only'), 'ptpcam', mqttOnly);
  const store = card(dir);
  const port = await freePort();
  // A responder that refuses SendObjectInfo/SendObject: a ticket file cannot be handed over.
  const cmd = `${pythonDevice(dir)} & exec ${node} "${CLI}" ptp serve --read-only --port ${port} --storage "${store}"`;
  const r = await runBench(dir, ['--device-cmd', cmd, '--ptp', `127.0.0.1:${port}`, '--cases', 'ptp.session', 'ptp.handover-ticket']);
  verdicts(t, r, { 'ptp.handover-ticket': /^gphoto2 could not send the ticket: / }, ['ptp.session']);
});
