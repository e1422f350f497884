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
import { native } from '../../native';
import { BenchCase, CaseContext, DeviceKvsAudio, DeviceSide } from '../case';

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

/** How far the bench moves the endpoint's clock in kvs.clock-skew (15 min: three times AWS's 5-minute window). */
const SKEW_MS = 15 * 60_000;
/** Refusals a device may take before it signs with the endpoint's time (one per request it had in flight, GetDataEndpoint and PutMedia). */
const MAX_SKEW_REFUSALS = 3;

const ffFail = (e: { stdout?: string; stderr?: string; message: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? e.message });

interface Dims {
  width: number;
  height: number;
}
const dims = (d: Dims | undefined) => (d ? `${d.width}x${d.height}` : '?');
const same = (a: Dims | undefined, b: Dims | undefined) => !!a && !!b && a.width === b.width && a.height === b.height;

/**
 * The picture size each SPS says, as ffmpeg's trace_headers bitstream filter
 * parses it (H.264 and H.265, with the cropping / conformance window):
 * `extradata` from the track's CodecPrivate (avcC / hvcC), `inBand` the first
 * SPS inside the frames.
 */
function spsSizes(trace: string): { extradata?: Dims; inBand?: Dims; parsedExtradata: boolean } {
  const lines = trace.split('\n').map((l) => l.replace(/^\[trace_headers @ [^\]]*\]\s*/, ''));
  const out: { extradata?: Dims; inBand?: Dims; parsedExtradata: boolean } = { parsedExtradata: false };
  let where: 'extradata' | 'inBand' | undefined;
  let sps: Map<string, number> | undefined;
  const close = () => {
    if (!sps || !where) return;
    const d = sizeOf(sps);
    if (d && !out[where]) out[where] = d;
    sps = undefined;
  };
  for (const l of lines) {
    const field = /^\d+\s+(\w+)(?:\[[^\]]*\])?\s+[01]+\s+=\s+(-?\d+)$/.exec(l.trim());
    if (field) {
      sps?.set(field[1]!, Number(field[2]));
      continue;
    }
    const h = l.trim();
    if (!h) continue;
    close();
    if (h === 'Extradata') where = 'extradata';
    else if (/^Packet:/.test(h)) where = 'inBand';
    else if (h === 'Sequence Parameter Set') {
      sps = new Map();
      if (where === 'extradata') out.parsedExtradata = true;
    }
  }
  close();
  return out;
}

function sizeOf(f: Map<string, number>): Dims | undefined {
  const v = (k: string) => f.get(k) ?? 0;
  const chroma = f.get('chroma_format_idc') ?? 1;
  const subW = chroma === 1 || chroma === 2 ? 2 : 1;
  const subH = chroma === 1 ? 2 : 1;
  if (f.has('pic_width_in_luma_samples')) {
    // H.265: the conformance window is in chroma samples.
    return {
      width: v('pic_width_in_luma_samples') - subW * (v('conf_win_left_offset') + v('conf_win_right_offset')),
      height: v('pic_height_in_luma_samples') - subH * (v('conf_win_top_offset') + v('conf_win_bottom_offset')),
    };
  }
  if (!f.has('pic_width_in_mbs_minus1')) return undefined;
  const frameMbsOnly = f.get('frame_mbs_only_flag') ?? 1;
  const cropX = chroma === 0 ? 1 : subW;
  const cropY = (chroma === 0 ? 1 : subH) * (2 - frameMbsOnly);
  return {
    width: (v('pic_width_in_mbs_minus1') + 1) * 16 - cropX * (v('frame_crop_left_offset') + v('frame_crop_right_offset')),
    height: (2 - frameMbsOnly) * (v('pic_height_in_map_units_minus1') + 1) * 16 - cropY * (v('frame_crop_top_offset') + v('frame_crop_bottom_offset')),
  };
}

/** The Tracks header of a stored session as the endpoint's MKV reader reads it (track 1: CodecID, PixelWidth/Height, CodecPrivate size). */
function trackHeader(file: string): { codecId: string; width: number; height: number; codecPrivateSize: number } | undefined {
  const reader = new (native().MkvReader)();
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(64 << 10);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (!n) return undefined;
      for (const ev of reader.feed(buf.subarray(0, n))) if (ev.kind === 'header') return ev;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Matroska / ffmpeg names for the audio codecs device.json can declare. */
const AUDIO_CODECS: Record<DeviceKvsAudio['codec'], string> = { aac: 'aac', alaw: 'pcm_alaw', mulaw: 'pcm_mulaw' };

/** The sessions the endpoint has ended and stored, with frames; the bench ends the live one (a reset) when there is none yet. */
async function endedSessions(ctx: CaseContext): Promise<SessionRecord[]> {
  const live = await streaming(ctx, 3);
  if (!sessions(ctx).some((s) => ended(ctx, s) && s.frames > 0)) {
    await ctx.sleep(1500);
    ctx.bench.cloud.proxies.kvs!.drop();
    ctx.note('bench', `session ${live.session} ended by a reset, to read it back`);
  }
  return ctx.waitFor('an ended session', STREAM_MS, () => {
    const e = sessions(ctx).filter((s) => ended(ctx, s) && s.frames > 0);
    return e.length ? e : undefined;
  });
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
      // Run alone, nothing has ended a session yet: the bench ends one (a reset, as kvs.cut does).
      const done = await endedSessions(ctx);
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
  {
    id: 'kvs.clock-skew',
    family: 'kvs',
    title: 'a service clock 15 min ahead: the device re-signs with its time',
    checks:
      "the bench moves the endpoint's clock 15 min ahead and cuts PutMedia: after at most 3 refusals (403 Signature expired, with a Date header) the device signs with the endpoint's time, a new session persists fragments, and no frame is lost",
    unavailable: noKvs,
    async run(ctx: CaseContext) {
      const kvs = ctx.bench.cloud.kvs!;
      const s = await streaming(ctx, 2);
      const before = sessions(ctx).length;
      const refusedBefore = kvs.authFailures.length;
      const t0 = s.fragments.at(-1)!.timecode;
      const refusals = () => kvs.authFailures.slice(refusedBefore);
      kvs.setClockOffset(SKEW_MS);
      try {
        const cutAt = Date.now();
        const dropped = ctx.bench.cloud.proxies.kvs!.drop();
        ctx.note('bench', `the endpoint's clock moved ${SKEW_MS / 60_000} min ahead; PutMedia connection reset (${dropped})`);
        ctx.check(dropped >= 1, 'no PutMedia connection was open to cut');
        let next: SessionRecord;
        try {
          next = await ctx.waitFor("a new session signed with the endpoint's time", STREAM_MS, () => {
            const r = refusals();
            if (r.length > MAX_SKEW_REFUSALS)
              ctx.fail(
                `${r.length} requests refused after the endpoint's clock moved ${SKEW_MS / 60_000} min ahead (last: ${r.at(-1)!.message}): the device does not take the time from the 403's Date header`,
              );
            return sessions(ctx)
              .slice(before)
              .find((x) => x.fragments.length >= 1);
          });
        } catch (e) {
          const r = refusals();
          ctx.evidence(`refusals: ${r.length}${r[0] ? ` (first: ${r[0].path}: ${r[0].message})` : ''}`);
          throw e;
        }
        const recoveredS = (Date.now() - cutAt) / 1000;
        const r = refusals();
        for (const x of r.slice(0, MAX_SKEW_REFUSALS)) ctx.note('bench', `refused ${x.path}: ${x.message}`, x.at);
        ctx.note('device', `session ${next.session} accepted, starts at fragment ${next.fragments[0]!.timecode}`);
        ctx.evidence(`clock offset ${SKEW_MS / 1000} s; refusals: ${r.length}; recovered in ${recoveredS.toFixed(1)} s (session ${next.session})`);
        await ctx.waitFor('the new session persisting its first fragments', STREAM_MS, () => (next.persisted ?? 0) >= 2);
        const g = gaps(ctx, t0 - 2000, next.fragments[1]!.timecode);
        ctx.check(g.frames > 0, 'no PERSISTED frames around the clock change');
        ctx.evidence(`${g.frames} frames from ${t0 - 2000} ms, period ${g.period} ms, gaps: ${g.gaps.map(([a, b]) => `${a}-${b}`).join(', ') || 'none'}`);
        ctx.check(!g.gaps.length, `frames lost across the clock change: ${g.gaps.map(([a, b]) => `${a}..${b} ms`).join(', ')}`);
      } finally {
        kvs.setClockOffset(0);
        ctx.note('bench', "the endpoint's clock restored");
      }
    },
  },
  {
    id: 'kvs.tracks',
    family: 'kvs',
    title: 'the Tracks say what the frames are (video, and audio when declared)',
    checks:
      "a stored session's video track is H.264 or H.265 with a CodecPrivate whose SPS (read by ffmpeg) gives PixelWidth x PixelHeight, as the in-band SPS and the decoded frames do; the audio device.json declares (kvs.audio) is there with its codec, rate and channels, decodes without error and lasts as long as the video (10%)",
    unavailable: noKvs,
    async run(ctx: CaseContext) {
      const s = (await endedSessions(ctx)).at(-1)!;
      const file = sessionFile(ctx, s, 'mkv');
      const h = trackHeader(file);
      ctx.check(h, `session ${s.session}: the stored MKV has no Tracks header`);
      ctx.evidence(`session ${s.session}: track 1 ${h.codecId} ${h.width}x${h.height}, CodecPrivate ${h.codecPrivateSize} bytes`);
      ctx.check(
        h.codecId === 'V_MPEG4/ISO/AVC' || h.codecId === 'V_MPEGH/ISO/HEVC',
        `the video track's CodecID is ${JSON.stringify(h.codecId)}: KVS takes V_MPEG4/ISO/AVC (H.264) or V_MPEGH/ISO/HEVC (H.265)`,
      );
      const box = h.codecId === 'V_MPEG4/ISO/AVC' ? 'avcC' : 'hvcC';
      ctx.check(h.codecPrivateSize > 0, `the video track has no CodecPrivate (${box}): a player cannot start before an in-band SPS`);
      const pixels = { width: h.width, height: h.height };
      const trace = await run(
        'ffmpeg',
        ['-hide_banner', '-nostats', '-v', 'info', '-i', file, '-map', '0:v:0', '-c', 'copy', '-bsf:v', 'trace_headers', '-frames:v', '3', '-f', 'null', '-'],
        {
          maxBuffer: 16 << 20,
        },
      ).catch(ffFail);
      const sps = spsSizes(trace.stderr);
      ctx.evidence(`SPS in the CodecPrivate: ${dims(sps.extradata)}; in-band SPS: ${sps.inBand ? dims(sps.inBand) : 'none'}`);
      ctx.check(sps.parsedExtradata && sps.extradata, `ffmpeg found no SPS it could read in the CodecPrivate (${box}, ${h.codecPrivateSize} bytes)`);
      const frames = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=width,height', '-of', 'csv=p=0', file], {
        maxBuffer: 16 << 20,
      }).catch(ffFail);
      const decoded = new Map<string, number>();
      for (const l of frames.stdout.split('\n').filter(Boolean)) decoded.set(l.replace(',', 'x'), (decoded.get(l.replace(',', 'x')) ?? 0) + 1);
      ctx.evidence(`decoded frames: ${[...decoded].map(([k, n]) => `${n} at ${k}`).join(', ') || 'none'}`);
      ctx.check(
        same(sps.extradata, pixels),
        `the CodecPrivate (${box}) SPS says ${dims(sps.extradata)}, the track's PixelWidth x PixelHeight is ${dims(pixels)}${sps.inBand ? ` (the in-band SPS says ${dims(sps.inBand)})` : ''}`,
      );
      ctx.check(
        !sps.inBand || same(sps.inBand, sps.extradata),
        `the in-band SPS says ${dims(sps.inBand)}, the CodecPrivate (${box}) SPS ${dims(sps.extradata)}`,
      );
      ctx.check(decoded.size > 0, `ffprobe decoded no video frame from session ${s.session}`);
      const other = [...decoded.keys()].filter((k) => k !== dims(pixels));
      ctx.check(!other.length, `frames decoded at ${other.join(', ')}, not the track's ${dims(pixels)}`);

      const probe = await run(
        'ffprobe',
        [
          '-v',
          'error',
          '-show_entries',
          'stream=index,codec_type,codec_name,sample_rate,channels:packet=stream_index,pts_time,duration_time',
          '-of',
          'json',
          file,
        ],
        { maxBuffer: 64 << 20 },
      ).catch(ffFail);
      const j = JSON.parse(probe.stdout || '{}') as {
        streams?: Array<{ index: number; codec_type?: string; codec_name?: string; sample_rate?: string; channels?: number }>;
        packets?: Array<{ stream_index: number; pts_time?: string; duration_time?: string }>;
      };
      const packets = (index: number) => (j.packets ?? []).filter((x) => x.stream_index === index && x.pts_time !== undefined);
      /** First packet to the end of the last. */
      const span = (index: number) => {
        const p = packets(index);
        if (!p.length) return 0;
        const start = Math.min(...p.map((x) => Number(x.pts_time)));
        return Math.max(...p.map((x) => Number(x.pts_time) + Number(x.duration_time ?? 0))) - start;
      };
      /** The audio's own length, its packets' durations added (a track with holes is shorter than its span). */
      const length = (index: number) =>
        packets(index).every((x) => x.duration_time !== undefined) ? packets(index).reduce((n, x) => n + Number(x.duration_time), 0) : span(index);
      const video = (j.streams ?? []).find((x) => x.codec_type === 'video');
      const audio = (j.streams ?? []).find((x) => x.codec_type === 'audio');
      const declared = ctx.device.config.kvs?.audio;
      if (audio)
        ctx.evidence(
          `audio track: ${audio.codec_name} ${audio.sample_rate} Hz, ${audio.channels} channel(s), ${length(audio.index).toFixed(2)} s beside ${span(video?.index ?? 0).toFixed(2)} s of video`,
        );
      if (!declared) {
        ctx.evidence(audio ? 'device.json declares no audio (kvs.audio); the stream has some' : 'device.json declares no audio (kvs.audio); none streamed');
        return;
      }
      ctx.check(
        Object.keys(AUDIO_CODECS).includes(declared.codec) && Number.isInteger(declared.sampleRate) && Number.isInteger(declared.channels),
        `device.json's kvs.audio must be { codec: aac|alaw|mulaw, sampleRate, channels } (integers): ${JSON.stringify(declared)}`,
      );
      ctx.evidence(`device.json declares ${declared.codec} ${declared.sampleRate} Hz, ${declared.channels} channel(s)`);
      ctx.check(audio, `device.json declares ${declared.codec} audio (kvs.audio) but session ${s.session} has no audio track`);
      const want = AUDIO_CODECS[declared.codec];
      ctx.check(audio.codec_name === want, `the audio track is ${audio.codec_name}, device.json declares ${declared.codec} (${want})`);
      ctx.check(
        Number(audio.sample_rate) === declared.sampleRate,
        `the audio track is ${audio.sample_rate} Hz, device.json declares ${declared.sampleRate} Hz`,
      );
      ctx.check(audio.channels === declared.channels, `the audio track has ${audio.channels} channel(s), device.json declares ${declared.channels}`);
      const dec = await run('ffmpeg', ['-hide_banner', '-v', 'error', '-i', file, '-map', '0:a', '-f', 'null', '-'], { maxBuffer: 4 << 20 }).catch(ffFail);
      const errs = dec.stderr.trim().split('\n').filter(Boolean);
      ctx.check(!errs.length, `ffmpeg could not decode the audio cleanly: ${errs.slice(0, 3).join(' | ')}`);
      const a = length(audio.index);
      const v = span(video?.index ?? 0);
      ctx.check(v > 0 && Math.abs(a - v) <= 0.1 * v, `the audio lasts ${a.toFixed(2)} s, the video ${v.toFixed(2)} s: more than 10% apart`);
    },
  },
];
