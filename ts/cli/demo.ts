import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { CamwireError } from '../errors';
import type { DemoConnectInfo, DemoEvent, DemoSummary } from '../demo/run';
import { packageRoot } from '../native';
import { Output } from './output';

type Out = () => Output;

export function demoCommand(out: Out): Command {
  return new Command('demo')
    .description(
      'the whole path on this machine with embedded services: CA and certificates, MQTT broker (mTLS), S3-compatible store, KVS endpoint, ' +
        'the simulated camera; the app lists it over PTP/IP, hands over a photo (single PUT) and a trailer (multipart), checks both uploads by SHA-256 ' +
        'and that every fragment of 10 s of live H.264 was PERSISTED. Exits 0 only if every check passed.',
    )
    .addOption(
      new Option('--stream-seconds <n>', 'seconds of live video into KVS').default(10).argParser((v) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 1 || n > 600) throw new CamwireError('CLI_BAD_ARGUMENT', `must be 1-600 seconds, not "${v}"`);
        return n;
      }),
    )
    .option('--no-ffmpeg', 'make the samples with camwire (BMP, I_PCM H.264) even when ffmpeg is installed')
    .option('--keep', 'leave everything running after the checks and print how to connect (Ctrl-C ends it and removes the files)', false)
    .action(async (o: { streamSeconds: number; ffmpeg: boolean; keep: boolean }) => {
      const { runDemo } = require('../demo/run') as typeof import('../demo/run');
      const output = out();
      if (!output.json)
        process.stderr.write('camwire demo: camera -> PTP/IP handover -> pre-signed uploads -> MQTT results -> live video, all on 127.0.0.1\n\n');
      // Ctrl-C during the checks: the running step fails, everything is stopped and the temp files (keys too) removed.
      const interrupt = new AbortController();
      const onSignal = () => interrupt.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let summary: DemoSummary;
      try {
        summary = await runDemo({
          streamSeconds: o.streamSeconds,
          useFfmpeg: o.ffmpeg,
          signal: interrupt.signal,
          onEvent: (e) => printEvent(e, output),
          ...(o.keep
            ? {
                keep: (info: DemoConnectInfo) => {
                  process.off('SIGINT', onSignal);
                  process.off('SIGTERM', onSignal);
                  return keepRunning(info, output);
                },
              }
            : {}),
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      output.result(summary, () => human(summary));
      if (!summary.ok) {
        const failed = summary.steps.find((s) => !s.ok);
        throw new CamwireError('DEMO_FAILED', failed ? `step "${failed.step}" failed: ${failed.detail}` : 'the demo did not finish', {
          hint: 'run it again with CAMWIRE_DEBUG=1; each step above says where it ran',
        });
      }
    });
}

const at = (s: number) => `+${s.toFixed(1)}s`.padStart(7);

function printEvent(e: DemoEvent, o: Output): void {
  if (o.json) {
    process.stdout.write(JSON.stringify(e.kind === 'step' ? { event: 'step', ...e.step } : { event: 'note', at: e.at, text: e.text }) + '\n');
    return;
  }
  if (e.kind === 'note') {
    process.stderr.write(`${at(e.at)}        . ${e.text}\n`);
    return;
  }
  const s = e.step;
  process.stderr.write(`${at(s.at)}  ${s.ok ? 'ok  ' : 'FAIL'}  ${s.step.padEnd(26)} ${`${s.seconds.toFixed(2)}s`.padStart(7)}  ${s.detail}\n`);
  if (s.where) process.stderr.write(`${' '.repeat(7)}        ${''.padEnd(26)} ${''.padStart(7)}  at ${s.where}\n`);
}

function human(s: DemoSummary): string {
  const lines = ['', s.ok ? `camwire demo passed in ${s.seconds.toFixed(1)} s: every check held.` : `camwire demo FAILED after ${s.seconds.toFixed(1)} s.`];
  for (const u of s.uploads) lines.push(`  ${u.path} -> ${u.key}: ${u.bytes} bytes, ${u.parts} part(s), SHA-256 verified`);
  if (s.stream)
    lines.push(`  live video: ${s.stream.frames} frames, ${s.stream.fragmentsPersisted} fragments PERSISTED (${s.stream.fragmentsAtEndpoint} at the endpoint)`);
  if (s.samples === 'camwire') lines.push('  (samples made by camwire: install ffmpeg for a JPEG photo and an MP4 trailer)');
  lines.push(`  Temp files removed. Run \`${camwireInvocation()} demo --keep\` to poke at it with mosquitto_sub, gphoto2 and the aws CLI.`);
  return lines.join('\n');
}

/** A word for a POSIX shell, quoted only when it must be. */
export function shq(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`;
}

/**
 * How to run this camwire as printed: `camwire` when that name on PATH is
 * this package's binary, otherwise node with the absolute path of
 * bin/camwire.js (after `npm install` in a clone nothing is on PATH).
 */
export function camwireInvocation(): string {
  const bin = path.join(packageRoot, 'bin', 'camwire.js');
  const real = (f: string) => {
    try {
      return fs.realpathSync(f);
    } catch {
      return undefined;
    }
  };
  for (const d of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (d && real(path.join(d, 'camwire')) === real(bin)) return 'camwire';
  }
  return `node ${shq(bin)}`;
}

/** The ways in that --keep prints: each a title and commands that run exactly as printed. */
export function keepCommands(i: DemoConnectInfo, camwire = camwireInvocation()): Array<{ title: string; commands: string[] }> {
  const q = shq;
  const env = `AWS_ACCESS_KEY_ID=${q(i.keys.accessKeyId)} AWS_SECRET_ACCESS_KEY=${q(i.keys.secretAccessKey)} AWS_DEFAULT_REGION=${q(i.s3.region)}`;
  const tls = `--cafile ${q(i.mqtt.ca)} --cert ${q(i.mqtt.cert)} --key ${q(i.mqtt.key)}`;
  return [
    {
      title: 'Watch the camera on MQTT (the app certificate may use any topic; a camera only its own):',
      commands: [`mosquitto_sub -h 127.0.0.1 -p ${i.mqtt.port} ${tls} -i camwire-demo-watch -t 'cameras/#' -v`],
    },
    {
      title: 'Talk to the camera over PTP/IP (one session at a time):',
      commands: [`gphoto2 --port ptpip:127.0.0.1:${i.ptp.port}:${i.ptp.port} --summary --list-files`, `${camwire} ptp ls --to ptpip:127.0.0.1:${i.ptp.port}`],
    },
    {
      title: 'Hand the camera another upload target from the cloud side:',
      commands: [
        `${env} ${camwire} presign put --endpoint ${q(i.s3.endpoint)} --bucket ${q(i.s3.bucket)} --key ${q(`devices/${i.thing}/again/${i.photo}`)} --object-path ${q(i.photoPath)} > target.json`,
        `mosquitto_pub -h 127.0.0.1 -p ${i.mqtt.port} ${tls} -i camwire-demo-pub -q 1 -t ${q(`cameras/${i.thing}/upload-targets`)} -f target.json`,
      ],
    },
    {
      title: 'Look at the uploaded objects with the aws CLI (the embedded store checks SigV4):',
      commands: [`${env} aws --endpoint-url ${q(i.s3.endpoint)} s3 ls s3://${q(i.s3.bucket)}/ --recursive`],
    },
    {
      title: 'Stream more live video into the local KVS endpoint:',
      commands: [
        `${env} ${camwire} kvs stream --input ${q(i.kvs.liveFile)} --stream ${q(`${i.kvs.stream}-2`)} --region ${q(i.kvs.region)} --endpoint ${q(i.kvs.endpoint)} --endpoint-ca ${q(i.kvs.ca)} --realtime`,
      ],
    },
  ];
}

async function keepRunning(i: DemoConnectInfo, o: Output): Promise<void> {
  const ways = keepCommands(i);
  const text = [
    '',
    `Everything is still running (files in ${i.dir}). Ctrl-C stops it and removes them.`,
    ...ways.flatMap((w) => ['', w.title, ...w.commands.map((c) => `  ${c}`)]),
  ].join('\n');
  // The keys are the demo's own throwaway ones, printed so the commands run as they are.
  if (o.json) process.stdout.write(JSON.stringify({ event: 'keep', ...i, commands: ways.flatMap((w) => w.commands) }) + '\n');
  else process.stderr.write(text + '\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}
