import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { CamwireError } from '../errors';
import { PtpCamera, PtpClient, PtpObject, usbDevices } from '../ptp';
import { portNumber } from './args';
import { Output } from './output';

type Out = () => Output;

const toOption = () => new Option('--to <address>', 'the camera: ptpip:IPv4[:PORT], usb (the first PTP camera) or usb:BUS:DEV').makeOptionMandatory();

async function withClient<T>(to: string, f: (c: PtpClient) => Promise<T>): Promise<T> {
  const c = await PtpClient.connect(to);
  try {
    return await f(c);
  } finally {
    await c.close().catch(() => undefined);
  }
}

export function ptpCommand(out: Out): Command {
  const ptp = new Command('ptp').description('PTP: the simulated camera (PTP/IP, or a virtual USB device) and the app side (initiator over PTP/IP or USB)');

  ptp
    .command('serve')
    .description(
      'serve a directory as a camera over PTP/IP (gphoto2 --port ptpip:127.0.0.1:P:P) or, with --usb, as a virtual USB camera; upload targets handed over are printed',
    )
    .requiredOption('--storage <dir>', "directory served as the camera's store (e.g. with DCIM/100CAMWR/...)")
    .addOption(new Option('--port <port>', 'TCP port (0: any free one)').argParser(portNumber).default(15740))
    .option('--host <ipv4>', 'address to listen on', '127.0.0.1')
    .option('--guid <hex>', "the camera's GUID, 16 bytes in hex (default: random)")
    .option('--name <name>', 'friendly name in the PTP/IP handshake', 'camwire')
    .option('--manufacturer <s>', 'DeviceInfo Manufacturer', 'camwire')
    .option('--model <s>', 'DeviceInfo Model', 'camwire simulated camera')
    .option('--serial <s>', 'DeviceInfo SerialNumber', 'CW0000000001')
    .option('--allow-delete', 'let initiators delete objects', false)
    .option('--read-only', 'refuse SendObjectInfo/SendObject (tickets included)', false)
    .addOption(
      new Option('--fault-stall <op>', 'testing: leave the next request for this operation code (e.g. 0x1004) unanswered').argParser((v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n <= 0 || n > 0xffff) throw new CamwireError('CLI_BAD_ARGUMENT', `"${v}" is not an operation code`);
        return n;
      }),
    )
    .option('--usb', 'appear as a virtual USB camera (umockdev) instead of PTP/IP; with `-- CMD ARGS` run CMD where it sees the camera', false)
    .argument('[command...]', 'with --usb: a command to run against the virtual USB camera, after --')
    .action(
      async (
        command: string[],
        o: {
          storage: string;
          port: number;
          host: string;
          guid?: string;
          name: string;
          manufacturer: string;
          model: string;
          serial: string;
          allowDelete: boolean;
          readOnly: boolean;
          usb: boolean;
          faultStall?: number;
        },
      ) => {
        if (command.length && !o.usb) throw new CamwireError('CLI_USAGE', 'a command after -- needs --usb (a PTP/IP camera is reached over TCP instead)');
        const cam = new PtpCamera({
          storage: o.storage,
          port: o.port,
          host: o.host,
          name: o.name,
          manufacturer: o.manufacturer,
          model: o.model,
          serial: o.serial,
          allowDelete: o.allowDelete,
          allowUpload: !o.readOnly,
          usb: o.usb,
          ...(o.guid ? { guid: o.guid } : {}),
          ...(o.faultStall ? { stallOperation: o.faultStall } : {}),
        });
        const line = (v: Record<string, unknown>, human: string) => out().event(v, human);
        cam.on('session-opened', (id: number) => line({ event: 'session-opened', session: id }, `session ${id} opened`));
        cam.on('session-closed', (id: number) => line({ event: 'session-closed', session: id }, `session ${id} closed`));
        cam.on('object-received', (p: string) => line({ event: 'object-received', path: p }, `received ${p}`));
        cam.on('property-changed', (p: { code: number; value: string }) =>
          line({ event: 'property-changed', ...p }, `property 0x${p.code.toString(16)} = ${p.value}`),
        );
        cam.on('rejected-target', (e: CamwireError) =>
          line({ event: 'rejected-target', error: e.toJSON() }, `rejected upload target: ${e.code}: ${e.message}`),
        );
        cam.on('log', (l: { kind: string; detail: string }) => line({ event: l.kind, detail: l.detail }, `${l.kind}${l.detail ? `: ${l.detail}` : ''}`));
        cam.on('upload-target', (t: { target: { id: string; object: { path: string } }; via: string }) => {
          // The target itself goes to stdout: it is this command's output.
          if (out().json) process.stdout.write(JSON.stringify({ at: new Date().toISOString(), event: 'upload-target', via: t.via, target: t.target }) + '\n');
          else process.stdout.write(JSON.stringify(t.target) + '\n');
          process.stderr.write(`${new Date().toISOString()} upload target ${t.target.id} for ${t.target.object.path} (via ${t.via})\n`);
        });
        const r = cam.start();
        if (o.usb) {
          const env = r.env ?? {};
          if (command.length) {
            // The command runs where libusb sees the camera; its exit status is ours.
            const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env: { ...process.env, ...env } });
            const code = await new Promise<number>((resolve) => {
              child.on('error', (e) => {
                process.stderr.write(`camwire: cannot run ${command[0]}: ${e.message}\n`);
                resolve(127);
              });
              child.on('close', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
            });
            cam.stop();
            process.exitCode = code;
            return;
          }
          line(
            { event: 'listening', usb: r.usb, env, storage: path.resolve(o.storage) },
            `virtual USB camera at ${r.usb}, storage ${path.resolve(o.storage)}\n` +
              `  a client sees it with: export ${Object.entries(env)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')}\n  then e.g. gphoto2 --summary    (Ctrl-C stops it)`,
          );
          await new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
          cam.stop();
          return;
        }
        line(
          { event: 'listening', host: o.host, port: r.port, guid: r.guid, storage: path.resolve(o.storage) },
          `PTP/IP camera on ${o.host}:${r.port} (GUID ${r.guid}), storage ${path.resolve(o.storage)}\n` +
            `  try: gphoto2 --port ptpip:${o.host}:${r.port}:${r.port} --summary    (Ctrl-C stops it)`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        cam.stop();
      },
    );

  ptp
    .command('devices')
    .description('list the USB devices libusb sees; PTP cameras (class 6/1/1) are marked')
    .action(async () => {
      const devs = await usbDevices();
      const hex = (n: number) => n.toString(16).padStart(4, '0');
      out().result(
        devs,
        () =>
          devs
            .map(
              (d) =>
                `usb:${d.bus}:${d.address}  ${hex(d.vendorId)}:${hex(d.productId)}  ${d.ptp ? 'PTP ' : '    '} ${[d.manufacturer, d.product, d.serial].filter(Boolean).join(' / ')}`,
            )
            .join('\n') || '(no USB devices)',
      );
    });

  ptp
    .command('ls')
    .description("list the camera's files (over PTP/IP or USB)")
    .addOption(toOption())
    .action(async (o: { to: string }) => {
      const objects = await withClient(o.to, (c) => c.list());
      out().result(
        objects,
        () =>
          objects.map((x) => `${String(x.handle).padStart(6)}  ${x.folder ? '<dir>'.padStart(12) : String(x.size).padStart(12)}  ${x.path}`).join('\n') ||
          '(no files)',
      );
    });

  ptp
    .command('get')
    .description('fetch files from the camera (streamed to disk)')
    .addOption(toOption())
    .argument('[paths...]', 'camera paths as `ptp ls` prints them (default: every file)')
    .option('--out <dir>', 'where to save them', '.')
    .action(async (paths: string[], o: { to: string; out: string }) => {
      fs.mkdirSync(o.out, { recursive: true });
      const saved = await withClient(o.to, async (c) => {
        const all = (await c.list()).filter((x) => !x.folder);
        const wanted: PtpObject[] = paths.length
          ? paths.map((p) => {
              const hit = all.find((x) => x.path === p.replace(/^\/+/, ''));
              if (!hit) throw new CamwireError('PTP_NO_SUCH_FILE', `no file ${p} on the camera`, { hint: 'camwire ptp ls --to … shows the paths' });
              return hit;
            })
          : all;
        const done: Array<{ path: string; file: string; bytes: number; ms: number }> = [];
        for (const x of wanted) {
          const file = path.join(o.out, x.filename);
          const t0 = Date.now();
          const bytes = await c.get(x, file);
          done.push({ path: x.path, file, bytes, ms: Date.now() - t0 });
          out().info(`  ${x.path} -> ${file} (${bytes} bytes)`);
        }
        return done;
      });
      out().result(saved, `${saved.length} file(s) saved to ${o.out}`);
    });

  ptp
    .command('send-target')
    .description('hand an upload target to the camera (vendor operation 0x9A01 SetUploadTarget)')
    .addOption(toOption())
    .requiredOption('--target <file>', 'upload target JSON (- for stdin), e.g. from camwire presign')
    .action(async (o: { to: string; target: string }) => {
      let text: string;
      try {
        text = fs.readFileSync(o.target === '-' ? 0 : o.target, 'utf8');
      } catch (e) {
        throw new CamwireError('CLI_FILE_NOT_FOUND', `cannot read ${o.target}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      await withClient(o.to, (c) => c.sendTarget(text));
      out().result({ sent: true, to: o.to }, `upload target handed to ${o.to}`);
    });
  return ptp;
}
