import fs from 'node:fs';
import { Command, Option } from 'commander';
import { CamwireError } from '../errors';
import type { KvsCredentialSource, KvsStream } from '../kvs';
// Loaded when a command runs, not when the CLI starts: `kvs stream --out` needs only the packager.
const kvsLib = () => require('../kvs') as typeof import('../kvs');
import type { DeviceConnection } from '../mqtt';
import type { StreamEventPublisher } from '../kvs';
import { addConnectionOptions, ConnOptsPartial, openConnection } from './mqtt';
import { Output } from './output';
import { portNumber, positiveInt, positiveNumber, readFile } from './args';

interface StreamOpts extends ConnOptsPartial {
  input: string;
  out?: string;
  stream?: string;
  region?: string;
  endpoint?: string;
  endpointCa?: string;
  fps: number;
  codec: 'h264' | 'h265' | 'auto';
  audio?: string;
  audioFormat: 'adts' | 'alaw' | 'mulaw';
  audioRate: number;
  audioChannels: number;
  fragmentMs: number;
  storeMb: number;
  storeDir?: string;
  realtime: boolean;
  absolute: boolean;
  profile?: string;
  iotCredentials?: string;
  roleAlias?: string;
  iotCa?: string;
}

function readInput(input: string): Buffer {
  try {
    return fs.readFileSync(input === '-' ? 0 : input);
  } catch (e) {
    throw new CamwireError('CLI_FILE_NOT_FOUND', `cannot read ${input}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

async function offlineSink(o: StreamOpts, out: Output): Promise<void> {
  const t0 = Date.now();
  if (o.audio === '-' && o.input === '-') throw new CamwireError('CLI_USAGE', '--input and --audio cannot both be stdin');
  const common = {
    fps: o.fps,
    fragmentDurationMs: o.fragmentMs,
    absoluteTimecodes: o.absolute,
    codec: o.codec,
    ...(o.audio ? { audioFormat: o.audioFormat, audioRate: o.audioRate, audioChannels: o.audioChannels } : {}),
  };
  // Files are packaged natively from end to end (mapped in, written in pieces); a pipe is read first.
  const r =
    o.input !== '-' && o.audio !== '-'
      ? await kvsLib().packageFile(o.input, o.out!, { ...common, ...(o.audio ? { audio: o.audio } : {}) })
      : await kvsLib()
          .packageAnnexB(readInput(o.input), { ...common, ...(o.audio ? { audio: readInput(o.audio) } : {}) })
          .then((p) => {
            fs.writeFileSync(o.out!, p.mkv);
            return p;
          });
  out.result(
    {
      out: o.out,
      bytes: r.bytes,
      frames: r.frames,
      fragments: r.fragments,
      width: r.width,
      height: r.height,
      codec: r.codec,
      ...(o.audio ? { audio: { frames: r.audioFrames, ms: r.audioMs, rate: r.audioRate, channels: r.audioChannels } } : {}),
      ms: Date.now() - t0,
    },
    `${o.out}: ${r.frames} ${r.codec === 'h265' ? 'H.265' : 'H.264'} frames in ${r.fragments} fragment(s), ${r.width}x${r.height}, ${r.bytes} bytes`,
  );
}

function credentialSource(o: StreamOpts): KvsCredentialSource {
  if (o.iotCredentials) {
    if (!o.roleAlias || !o.thing || !o.cert || !o.key) {
      throw new CamwireError(
        'CLI_USAGE',
        '--iot-credentials needs --role-alias, --thing, --cert and --key (the device certificate is exchanged for credentials)',
      );
    }
    return new (kvsLib().IotCredentialsProvider)({
      endpoint: o.iotCredentials,
      roleAlias: o.roleAlias,
      thing: o.thing,
      cert: readFile(o.cert, 'certificate'),
      key: readFile(o.key, 'key'),
      ...(o.iotCa ? { ca: readFile(o.iotCa, 'CA') } : {}),
    });
  }
  return () => kvsLib().awsChainCredentials(o.profile ? { profile: o.profile } : {});
}

async function streamToKvs(o: StreamOpts, out: Output): Promise<void> {
  if (o.audio === '-' && o.input === '-') throw new CamwireError('CLI_USAGE', '--input and --audio cannot both be stdin');
  if (!o.stream) throw new CamwireError('CLI_USAGE', 'kvs stream needs --stream NAME (or --out FILE.mkv for the offline sink)');
  if (!o.region) throw new CamwireError('CLI_USAGE', 'kvs stream needs --region (or AWS_REGION)');
  const credentials = credentialSource(o);
  // Before any connection: a region without KVS (or no region at all) is refused with nothing opened.
  const endpoint = o.endpoint ?? kvsLib().kvsControlEndpoint(o.region);
  let conn: DeviceConnection | undefined;
  if (o.url) {
    if (!o.thing) throw new CamwireError('CLI_USAGE', '--url needs --thing');
    conn = await openConnection({ ...o, url: o.url, thing: o.thing }, out);
  }
  // With audio, the first video frame's time is known here: the audio is timed from it by sample count.
  const startMs = Date.now();
  const s = new (kvsLib().KvsStream)({
    streamName: o.stream,
    region: o.region,
    endpoint,
    credentials,
    fps: o.fps,
    codec: o.codec,
    fragmentDurationMs: o.fragmentMs,
    storeBytes: o.storeMb << 20,
    ...(o.storeDir ? { storeDir: o.storeDir } : {}),
    ...(o.endpointCa ? { caFile: o.endpointCa } : {}),
    ...(o.audio
      ? {
          startMs,
          audio: o.audioFormat === 'adts' ? { codec: 'aac' as const } : { codec: o.audioFormat, sampleRate: o.audioRate, channels: o.audioChannels },
        }
      : {}),
  });
  const events: StreamEventPublisher | undefined =
    conn && o.thing ? new (require('../kvs') as typeof import('../kvs')).StreamEventPublisher(conn, o.thing, o.stream) : undefined;
  events?.attach(s, { region: o.region, endpoint });
  out.info(`streaming to ${o.stream} in ${o.region} via ${endpoint}`);
  let persisted = 0;
  s.on('ack', (a: { type: string }) => {
    if (a.type === 'PERSISTED') persisted++;
  });
  // Warnings are lines on stderr, and with --json the result lists them (the first 100).
  const warnings: Array<{ code: string; message: string }> = [];
  s.on('warning', (e: CamwireError) => {
    if (warnings.length < 100) warnings.push({ code: e.code, message: e.message });
    out.info(`  ${e.code}: ${e.message}`);
  });
  s.on('dropped', (d: { frames: number }) => out.info(`  dropped ${d.frames} frame(s): the store is full`));
  s.on('error', () => undefined); // close() rejects with it
  const tty = process.stderr.isTTY === true && !out.json;
  s.on('metrics', (m: { framesStored: number; bytesSent: number }) => {
    if (tty) process.stderr.write(`\r  ${m.framesStored} frames, ${persisted} fragments persisted, ${(m.bytesSent / 1e6).toFixed(1)} MB sent`);
  });
  const t0 = Date.now();
  let failure: CamwireError | undefined;
  let summary;
  try {
    await feed(s, o, startMs);
    summary = await s.close();
    // The same rule as --out: input with no H.264 frames (garbage, empty) is an error, not "0 frames".
    if (summary.metrics.framesStored === 0 && summary.metrics.framesDropped === 0) {
      throw new CamwireError('KVS_NO_CODEC_DATA', `${o.input === '-' ? 'stdin' : o.input} held no H.264 frames; nothing was streamed`, {
        hint: 'give raw H.264 in Annex-B form with SPS and PPS (ffmpeg ... -c:v libx264 -bsf:v h264_mp4toannexb -f h264 -)',
      });
    }
  } catch (e) {
    failure = e instanceof CamwireError ? e : new CamwireError('KVS_FAILED', (e as Error).message, { cause: e });
  }
  if (tty) process.stderr.write('\n');
  const metrics = summary?.metrics ?? s.metrics();
  await events?.stopped(metrics, failure);
  await conn?.close();
  if (failure) throw failure;
  out.result(
    {
      stream: o.stream,
      region: o.region,
      endpoint,
      frames: metrics.framesStored,
      ...(o.audio ? { audioFrames: metrics.audioFramesStored, audioDropped: metrics.audioFramesDropped } : {}),
      ...(o.storeDir ? { framesRecovered: metrics.framesRecovered } : {}),
      dropped: metrics.framesDropped,
      fragmentsPersisted: metrics.fragmentsPersisted,
      bytesSent: metrics.bytesSent,
      connections: metrics.connections,
      clockOffsetMs: metrics.clockOffsetMs,
      warnings,
      ms: Date.now() - t0,
    },
    `${o.stream}: ${metrics.framesStored} frames in ${metrics.fragmentsPersisted} fragment(s) PERSISTED over ${metrics.connections} connection(s)${o.audio ? `, ${metrics.audioFramesStored} audio frames` : ''}, ${metrics.bytesSent} bytes sent${metrics.framesDropped ? `, ${metrics.framesDropped} frames dropped` : ''}`,
  );
}

/** Reads the input (and the audio, kept just ahead of the video) into the stream; with --realtime no faster than the frame rate. */
function feed(s: KvsStream, o: StreamOpts, startMs: number): Promise<void> {
  const audio = o.audio
    ? new (kvsLib().AudioSource)(o.audio === '-' ? process.stdin : fs.createReadStream(o.audio, { highWaterMark: 64 << 10 }), {
        format: o.audioFormat,
        rate: o.audioRate,
        channels: o.audioChannels,
        what: o.audio === '-' ? 'stdin' : o.audio,
      })
    : undefined;
  return kvsLib().feedAnnexB(s, () => (o.input === '-' ? process.stdin : fs.createReadStream(o.input, { highWaterMark: 256 << 10 })), {
    fps: o.fps,
    realtime: o.realtime,
    what: o.input,
    ...(audio ? { audio: { source: audio, startMs } } : {}),
  });
}

type Out = () => Output;

export function kvsCommand(out: Out): Command {
  const kvs = new Command('kvs').description('Kinesis Video Streams: live H.264 into KVS with PutMedia, an offline MKV sink, and a local endpoint');
  addConnectionOptions(
    kvs
      .command('stream')
      .description('stream Annex-B H.264 or H.265 into KVS with PutMedia (the native producer), or with --out package it into an MKV file (no network)')
      .requiredOption('--input <file>', 'Annex-B H.264 or H.265 (- for stdin, e.g. ffmpeg ... -f h264 - or -f hevc -)')
      .option('--out <file>', 'offline sink: write the MKV PutMedia would send to this file instead')
      .option('--stream <name>', 'KVS stream name (required unless --out)')
      .option('--region <region>', 'AWS region', process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'])
      .option(
        '--endpoint <url>',
        "control plane URL for GetDataEndpoint (default the region's, e.g. https://kinesisvideo.cn-north-1.amazonaws.com.cn; a local one: camwire kvs serve-local)",
      )
      .option('--endpoint-ca <file>', "CA bundle for the KVS endpoints' TLS certificates (default: Node's roots)")
      .addOption(new Option('--fps <n>', 'frame rate of the input').argParser(positiveNumber).default(30))
      .option('--audio <file>', 'an audio track from ADTS AAC (or raw G.711 with --audio-format), interleaved with the video (- for stdin)')
      .addOption(new Option('--audio-format <format>', 'the --audio input').choices(['adts', 'alaw', 'mulaw']).default('adts'))
      .addOption(new Option('--audio-rate <hz>', 'G.711 sample rate').argParser(positiveInt).default(8000))
      .addOption(new Option('--audio-channels <n>', 'G.711 channels').argParser(positiveInt).default(1))
      .addOption(new Option('--codec <codec>', 'video codec of the input (auto: from its parameter sets)').choices(['h264', 'h265', 'auto']).default('auto'))
      .addOption(new Option('--fragment-ms <ms>', 'fragment (cluster) duration').argParser(positiveInt).default(2000))
      .addOption(new Option('--store-mb <n>', 'fragment store bound (MiB; with --store-dir, of the disk)').argParser(positiveInt).default(64))
      .option('--store-dir <dir>', 'keep the fragment store on disk: nothing not yet PERSISTED is lost to an outage or a restart (sent first next time)')
      .option('--realtime', "feed a file no faster than its frame rate (a live camera's pace)", false)
      .option('--absolute', 'with --out: ABSOLUTE cluster timecodes (epoch ms) instead of RELATIVE', false)
      .option('--profile <name>', 'AWS profile for the standard credential chain')
      .option('--iot-credentials <host>', 'use the AWS IoT credentials provider at this endpoint (needs --role-alias, --thing, --cert, --key)')
      .option('--role-alias <alias>', 'IoT role alias for the credentials provider')
      .option('--iot-ca <file>', "CA of the credentials provider's TLS certificate (default: Node's roots)"),
    false,
  ).action(async (o: StreamOpts) => {
    if (o.out) return offlineSink(o, out());
    await streamToKvs(o, out());
  });
  kvs
    .command('serve-local')
    .description('a local KVS endpoint (GetDataEndpoint + PutMedia with acks, SigV4 checked) on 127.0.0.1, storing sessions in --dir')
    .addOption(new Option('--port <port>', 'port (0 = any free one)').argParser(portNumber).default(0))
    .requiredOption('--dir <dir>', 'where sessions are stored (DIR/<stream>/session-N.mkv and .json)')
    .option('--region <region>', 'region the signatures must be scoped to', 'us-east-1')
    .addOption(new Option('--drop-after <n>', 'fault: drop each PutMedia connection after n fragments').argParser(positiveInt))
    .addOption(new Option('--error-after <n>', 'fault: send an ERROR ack (5000) after n fragments').argParser(positiveInt))
    .option('--stall-acks', 'fault: send no acks', false)
    .option('--answer-without-acks', 'fault: answer each PutMedia 200 at once and acknowledge nothing', false)
    .option('--discard', 'keep nothing (only counts): for benchmarks', false)
    .addOption(
      new Option('--error-fragments <list>', 'fault: answer these fragments (1-based, comma-separated) with an ERROR ack the first time they arrive').argParser(
        (v: string) => v.split(',').map((x) => positiveInt(x)),
      ),
    )
    .addOption(new Option('--error-every <n>', 'fault: answer every n-th fragment with an ERROR ack the first time it arrives').argParser(positiveInt))
    .addOption(
      new Option('--clock-offset <s>', "fault: the endpoint's clock runs this many seconds ahead (negative: behind); signatures are judged by it").argParser(
        Number,
      ),
    )
    .action(
      async (o: {
        port: number;
        dir: string;
        region: string;
        dropAfter?: number;
        errorAfter?: number;
        stallAcks: boolean;
        answerWithoutAcks: boolean;
        discard: boolean;
        errorFragments?: number[];
        errorEvery?: number;
        clockOffset?: number;
      }) => {
        if (o.clockOffset !== undefined && !Number.isFinite(o.clockOffset))
          throw new CamwireError('CLI_USAGE', '--clock-offset takes seconds, e.g. 900 or -120');
        // The endpoint checks signatures against the credentials in this environment;
        // it never invents and prints a secret.
        const accessKeyId = process.env['AWS_ACCESS_KEY_ID'];
        const secretAccessKey = process.env['AWS_SECRET_ACCESS_KEY'];
        if (!accessKeyId || !secretAccessKey) {
          throw new CamwireError('KVS_NO_CREDENTIALS', 'serve-local checks SigV4 against AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment', {
            hint: 'set both (any values for local testing) and give the producer the same pair',
          });
        }
        const { LocalKvsEndpoint } = require('../local') as typeof import('../local');
        const ep = new LocalKvsEndpoint({
          dir: o.dir,
          port: o.port,
          region: o.region,
          credentials: [{ accessKeyId, secretAccessKey }],
          discard: o.discard,
          ...(o.clockOffset !== undefined ? { clockOffsetMs: Math.round(o.clockOffset * 1000) } : {}),
          faults: {
            ...(o.errorFragments || o.errorEvery
              ? { errorAcks: { ...(o.errorFragments ? { fragments: o.errorFragments } : {}), ...(o.errorEvery ? { every: o.errorEvery } : {}) } }
              : {}),
            ...(o.dropAfter ? { dropAfterFragments: o.dropAfter } : {}),
            ...(o.errorAfter ? { errorAck: { afterFragments: o.errorAfter, errorId: 5000 } } : {}),
            stallAcks: o.stallAcks,
            answerWithoutAcks: o.answerWithoutAcks,
          },
        });
        await ep.start();
        out().result(
          { url: ep.url, region: o.region, accessKeyId, dir: o.dir },
          `local KVS endpoint on ${ep.url} (region ${o.region}, access key ${accessKeyId}), sessions in ${o.dir}\nCtrl-C stops it`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await ep.stop();
      },
    );
  return kvs;
}
