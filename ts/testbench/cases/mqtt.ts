/**
 * The tls and mqtt families: how the device meets the broker. Modelled on
 * AWS IoT Device Advisor's TLS and MQTT test cases, run locally.
 */
import { topics } from '../../mqtt';
import { BenchCase, CaseContext } from '../case';
import { Impostor } from '../bench';

/** How long a device may take to come back after the bench let it (its backoff may have grown meanwhile). */
const RECONNECT_MS = 75_000;

const statusTopic = (ctx: CaseContext) => topics.status(ctx.bench.thing);

async function restore(ctx: CaseContext, from: number): Promise<void> {
  const p = ctx.bench.cloud.proxies.mqtt!;
  p.set({ kind: 'pass' });
  ctx.bench.impersonate(undefined);
  ctx.note('bench', 'broker back');
  const at = await ctx.connected(RECONNECT_MS, from);
  ctx.note('device', 'reconnected to the broker', at);
}

function impostorCase(which: Impostor, id: string, title: string, checks: string): BenchCase {
  return {
    id,
    family: 'tls',
    title,
    checks,
    async run(ctx: CaseContext) {
      await ctx.connected(RECONNECT_MS);
      const t = Date.now();
      ctx.bench.impersonate(which);
      const dropped = ctx.bench.cloud.proxies.mqtt!.drop();
      ctx.note(
        'bench',
        `MQTT port now shows the ${which === 'untrusted' ? 'certificate from another CA' : 'certificate for another host name'}; ${dropped} connection(s) dropped`,
      );
      try {
        // Two attempts at least, so a device that gives up after one refusal and one that retries are both seen.
        const seen = await ctx.waitFor('the device trying to reconnect', RECONNECT_MS, () => {
          const a = ctx.bench.since(t, 'impostor').filter((e) => e.which === which);
          return a.length >= 2 || (a.length >= 1 && Date.now() - a[0]!.at > 3000) ? a : undefined;
        });
        await ctx.sleep(500);
        const attempts = ctx.bench.since(t, 'impostor').filter((e) => e.which === which);
        for (const a of attempts) ctx.note('device', `TLS handshake ${a.handshake}: ${a.detail}${a.appBytes ? `, then ${a.appBytes} MQTT bytes` : ''}`, a.at);
        ctx.evidence(
          `${attempts.length} connection attempt(s) to the impostor; handshakes completed: ${attempts.filter((a) => a.handshake === 'done').length}`,
        );
        const accepted = attempts.find((a) => a.handshake === 'done');
        ctx.check(
          !accepted,
          `the device accepted the ${which === 'untrusted' ? 'server certificate from an untrusted CA' : 'server certificate for the wrong host name'} (TLS handshake completed${accepted?.appBytes ? `, ${accepted.appBytes} bytes of MQTT sent` : ''}): it must verify the server ${which === 'untrusted' ? 'chain against its CA' : 'host name against the certificate'}`,
        );
        void seen;
      } finally {
        await restore(ctx, t);
      }
    },
  };
}

export const tlsCases: BenchCase[] = [
  {
    id: 'tls.mutual',
    family: 'tls',
    title: 'mutual TLS with the device certificate',
    checks:
      "the device connects over TLS with its own certificate (the broker requires one from the bench CA), and its client id is the certificate's CN, the thing name",
    async run(ctx: CaseContext) {
      const at = await ctx.waitFor('the device connecting with its certificate', 60_000, () => {
        const refused = ctx.bench.since(0, 'refused')[0];
        if (refused) ctx.fail(`the broker refused the device: ${refused.reason}`);
        return ctx.bench.since(0, 'connect')[0];
      });
      ctx.note('device', `CONNECT accepted: client id ${ctx.bench.thing} = the certificate CN`, at.at);
      ctx.evidence(`client id and certificate CN: ${ctx.bench.thing}`);
    },
  },
  impostorCase(
    'untrusted',
    'tls.untrusted-server',
    'a server certificate from an untrusted CA is refused',
    'the MQTT port presents a server certificate from a CA the device was not given: the device must abort the handshake and send no CONNECT',
  ),
  impostorCase(
    'wrong-host',
    'tls.wrong-host',
    'a server certificate for the wrong host name is refused',
    "the MQTT port presents a certificate from the bench's CA for another host name: the device must check the name and send no CONNECT",
  ),
];

export const mqttCases: BenchCase[] = [
  {
    id: 'mqtt.status',
    family: 'mqtt',
    title: 'retained online status',
    checks: 'after connecting, the device publishes `online` on cameras/{thing}/status, retained, at QoS 1',
    async run(ctx: CaseContext) {
      const since = await ctx.connected(RECONNECT_MS, 0);
      const p = await ctx.waitFor('`online` on the status topic', 10_000, () =>
        ctx.bench.since(since - 1, 'publish').find((e) => e.topic === statusTopic(ctx) && e.payload.toString() === 'online'),
      );
      ctx.note('device', `published online (retain ${p.retain}, QoS ${p.qos})`, p.at);
      ctx.check(p.retain, 'the `online` status was not retained: a back end subscribing later would not see it');
      ctx.check(p.qos === 1, `the status was published at QoS ${p.qos}, not 1`);
    },
  },
  {
    id: 'mqtt.subscribe',
    family: 'mqtt',
    title: 'subscribed to its upload targets at QoS 1',
    checks: 'the device subscribes to cameras/{thing}/upload-targets at QoS 1, and to nothing outside cameras/{thing}/',
    async run(ctx: CaseContext) {
      await ctx.connected(RECONNECT_MS, 0);
      const want = topics.uploadTargets(ctx.bench.thing);
      const covers = (filter: string) => {
        const f = filter.split('/');
        const w = want.split('/');
        for (let i = 0; i < f.length; i++) {
          if (f[i] === '#') return true;
          if (i >= w.length || (f[i] !== '+' && f[i] !== w[i])) return false;
        }
        return f.length === w.length;
      };
      const s = await ctx.waitFor(`a subscription covering ${want}`, 10_000, () => ctx.bench.since(0, 'subscribe').find((e) => e.topics.some(covers)));
      const qos = s.qos[s.topics.findIndex(covers)];
      ctx.note('device', `SUBSCRIBE ${s.topics.join(', ')} (QoS ${s.qos.join(', ')})`, s.at);
      ctx.check(qos === 1, `${want} was subscribed at QoS ${qos}: targets would be lost while the device is away`);
      const refused = ctx.bench.since(0, 'refused');
      ctx.check(!refused.length, `the broker refused: ${refused.map((r) => r.reason).join('; ')}`);
    },
  },
  {
    id: 'mqtt.will',
    family: 'mqtt',
    title: 'the last will `offline` when the link is cut',
    checks:
      'the CONNECT carries a retained will `offline` on cameras/{thing}/status; when the bench cuts the connection the broker publishes it, and after reconnecting the device says `online` again',
    async run(ctx: CaseContext) {
      await ctx.connected(RECONNECT_MS, 0);
      const connect = ctx.bench.since(0, 'connect').at(-1)!;
      const w = connect.will;
      ctx.evidence(w ? `will: ${w.topic} "${w.payload}" QoS ${w.qos} retain ${w.retain}` : 'the CONNECT had no will');
      ctx.check(w, 'the CONNECT has no last will: nobody learns the camera went away');
      ctx.check(w.topic === statusTopic(ctx) && w.payload === 'offline', `the will is ${w.topic} "${w.payload}", not ${statusTopic(ctx)} "offline"`);
      ctx.check(w.retain, 'the will is not retained');
      const t = Date.now();
      ctx.bench.cloud.proxies.mqtt!.drop();
      ctx.note('bench', 'connection cut');
      const off = await ctx.waitFor('the will being published', 10_000, () =>
        ctx.bench.since(t, 'publish').find((e) => e.topic === statusTopic(ctx) && e.payload.toString() === 'offline'),
      );
      ctx.note('bench', 'the broker published the will `offline`', off.at);
      const back = await ctx.connected(RECONNECT_MS, t);
      const on = await ctx.waitFor('`online` after the reconnect', 10_000, () =>
        ctx.bench.since(back - 1, 'publish').find((e) => e.topic === statusTopic(ctx) && e.payload.toString() === 'online'),
      );
      ctx.note('device', 'online again', on.at);
    },
  },
  {
    id: 'mqtt.backoff',
    family: 'mqtt',
    title: 'reconnects with exponential backoff and jitter',
    checks:
      'while the broker refuses connections for 20 s the device retries with growing, jittered intervals: at least 3 attempts, no storm (at most 20, median interval at least 100 ms), not a fixed period, not an exact doubling',
    async run(ctx: CaseContext) {
      await ctx.connected(RECONNECT_MS, 0);
      const p = ctx.bench.cloud.proxies.mqtt!;
      const t = Date.now();
      p.set({ kind: 'refuse' });
      p.drop();
      ctx.note('bench', 'broker refusing connections, link cut');
      await ctx.sleep(20_000);
      const attempts = ctx.bench.since(t, 'tcp').filter((e) => e.service === 'mqtt');
      await restore(ctx, t);
      const times = [t, ...attempts.map((a) => a.at)];
      const intervals = times.slice(1).map((x, i) => x - times[i]!);
      for (const a of attempts) ctx.note('device', `connection attempt ${a.n}`, a.at);
      ctx.chart({ title: 'intervals between connection attempts (the first from the cut)', unit: 'ms', values: intervals });
      ctx.evidence(`${attempts.length} attempts in 20 s; intervals (ms): ${intervals.join(', ')}`);
      ctx.check(attempts.length >= 3, `only ${attempts.length} connection attempt(s) in 20 s: the device gave up or waits too long`);
      const sorted = [...intervals].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      ctx.check(attempts.length <= 20 && median >= 100, `a reconnect storm: ${attempts.length} attempts in 20 s, median interval ${median} ms`);
      const mean = intervals.reduce((a, b) => a + b, 0) / intervals.length;
      const sd = Math.sqrt(intervals.reduce((a, b) => a + (b - mean) ** 2, 0) / intervals.length);
      ctx.evidence(`mean ${mean.toFixed(0)} ms, coefficient of variation ${(sd / mean).toFixed(2)}`);
      ctx.check(sd / mean >= 0.1, `the intervals are a fixed period (about ${mean.toFixed(0)} ms, CV ${(sd / mean).toFixed(2)}): no backoff, no jitter`);
      const ratios = intervals.slice(2).map((x, i) => x / intervals[i + 1]!);
      ctx.check(
        !(ratios.length >= 2 && ratios.every((r) => Math.abs(r - 2) < 0.1)),
        'the intervals double exactly: no jitter, so a fleet that lost the broker together comes back in waves',
      );
    },
  },
  {
    id: 'mqtt.persistent-session',
    family: 'mqtt',
    title: 'targets published while the device was away arrive',
    checks:
      'the device connects with a persistent session (clean session off); a QoS 1 target published while it is away is delivered when it returns, and it is carried out',
    async run(ctx: CaseContext) {
      await ctx.connected(RECONNECT_MS, 0);
      const connect = ctx.bench.since(0, 'connect').at(-1)!;
      ctx.evidence(`CONNECT clean session: ${connect.clean}`);
      ctx.check(!connect.clean, 'the device connects with a clean session (a new session each time): targets sent while it is away are lost');
      const p = ctx.bench.cloud.proxies.mqtt!;
      const t = Date.now();
      p.set({ kind: 'refuse' });
      p.drop();
      ctx.note('bench', 'device cut off');
      await ctx.waitFor('the broker noticing the device has gone', 10_000, () => !ctx.bench.connected);
      const { target } = await ctx.bench.putTarget('mqtt.persistent-session');
      await ctx.bench.sendTarget(target);
      ctx.note('bench', `target ${target.id} published at QoS 1 while the device was away`);
      await ctx.sleep(1000);
      await restore(ctx, t);
      const r = await ctx.waitFor(`the result of ${target.id}`, 30_000, () => ctx.bench.results(t, target.id)[0]);
      ctx.note('device', `result ${String(r.result?.['status'])}`, r.at);
    },
  },
  {
    id: 'mqtt.qos1-resend',
    family: 'mqtt',
    title: 'an unacknowledged QoS 1 result is sent again after reconnecting',
    checks: 'the bench withholds the PUBACK of a result and cuts the link: after reconnecting the device publishes that result again',
    async run(ctx: CaseContext) {
      await ctx.connected(RECONNECT_MS, 0);
      const b = ctx.bench.cloud.broker!;
      const uploads = topics.uploads(ctx.bench.thing);
      const { target } = await ctx.bench.putTarget('mqtt.qos1-resend');
      // Only this target's result is held: nothing else the device sends meanwhile can stand in for it.
      b.withholdPuback((topic, payload) => topic === uploads && payload.includes(Buffer.from(`"${target.id}"`)));
      const t = Date.now();
      try {
        await ctx.bench.sendTarget(target);
        ctx.note('bench', `target ${target.id} sent; the result's PUBACK will be withheld`);
        const held = await ctx.waitFor('the result (its PUBACK withheld)', 30_000, () => ctx.bench.since(t, 'withheld')[0]);
        ctx.note('bench', 'result received, PUBACK withheld', held.at);
        await ctx.sleep(500);
        const cutAt = Date.now();
        ctx.bench.cloud.proxies.mqtt!.drop();
        b.releaseWithheld();
        ctx.note('bench', 'connection cut before the PUBACK');
        const back = await ctx.connected(RECONNECT_MS, cutAt);
        const again = await ctx.waitFor('the result sent again after the reconnect', 30_000, () =>
          ctx.bench.since(back, 'publish').find((p) => p.topic === uploads && p.qos === 1 && p.payload.includes(Buffer.from(`"${target.id}"`))),
        );
        ctx.note('device', `result sent again${again.dup ? ' (DUP set)' : ''}`, again.at);
      } finally {
        b.releaseWithheld();
      }
    },
  },
  {
    id: 'mqtt.keepalive',
    family: 'mqtt',
    title: 'keep-alive pings',
    checks: 'the CONNECT asks for a keep-alive of 1-1200 s, and an idle device sends PINGREQ within 1.5 times it (the broker would drop it otherwise)',
    async run(ctx: CaseContext) {
      const at = await ctx.connected(RECONNECT_MS, 0);
      const connect = ctx.bench.since(0, 'connect').at(-1)!;
      ctx.evidence(`keep-alive ${connect.keepalive} s`);
      ctx.check(connect.keepalive >= 1 && connect.keepalive <= 1200, `keep-alive ${connect.keepalive} s: a dead link goes unnoticed (AWS IoT takes 30-1200 s)`);
      const ping = await ctx.waitFor(`a PINGREQ within ${connect.keepalive * 1.5} s`, connect.keepalive * 1500 + 1000, () => ctx.bench.since(at, 'ping')[0]);
      ctx.note('device', 'PINGREQ', ping.at);
    },
  },
];
