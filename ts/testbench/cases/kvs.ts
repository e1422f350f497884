/**
 * The kvs family, when device.json has a stream: PutMedia into the bench's
 * KVS endpoint (SigV4 checked, fragments parsed and stored), with ERROR acks
 * and cut connections, and the stored MKV read back with ffprobe.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { SessionRecord } from '../../local';
import { BenchCase, CaseContext, DeviceSide } from '../case';

const run = promisify(execFile);
const noKvs = (d: DeviceSide) => (d.config.kvs ? undefined : 'device.json has no kvs section (the device does not stream)');
const STREAM_MS = 40_000;

const sessions = (ctx: CaseContext): SessionRecord[] => ctx.bench.cloud.kvs!.sessions.filter((s) => s.stream === ctx.bench.files.config.stream);
const sessionFile = (ctx: CaseContext, s: SessionRecord, ext: 'mkv' | 'json') => path.join(ctx.bench.cloud.kvs!.dir, s.stream, `session-${s.session}.${ext}`);
const ended = (ctx: CaseContext, s: SessionRecord) => fs.existsSync(sessionFile(ctx, s, 'json'));
const fragments = (ctx: CaseContext) => sessions(ctx).reduce((n, s) => n + s.fragments.length, 0);

/** The frame timecodes of a session's PERSISTED fragments (acks come in order: the first `persisted` fragments). */
function persistedFrames(s: SessionRecord): number[] {
  const n = s.fragments.slice(0, s.persisted ?? 0).reduce((a, f) => a + f.frames, 0);
  return s.frameTimecodes.slice(0, n);
}

/** PERSISTED frame timecodes over every session, deduplicated, in order, and the gaps wider than 2.5 frame periods between them. */
function gaps(ctx: CaseContext, from: number, to: number): { frames: number; period: number; gaps: Array<[number, number]> } {
  const all = [...new Set(sessions(ctx).flatMap(persistedFrames))].filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  const d = all.slice(1).map((x, i) => x - all[i]!);
  const period = [...d].sort((a, b) => a - b)[Math.floor(d.length / 2)] ?? 0;
  const wide: Array<[number, number]> = [];
  for (let i = 1; i < all.length; i++) if (all[i]! - all[i - 1]! > period * 2.5) wide.push([all[i - 1]!, all[i]!]);
  return { frames: all.length, period, gaps: wide };
}

async function streaming(ctx: CaseContext, minFragments: number): Promise<SessionRecord> {
  await ctx.waitFor(`${minFragments} fragments from the device`, STREAM_MS, () => fragments(ctx) >= minFragments);
  return sessions(ctx).at(-1)!;
}

export const kvsCases: BenchCase[] = [
  {
    id: 'kvs.sigv4',
    family: 'kvs',
    title: 'PutMedia signed with valid SigV4',
    checks:
      'the device streams into the bench with SigV4 requests the endpoint accepts (credentials from the IoT credentials provider or its own), and none is refused',
    unavailable: noKvs,
    async run(ctx: CaseContext) {
      const s = await ctx.waitFor('a PutMedia session', STREAM_MS, () => {
        const f = ctx.bench.cloud.kvs!.authFailures[0];
        if (f) ctx.fail(`the endpoint refused a signature (${f.path}): ${f.message}`);
        return sessions(ctx)[0];
      });
      ctx.note('device', `PutMedia session ${s.session} (stream ${s.stream})`);
      const fails = ctx.bench.cloud.kvs!.authFailures;
      ctx.evidence(`sessions: ${sessions(ctx).length}; signatures refused: ${fails.length}`);
      ctx.check(!fails.length, `the endpoint refused ${fails.length} signature(s): ${fails[0]?.message}`);
    },
  },
  {
    id: 'kvs.error-ack',
    family: 'kvs',
    title: 'an ERROR ack makes the device re-send from that fragment',
    checks:
      'the endpoint answers a fragment with an ERROR ack and ends the session: the device opens a new one starting at or before that fragment, and no frame is lost',
    unavailable: noKvs,
    async run(ctx: CaseContext) {
      const s = await streaming(ctx, 2);
      const f = ctx.bench.kvsFaults;
      f.errorAck = { afterFragments: s.fragments.length + 2, errorId: 5001, errorCode: 'INTERNAL_ERROR', sessions: [s.session] };
      ctx.note('bench', `session ${s.session}: an ERROR ack after fragment ${f.errorAck.afterFragments}`);
      try {
        await ctx.waitFor('the ERROR ack', STREAM_MS, () => s.endedBy === 'fault-error' && ended(ctx, s));
      } finally {
        delete f.errorAck;
      }
      const errored = s.fragments.at(-1)!;
      ctx.note('bench', `ERROR ack for fragment ${errored.timecode}; session ended`);
      const next = await ctx.waitFor('a new session with fragments', STREAM_MS, () =>
        sessions(ctx).find((x) => x.session > s.session && x.fragments.length >= 2),
      );
      const first = next.fragments[0]!.timecode;
      ctx.note('device', `session ${next.session} starts at fragment ${first}`);
      ctx.evidence(`errored fragment ${errored.timecode}; next session's first fragment ${first}`);
      ctx.check(
        first <= errored.timecode,
        `the new session starts at ${first}, after the fragment that got the ERROR ack (${errored.timecode}): it was not re-sent`,
      );
      const g = gaps(ctx, s.fragments[0]!.timecode, next.fragments[1]!.timecode);
      ctx.evidence(`${g.frames} frames, period ${g.period} ms, gaps: ${g.gaps.map(([a, b]) => `${a}-${b}`).join(', ') || 'none'}`);
      ctx.check(!g.gaps.length, `frames lost around the ERROR ack: ${g.gaps.map(([a, b]) => `${a}..${b} ms`).join(', ')}`);
    },
  },
  {
    id: 'kvs.cut',
    family: 'kvs',
    title: 'a cut connection loses no frame',
    checks: 'the bench resets the PutMedia connection: the device reconnects and the frame timecodes over both sessions are continuous',
    unavailable: noKvs,
    async run(ctx: CaseContext) {
      const s = await streaming(ctx, 2);
      const before = sessions(ctx).length;
      const t0 = s.fragments.at(-1)!.timecode;
      const dropped = ctx.bench.cloud.proxies.kvs!.drop();
      ctx.note('bench', `PutMedia connection reset (${dropped})`);
      ctx.check(dropped >= 1, 'no PutMedia connection was open to cut');
      const next = await ctx.waitFor('a new session with fragments', STREAM_MS, () =>
        sessions(ctx)
          .slice(before)
          .find((x) => x.fragments.length >= 2),
      );
      ctx.note('device', `session ${next.session} starts at fragment ${next.fragments[0]!.timecode}`);
      await ctx.waitFor('the new session persisting its first fragments', STREAM_MS, () => (next.persisted ?? 0) >= 2);
      const g = gaps(ctx, t0 - 2000, next.fragments[1]!.timecode);
      ctx.check(g.frames > 0, 'no PERSISTED frames around the cut');
      ctx.evidence(`${g.frames} frames from ${t0 - 2000} ms, period ${g.period} ms, gaps: ${g.gaps.map(([a, b]) => `${a}-${b}`).join(', ') || 'none'}`);
      ctx.check(!g.gaps.length, `frames lost across the cut: ${g.gaps.map(([a, b]) => `${a}..${b} ms`).join(', ')}`);
    },
  },
  {
    id: 'kvs.fragments',
    family: 'kvs',
    title: 'every fragment PERSISTED and every frame decodable',
    checks:
      'each ended session: every fragment it sent was acknowledged PERSISTED, and ffprobe decodes at least as many frames from the stored MKV as the endpoint parsed',
    unavailable: noKvs,
    async run(ctx: CaseContext) {
      const live = await streaming(ctx, 3);
      // Run alone, nothing has ended a session yet: the bench ends one (a reset, as kvs.cut does).
      if (!sessions(ctx).some((s) => ended(ctx, s) && s.frames > 0)) {
        await ctx.sleep(1500);
        ctx.bench.cloud.proxies.kvs!.drop();
        ctx.note('bench', `session ${live.session} ended by a reset, to read it back`);
      }
      const done = await ctx.waitFor('an ended session', STREAM_MS, () => {
        const e = sessions(ctx).filter((s) => ended(ctx, s) && s.frames > 0);
        return e.length ? e : undefined;
      });
      // The live session: every fragment but the one in flight acknowledged.
      const now = sessions(ctx)
        .filter((s) => !ended(ctx, s))
        .at(-1);
      if (now) {
        ctx.evidence(`live session ${now.session}: ${now.fragments.length} fragments, ${now.persisted ?? 0} PERSISTED`);
        ctx.check(
          now.fragments.length - (now.persisted ?? 0) <= 2,
          `live session ${now.session}: ${now.fragments.length - (now.persisted ?? 0)} fragments not completed`,
        );
      }
      for (const s of done) {
        const file = sessionFile(ctx, s, 'mkv');
        const { stdout, stderr } = await run(
          'ffprobe',
          ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,codec_name', '-of', 'json', file],
          {
            maxBuffer: 4 << 20,
          },
        ).catch((e: { stdout?: string; stderr?: string; message: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? e.message }));
        const st = (JSON.parse(stdout || '{}') as { streams?: Array<{ nb_read_frames?: string; codec_name?: string }> }).streams?.[0];
        const decoded = Number(st?.nb_read_frames ?? 0);
        // A session cut mid-fragment ends in a partial frame: only the frames the endpoint parsed whole count.
        const errs = stderr.trim().split('\n').filter(Boolean);
        ctx.evidence(
          `session ${s.session} (${s.endedBy}): ${s.fragments.length} fragments, ${s.persisted ?? 0} PERSISTED; ${s.frames} frames parsed, ${decoded} decoded (${st?.codec_name ?? '?'})${errs.length ? `; ffprobe: ${errs.slice(0, 3).join(' | ')}` : ''}`,
        );
        // The stored file may hold a little more than was parsed (the chunk after a fault), never less.
        ctx.check(decoded >= s.frames, `session ${s.session}: ffprobe decoded ${decoded} frames of the ${s.frames} the endpoint received`);
        ctx.check(s.endedBy !== 'malformed', `session ${s.session} was refused as malformed MKV`);
        const unacked = s.fragments.length - (s.persisted ?? 0);
        ctx.check(unacked <= 1, `session ${s.session}: ${unacked} fragments were not completed (not PERSISTED)`);
      }
    },
  },
];
