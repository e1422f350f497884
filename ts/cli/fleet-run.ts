/**
 * `camwire fleet run`: the fleet engine (ts/fleet/run.ts) on the command line.
 * The progress line is the CLI's one Progress, on stderr and only on a TTY.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { CamwireError } from '../errors';
import type { FleetReport } from '../fleet/report-types';
import { Output, Progress } from './output';
import { nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber, readFile } from './args';

interface RunOpts {
  certs: string;
  broker: string;
  brokerCa?: string;
  devices?: number;
  rate: number;
  duration: number;
  publishInterval: number;
  qos: string;
  subscriber: boolean;
  subscriberCert?: string;
  subscriberKey?: string;
  shard?: string;
  workers: number;
  connectTimeout: number;
  maxPending?: number;
  report?: string;
  html?: string;
  streams?: number;
  kvsEndpoint?: string;
  kvsRegion: string;
  kvsCa?: string;
  kvsStreamPrefix?: string;
  streamFps: number;
  streamSize: string;
  uploads?: number;
  uploadInterval: number;
  uploadBytes: number;
  uploadExpires: number;
  s3Endpoint?: string;
  s3Bucket?: string;
  s3Region: string;
  s3Local?: string;
}

const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;

export function summarise(r: FleetReport): string {
  const l = r.latency;
  const errs = Object.entries(r.errors).map(([k, v]) => `${k} ${v}`);
  const proc = r.processes.reduce((s, p) => ({ cpu: s.cpu + p.cpuUserMs + p.cpuSystemMs, rss: Math.max(s.rss, p.peakRssBytes) }), { cpu: 0, rss: 0 });
  return [
    `devices     ${r.devices} (shard ${r.shards.map((s) => `${s.index}/${s.count} [${s.from}, ${s.to})`).join(', ')})`,
    `connected   ${r.connected} at once, ${r.everConnected} ever, ${r.connects} connects, ${r.reconnects} reconnects`,
    `telemetry   ${r.published} published, ${r.acknowledged} acknowledged${r.delivered !== undefined ? `, ${r.delivered} delivered from ${r.deliveredThings ?? '?'} things` : ''}`,
    `connect     p50 ${l.connect.p50} ms  p99 ${l.connect.p99} ms  max ${l.connect.max} ms`,
    `puback      p50 ${l.publish.p50} ms  p99 ${l.publish.p99} ms  max ${l.publish.max} ms`,
    ...(l.delivery ? [`delivery    p50 ${l.delivery.p50} ms  p99 ${l.delivery.p99} ms  max ${l.delivery.max} ms`] : []),
    ...(r.streams
      ? [
          `streams     ${r.streams.started} started, ${r.streams.framesStored} frames stored, ${r.streams.fragmentsPersisted} fragments persisted, ${r.streams.errors ?? 0} failed`,
        ]
      : []),
    ...(l.persist ? [`persisted   p50 ${l.persist.p50} ms  p99 ${l.persist.p99} ms  max ${l.persist.max} ms`] : []),
    ...(r.uploads
      ? [
          `uploads     ${r.uploads.started} started, ${r.uploads.completed} completed (${kib(r.uploads.bytes)}), ${r.uploads.errors ?? 0} failed, ${r.uploads.received ?? 0} targets from the back end`,
        ]
      : []),
    ...(l.upload ? [`upload      p50 ${l.upload.p50} ms  p99 ${l.upload.p99} ms  max ${l.upload.max} ms (target to result acknowledged)`] : []),
    `processes   ${r.processes.length}, CPU ${proc.cpu} ms, peak RSS ${(proc.rss / 1048576).toFixed(1)} MiB${r.rssPerDeviceBytes !== undefined ? `, ${kib(r.rssPerDeviceBytes)} per camera` : ''}`,
    `errors      ${errs.length ? errs.join(', ') : 'none'}`,
  ].join('\n');
}

/**
 * Adds `run` to the `fleet` command. `renderHtml` draws the report's page
 * (ts/fleet/html.ts, given by the fleet command); without it --html is refused.
 */
export function addFleetRun(fleet: Command, out: () => Output, renderHtml?: (r: FleetReport) => string): Command {
  return fleet
    .command('run')
    .description('N simulated cameras, each its own mutual-TLS MQTT connection and certificate, publishing QoS 1 telemetry; writes a mergeable report')
    .requiredOption('--certs <dir>', 'device certificates: {thing}.pem (or .crt) beside {thing}.key, as `fleet certs` writes them')
    .requiredOption('--broker <url>', 'mqtts://HOST:PORT')
    .option('--broker-ca <file>', "CA certificate(s) that signed the broker's certificate (else the system roots; verification is always on)")
    .addOption(new Option('--devices <n>', 'devices in the whole fleet, over every shard (default: every certificate in --certs)').argParser(positiveInt))
    .addOption(new Option('--rate <n>', 'connects per second (this shard, over its workers)').argParser(positiveNumber).default(100))
    .addOption(
      new Option('--duration <s>', 'seconds of steady state after the ramp (all connected, or the connect timeout passed)')
        .argParser(nonNegativeNumber)
        .default(10),
    )
    .addOption(new Option('--publish-interval <s>', 'seconds between telemetry messages of one camera (±10 % jitter)').argParser(positiveNumber).default(1))
    .addOption(new Option('--qos <n>', 'telemetry QoS').choices(['1']).default('1'))
    .option('--subscriber', 'a fleet-side subscriber on cameras/+/telemetry measures delivery latency (identity: {certs}/fleet-subscriber.pem/.key)', false)
    .option('--subscriber-cert <file>', "the subscriber's certificate (default {certs}/fleet-subscriber.pem)")
    .option('--subscriber-key <file>', "the subscriber's key (default {certs}/fleet-subscriber.key)")
    .option('--shard <i/n>', 'this shard: devices [floor(i·N/n), floor((i+1)·N/n))')
    .addOption(new Option('--workers <n>', 'Node processes for this shard, each a part of it; their reports are merged').argParser(positiveInt).default(1))
    .addOption(
      new Option(
        '--max-pending <n>',
        'handshakes open at once during the ramp; beyond, the ramp slows to the broker pace (default: one second at --rate, at least 50)',
      ).argParser(positiveInt),
    )
    .addOption(
      new Option('--connect-timeout <s>', 'give up one connect after this many seconds (then back off and retry)').argParser(positiveNumber).default(30),
    )
    .addOption(new Option('--streams <k>', 'live KVS streams (synthetic video) for the first K devices of this shard').argParser(nonNegativeInt))
    .option('--kvs-endpoint <url>', "KVS control plane URL for GetDataEndpoint (default: the region's)")
    .option('--kvs-region <region>', 'KVS region', 'us-east-1')
    .option('--kvs-ca <file>', "CA bundle for the KVS endpoints' TLS (else Node's roots)")
    .option('--kvs-stream-prefix <p>', 'stream name = prefix + thing name (default: the thing name)')
    .addOption(new Option('--stream-fps <n>', 'frames per second of each stream').argParser(positiveInt).default(10))
    .option('--stream-size <WxH>', 'frame size of each stream, multiples of 16', '64x48')
    .addOption(
      new Option(
        '--uploads <n>',
        'upload cycles for the first N devices of this shard: targets presigned by the fleet (--s3-bucket or --s3-local) and/or from the back end on cameras/{thing}/upload-targets',
      ).argParser(nonNegativeInt),
    )
    .addOption(new Option('--upload-interval <s>', 'seconds between presigned cycles of one device (±10 % jitter)').argParser(positiveNumber).default(10))
    .addOption(new Option('--upload-bytes <n>', 'size of the synthetic object each cycle uploads').argParser(nonNegativeInt).default(65536))
    .addOption(new Option('--upload-expires <s>', 'seconds a presigned target stays valid').argParser(positiveInt).default(900))
    .option('--s3-endpoint <url>', "S3 or S3-compatible endpoint the fleet presigns for (default: the region's S3)")
    .option('--s3-bucket <name>', 'bucket the fleet presigns for (keys: {thing}/fleet/…); AWS credentials from the environment chain')
    .option('--s3-region <region>', 'region of the bucket', 'us-east-1')
    .option('--s3-local <dir>', "presign against camwire's local S3 store, started for the run on 127.0.0.1 with objects in DIR (no AWS keys needed)")
    .option('--report <file>', 'write the report (JSON, mergeable with `fleet merge`)')
    .option('--html <file>', 'write the report as an HTML page (latency distributions, connect ramp)')
    .action(async (o: RunOpts) => {
      // The engine loads only when the command runs.
      const { runFleet, parseShard } = require('../fleet/run') as typeof import('../fleet/run');
      const { parseStreamSize } = require('../fleet/streams') as typeof import('../fleet/streams');
      const output = out();
      if (o.html && !renderHtml)
        throw new CamwireError('CLI_BAD_ARGUMENT', '--html needs the fleet HTML page, which this build lacks; use --report and `fleet merge --html`');
      const shard = o.shard ? parseShard(o.shard) : undefined;
      const streams = o.streams ? { count: o.streams, ...parseStreamSize(o.streamSize) } : undefined;
      if (!streams && (o.kvsEndpoint || o.kvsCa || o.kvsStreamPrefix)) {
        throw new CamwireError('CLI_BAD_ARGUMENT', '--kvs-endpoint, --kvs-ca and --kvs-stream-prefix need --streams K');
      }
      if (!o.uploads && (o.s3Endpoint || o.s3Bucket || o.s3Local)) {
        throw new CamwireError('CLI_BAD_ARGUMENT', '--s3-endpoint, --s3-bucket and --s3-local need --uploads N');
      }
      if (o.s3Local && o.s3Endpoint) throw new CamwireError('CLI_BAD_ARGUMENT', '--s3-local starts its own endpoint: leave out --s3-endpoint');
      const presign =
        o.s3Bucket || o.s3Local
          ? {
              bucket: o.s3Bucket ?? 'camwire-fleet',
              region: o.s3Region,
              expiresIn: o.uploadExpires,
              ...(o.s3Endpoint ? { endpoint: o.s3Endpoint } : {}),
            }
          : undefined;
      const uploads = o.uploads
        ? {
            count: o.uploads,
            intervalS: o.uploadInterval,
            bytes: o.uploadBytes,
            ...(presign ? { presign } : {}),
            ...(o.s3Local ? { localStoreDir: path.resolve(o.s3Local) } : {}),
          }
        : undefined;
      const subscriber = o.subscriberCert || o.subscriberKey ? { certFile: o.subscriberCert ?? '', keyFile: o.subscriberKey ?? '' } : o.subscriber;
      if (typeof subscriber === 'object' && (!subscriber.certFile || !subscriber.keyFile)) {
        throw new CamwireError('CLI_BAD_ARGUMENT', '--subscriber-cert and --subscriber-key go together');
      }
      const progress = new Progress('fleet', !output.json);
      const ac = new AbortController();
      const onSig = () => ac.abort();
      process.once('SIGINT', onSig);
      process.once('SIGTERM', onSig);
      let report: FleetReport;
      try {
        report = await runFleet(
          {
            certsDir: o.certs,
            broker: o.broker,
            ...(o.brokerCa ? { brokerCaPem: readFile(o.brokerCa, 'broker CA') } : {}),
            ...(o.devices ? { devices: o.devices } : {}),
            rate: o.rate,
            durationS: o.duration,
            publishIntervalS: o.publishInterval,
            subscriber,
            ...(shard ? { shard } : {}),
            workers: o.workers,
            connectTimeoutS: o.connectTimeout,
            ...(o.maxPending ? { maxPending: o.maxPending } : {}),
            ...(streams
              ? {
                  streams: {
                    ...streams,
                    region: o.kvsRegion,
                    fps: o.streamFps,
                    ...(o.kvsEndpoint ? { endpoint: o.kvsEndpoint } : {}),
                    ...(o.kvsCa ? { caFile: o.kvsCa } : {}),
                    ...(o.kvsStreamPrefix ? { prefix: o.kvsStreamPrefix } : {}),
                  },
                }
              : {}),
            ...(uploads ? { uploads } : {}),
          },
          {
            signal: ac.signal,
            onNote: (n) => output.info(`  ${n}`),
            onProgress: (p) =>
              progress.status(
                `${Math.round(p.elapsedS)} s  ${p.connected}/${p.devices} connected  ${Math.round(p.msgsPerS)} msg/s  PUBACK p99 ${p.p99PublishMs} ms${p.uploads !== undefined ? `  ${p.uploads} uploads` : ''}  ${p.errors} errors`,
              ),
          },
        );
      } finally {
        progress.end();
        process.off('SIGINT', onSig);
        process.off('SIGTERM', onSig);
      }
      if (o.report) fs.writeFileSync(o.report, JSON.stringify(report, null, 2) + '\n');
      if (o.html && renderHtml) fs.writeFileSync(o.html, renderHtml(report));
      output.result(report, () => summarise(report));
    });
}
