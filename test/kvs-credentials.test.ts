/**
 * Credentials as cameras get them: the device certificate (mutual TLS) is
 * exchanged at the IoT credentials provider for short-lived credentials,
 * refreshed before expiry; the local KVS endpoint accepts PutMedia signed
 * with them (session token included) and refuses them once expired. AWS
 * cannot be reached here, so a local mutual-TLS endpoint stands in for the
 * credentials provider.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { CertificateAuthority } from '../ts/pki';
import { awsChainCredentials, IotCredentialsProvider, KvsAck, KvsStream, packageAnnexB } from '../ts/kvs';
import { LocalIotCredentialsEndpoint, LocalKvsEndpoint } from '../ts/local';
import { makeClip } from './helpers/h264';
import { CamwireError } from '../ts/errors';
import { device } from './helpers/pki';
import { putMedia } from './helpers/putmedia';
import { run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('kvs-creds');
let ca: CertificateAuthority;
let kvs: LocalKvsEndpoint;
let provider: LocalIotCredentialsEndpoint;
let clip: Buffer;

test.before(async () => {
  ca = (await CertificateAuthority.create({ keyType: 'ec' })).ca;
  const server = await ca.issueServer('localhost', ['127.0.0.1'], { keyType: 'ec' });
  kvs = new LocalKvsEndpoint({ dir: path.join(dir, 'kvs'), credentials: [{ accessKeyId: 'AKIDSTATIC', secretAccessKey: 'static' }], region: 'us-east-1' });
  await kvs.start();
  provider = new LocalIotCredentialsEndpoint({ ca: ca.certPem, cert: server.certPem, key: server.keyPem, roleAlias: 'camera-kvs', lifetimeSeconds: 3, kvs });
  await provider.start();
  const h264 = path.join(dir, 'c.h264');
  const r = run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=160x120:rate=10',
    '-t',
    '2',
    '-pix_fmt',
    'yuv420p',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-bf',
    '0',
    '-g',
    '10',
    '-f',
    'h264',
    h264,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg (apt-get install ffmpeg): ${r.stderr}`);
  clip = (await packageAnnexB(fs.readFileSync(h264), { fps: 10, fragmentDurationMs: 1000, absoluteTimecodes: true })).mkv;
});
test.after.always(async () => {
  await provider?.stop();
  await kvs?.stop();
});

async function providerFor(thing: string, files: { cert: string; key: string }, refreshBeforeMs = 1000): Promise<IotCredentialsProvider> {
  return new IotCredentialsProvider({
    endpoint: provider.url,
    roleAlias: 'camera-kvs',
    thing,
    cert: fs.readFileSync(files.cert),
    key: fs.readFileSync(files.key),
    ca: ca.certPem,
    refreshBeforeMs,
  });
}

test.serial('the device certificate buys short-lived credentials; PutMedia signed with them (and their token) is accepted', async (t) => {
  const cam = await device(ca, dir, 'camera001');
  const p = await providerFor('camera001', cam);
  const [a, b] = await Promise.all([p.get(), p.get()]);
  t.is(p.fetches, 1, 'concurrent callers share one fetch');
  t.is(a, b);
  t.regex(a.accessKeyId, /^ASIA/);
  t.truthy(a.sessionToken);
  const r = await putMedia(kvs.port, clip, { accessKeyId: a.accessKeyId, secretAccessKey: a.secretAccessKey, sessionToken: a.sessionToken! });
  t.is(r.status, 200, r.body);
  t.is(r.acks.filter((x) => x.EventType === 'PERSISTED').length, 2);
  // Without the token the same keys are refused.
  const noToken = await putMedia(kvs.port, clip, { accessKeyId: a.accessKeyId, secretAccessKey: a.secretAccessKey });
  t.is(noToken.status, 403);
});

test.serial('credentials are refreshed before they expire, and expired ones are refused', async (t) => {
  const cam = await device(ca, dir, 'camera001', {}, 'camera001-b');
  const p = await providerFor('camera001', cam, 2000);
  const first = await p.get();
  t.is(await p.get(), first, 'still fresh: cached');
  await new Promise((r) => setTimeout(r, 1200));
  const second = await p.get();
  t.not(second.accessKeyId, first.accessKeyId, 'within 2 s of expiry: refreshed');
  t.is(p.fetches, 2);
  await new Promise((r) => setTimeout(r, 2000));
  const expired = await putMedia(kvs.port, clip, { accessKeyId: first.accessKeyId, secretAccessKey: first.secretAccessKey, sessionToken: first.sessionToken! });
  t.is(expired.status, 403);
  t.regex(expired.body, /expired/);
});

test.serial('a certificate for another thing, or from a foreign CA, is denied', async (t) => {
  const cam = await device(ca, dir, 'camera002');
  const denied = await t.throwsAsync<CamwireError>((await providerFor('camera001', cam)).get());
  t.is(denied!.code, 'KVS_CREDENTIALS_DENIED');
  const foreign = (await CertificateAuthority.create({ keyType: 'ec' })).ca;
  const rogue = await device(foreign, dir, 'camera001', {}, 'rogue-camera001');
  const untrusted = await t.throwsAsync<CamwireError>((await providerFor('camera001', rogue)).get());
  t.is(untrusted!.code, 'KVS_CREDENTIALS_DENIED', untrusted!.message);
});

test.serial('the standard AWS chain: environment first, then a profile in the shared credentials file', async (t) => {
  const home = path.join(dir, 'home');
  fs.mkdirSync(path.join(home, '.aws'), { recursive: true });
  fs.writeFileSync(path.join(home, '.aws', 'credentials'), '[camera]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n');
  const saved = { ...process.env };
  try {
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
    process.env['HOME'] = home;
    process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIDENV';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'env-secret';
    t.like(await awsChainCredentials(), { accessKeyId: 'AKIDENV', secretAccessKey: 'env-secret' });
    delete process.env['AWS_ACCESS_KEY_ID'];
    delete process.env['AWS_SECRET_ACCESS_KEY'];
    t.like(await awsChainCredentials({ profile: 'camera' }), { accessKeyId: 'AKIDPROFILE', secretAccessKey: 'profile-secret' });
    const e = await t.throwsAsync<CamwireError>(awsChainCredentials({ profile: 'nope' }));
    t.is(e!.code, 'KVS_NO_CREDENTIALS');
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

test.serial('a live stream on IoT credentials: refreshed mid-stream, the connection rotated before they expire, nothing lost', async (t) => {
  const cam = await device(ca, dir, 'camera003');
  const server = await ca.issueServer('localhost', ['127.0.0.1'], { keyType: 'ec' });
  const shortLived = new LocalIotCredentialsEndpoint({
    ca: ca.certPem,
    cert: server.certPem,
    key: server.keyPem,
    roleAlias: 'camera-kvs',
    lifetimeSeconds: 6,
    kvs,
  });
  await shortLived.start();
  t.teardown(() => shortLived.stop());
  const p = new IotCredentialsProvider({
    endpoint: shortLived.url,
    roleAlias: 'camera-kvs',
    thing: 'camera003',
    cert: fs.readFileSync(cam.cert),
    key: fs.readFileSync(cam.key),
    ca: ca.certPem,
    refreshBeforeMs: 3000,
  });
  const live = makeClip(dir, { seconds: 10, fps: 10, size: '160x120', name: 'live.h264' });
  const s = new KvsStream({ streamName: 'cam-iot', region: 'us-east-1', endpoint: kvs.url, credentials: p, fragmentDurationMs: 1000, backoffBaseMs: 50 });
  const warnings: string[] = [];
  s.on('warning', (w: CamwireError) => warnings.push(`${w.code}: ${w.message}`));
  const persisted: number[] = [];
  s.on('ack', (a: KvsAck) => {
    if (a.type === 'PERSISTED') persisted.push(a.timecode!);
  });
  const first = kvs.sessions.length;
  const t0 = Date.now();
  const pts: number[] = [];
  for (let i = 0; i < live.frames.length; i++) {
    pts.push(t0 + i * 100);
    s.putFrame(live.frames[i]!, { pts: t0 + i * 100 });
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + (i + 1) * 100 - Date.now())));
  }
  await s.close();
  const sessions = kvs.sessions.slice(first).filter((x) => x.stream === 'cam-iot');
  t.true(p.fetches >= 2, `${p.fetches} credential fetches`);
  t.true(sessions.length >= 2, `${sessions.length} sessions`);
  t.deepEqual(
    sessions.map((x) => x.endedBy).filter((e) => e !== 'client'),
    [],
    'every session ended by the producer, none by expiry',
  );
  t.deepEqual(warnings, []);
  t.deepEqual(
    [...new Set(persisted)],
    pts.filter((_, i) => i % 10 === 0),
  );
  t.deepEqual(
    [...new Set(sessions.flatMap((x) => x.frameTimecodes))].sort((a, b) => a - b),
    pts,
  );
});
