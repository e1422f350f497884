import { Command, Option } from 'commander';
import { CamwireError } from '../errors';
import type { DemoConnectInfo, DemoEvent, DemoSummary } from '../demo/run';
import { Output } from './output';

type Out = () => Output;

export function demoCommand(out: Out): Command {
  return new Command('demo')
    .description('the whole path on this machine with embedded services: CA and certificates, MQTT broker (mTLS), S3-compatible store, KVS endpoint, '
      + 'the simulated camera; the app lists it over PTP/IP, hands over a photo (single PUT) and a trailer (multipart), checks both uploads by SHA-256 '
      + 'and that every fragment of 10 s of live H.264 was PERSISTED. Exits 0 only if every check passed.')
    .addOption(new Option('--stream-seconds <n>', 'seconds of live video into KVS').default(10).argParser((v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 1 || n > 600) throw new CamwireError('CLI_BAD_ARGUMENT', `--stream-seconds must be 1-600, not "${v}"`);
      return n;
    }))
    .option('--no-ffmpeg', 'make the samples with camwire (BMP, I_PCM H.264) even when ffmpeg is installed')
    .option('--keep', 'leave everything running after the checks and print how to connect (Ctrl-C ends it and removes the files)', false)
    .action(async (o: { streamSeconds: number; ffmpeg: boolean; keep: boolean }) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { runDemo } = require('../demo/run') as typeof import('../demo/run');
      const output = out();
      if (!output.json) process.stderr.write('camwire demo: camera -> PTP/IP handover -> pre-signed uploads -> MQTT results -> live video, all on 127.0.0.1\n\n');
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
          ...(o.keep ? { keep: (info: DemoConnectInfo) => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); return keepRunning(info, output); } } : {}),
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      output.result(summary, () => human(summary));
      if (!summary.ok) {
        const failed = summary.steps.find((s) => !s.ok);
        throw new CamwireError('DEMO_FAILED', failed ? `step "${failed.step}" failed: ${failed.detail}` : 'the demo did not finish', { hint: 'run it again with CAMWIRE_DEBUG=1; each step above says where it ran' });
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
  if (s.stream) lines.push(`  live video: ${s.stream.frames} frames, ${s.stream.fragmentsPersisted} fragments PERSISTED (${s.stream.fragmentsAtEndpoint} at the endpoint)`);
  if (s.samples === 'camwire') lines.push('  (samples made by camwire: install ffmpeg for a JPEG photo and an MP4 trailer)');
  lines.push('  Temp files removed. Run `camwire demo --keep` to poke at it with mosquitto_sub, gphoto2 and the aws CLI.');
  return lines.join('\n');
}

async function keepRunning(i: DemoConnectInfo, o: Output): Promise<void> {
  const env = `AWS_ACCESS_KEY_ID=${i.keys.accessKeyId} AWS_SECRET_ACCESS_KEY=${i.keys.secretAccessKey} AWS_DEFAULT_REGION=${i.s3.region}`;
  const text = [
    '',
    `Everything is still running (files in ${i.dir}). Ctrl-C stops it and removes them.`,
    '',
    'Watch the camera on MQTT (the app certificate may use any topic; a camera only its own):',
    `  mosquitto_sub -h 127.0.0.1 -p ${i.mqtt.port} --cafile ${i.mqtt.ca} --cert ${i.mqtt.cert} --key ${i.mqtt.key} -i camwire-demo-watch -t 'cameras/#' -v`,
    '',
    'Talk to the camera over PTP/IP (one session at a time):',
    `  gphoto2 --port ptpip:127.0.0.1:${i.ptp.port}:${i.ptp.port} --summary --list-files`,
    `  camwire ptp ls --to ptpip:127.0.0.1:${i.ptp.port}`,
    '',
    'Hand the camera another upload target from the cloud side:',
    `  ${env} camwire presign put --endpoint ${i.s3.endpoint} --bucket ${i.s3.bucket} --key devices/${i.thing}/again/${i.photo} --object-path ${i.photoPath} > target.json`,
    `  mosquitto_pub -h 127.0.0.1 -p ${i.mqtt.port} --cafile ${i.mqtt.ca} --cert ${i.mqtt.cert} --key ${i.mqtt.key} -i camwire-demo-pub -q 1 -t cameras/${i.thing}/upload-targets -f target.json`,
    '',
    'Look at the uploaded objects with the aws CLI (the embedded store checks SigV4):',
    `  ${env} aws --endpoint-url ${i.s3.endpoint} s3 ls s3://${i.s3.bucket}/ --recursive`,
    '',
    'Stream more live video into the local KVS endpoint:',
    `  ${env} camwire kvs stream --input ${i.kvs.liveFile} --stream ${i.kvs.stream}-2 --region ${i.kvs.region} --endpoint ${i.kvs.endpoint} --endpoint-ca ${i.kvs.ca} --realtime`,
  ].join('\n');
  if (o.json) process.stdout.write(JSON.stringify({ event: 'keep', ...i }) + '\n');
  else process.stderr.write(text + '\n');
  await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
}
