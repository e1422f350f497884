import { Command } from 'commander';
import type { CamwireError } from '../errors';
import type { UploadResult } from '../upload';
import { Output } from './output';

type Out = () => Output;

export function deviceCommand(out: Out): Command {
  return new Command('device')
    .description('run the simulated camera: PTP (targets from the app), MQTT (targets from the cloud), uploads, published results')
    .requiredOption('--config <file>', 'device configuration (JSON; see docs/device-config.example.json)')
    .action(async (o: { config: string }) => {
      const { loadAgentConfig } = require('../orchestrator/config') as typeof import('../orchestrator/config');
      const { DeviceAgent } = require('../orchestrator/agent') as typeof import('../orchestrator/agent');
      const agent = new DeviceAgent(loadAgentConfig(o.config));
      const line = (v: Record<string, unknown>, human: string) => out().event(v, human);
      agent.on('job', (j: { id: string; source: string }) => line({ event: 'job', ...j }, `job ${j.id} (from ${j.source})`));
      agent.on('duplicate', (j: { id: string; source: string }) =>
        line({ event: 'duplicate', ...j }, `${j.id}: seen again (from ${j.source}); already done, its result published again`),
      );
      agent.on('result', (r: UploadResult) =>
        line({ event: 'result', result: r }, `${r.id}: ${r.status}${r.error ? ` ${r.error.code}: ${r.error.message}` : ` ${r.bytes} bytes`}`),
      );
      agent.on('checkpoint', (c: { id: string }) =>
        line({ event: 'checkpoint', id: c.id }, `${c.id}: stopped mid-upload; confirmed parts kept in the journal, resumes on the next start`),
      );
      agent.on('retry', (r: { what: string; attempt: number; delayMs: number; error: string }) =>
        line({ event: 'retry', ...r }, `retrying ${r.what} in ${r.delayMs} ms (attempt ${r.attempt}: ${r.error})`),
      );
      agent.on('warning', (e: CamwireError) => line({ event: 'warning', error: { code: e.code, message: e.message } }, `${e.code}: ${e.message}`));
      const started = await agent.start();
      const c = agent.config;
      line(
        { event: 'ready', thing: c.thing, ptp: started.ptp ?? null, mqtt: c.mqtt?.url ?? null },
        `camera ${c.thing} ready: storage ${c.storage}` +
          (c.mqtt ? `, MQTT ${c.mqtt.url}` : '') +
          (started.ptp ? (started.ptp.usb ? `, PTP over virtual USB (${started.ptp.usb})` : `, PTP/IP on ${c.ptp!.host}:${started.ptp.port}`) : '') +
          '  (Ctrl-C stops it)',
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      line({ event: 'stopping' }, 'stopping: checkpointing uploads, closing the live stream, flushing the outbox');
      await agent.stop();
    });
}
