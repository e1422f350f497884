/**
 * A tiny H.264 writer for synthetic live video and for the demo's samples
 * when ffmpeg is not installed: every
 * macroblock is I_PCM (raw samples, no prediction, no transform), so the
 * stream is large but valid Baseline H.264 that any decoder plays: SPS (with
 * VUI timing), PPS, then pictures of one I slice each; an IDR every `gop`
 * pictures, the others reference I pictures (POC type 2 forbids two
 * non-reference pictures in a row). Annex-B byte stream with emulation
 * prevention. Written from the H.264 specification (ITU-T H.264 7.3).
 */

class BitWriter {
  private bytes: number[] = [];
  private chunks: Buffer[] = [];
  private cur = 0;
  private n = 0;

  u(bits: number, value: number): this {
    for (let i = bits - 1; i >= 0; i--) {
      this.cur = (this.cur << 1) | ((value / 2 ** i) & 1);
      if (++this.n === 8) {
        this.bytes.push(this.cur);
        this.cur = 0;
        this.n = 0;
      }
    }
    return this;
  }

  ue(value: number): this {
    const v = value + 1;
    const len = Math.floor(Math.log2(v));
    return this.u(len, 0).u(len + 1, v);
  }

  se(value: number): this {
    return this.ue(value <= 0 ? -2 * value : 2 * value - 1);
  }

  get aligned(): boolean {
    return this.n === 0;
  }

  alignZero(): this {
    while (this.n !== 0) this.u(1, 0);
    return this;
  }

  /** Whole bytes straight into the RBSP (the writer must be aligned). */
  raw(b: Uint8Array): this {
    if (this.n !== 0) throw new Error('raw bytes need byte alignment');
    this.chunks.push(Buffer.from(this.bytes), Buffer.from(b));
    this.bytes = [];
    return this;
  }

  /** rbsp_trailing_bits: a 1, then zeros to the byte boundary. */
  trailing(): Buffer {
    this.u(1, 1).alignZero();
    return Buffer.concat([...this.chunks, Buffer.from(this.bytes)]);
  }
}

/** NAL unit with start code; 0x000000..0x000003 in the payload get an emulation prevention byte. */
function nal(header: number, rbsp: Buffer): Buffer {
  const out = Buffer.alloc(5 + rbsp.length + Math.ceil(rbsp.length / 2));
  out.set([0, 0, 0, 1, header]);
  let o = 5;
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out[o++] = 3;
      zeros = 0;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, o);
}

export interface PcmVideoOptions {
  width: number; // multiple of 16
  height: number; // multiple of 16
  fps: number;
  frames: number;
  /** Pictures from one IDR to the next (default fps: one key frame a second). */
  gop?: number;
}

/** Samples of picture `i`: a diagonal gradient that moves, with colour bars in the chroma. */
function drawMacroblock(mbx: number, mby: number, i: number, o: PcmVideoOptions, mb: Uint8Array): void {
  let k = 0;
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      const px = mbx * 16 + x;
      const py = mby * 16 + y;
      mb[k++] = 16 + ((px + py + 4 * i) % 220);
    }
  }
  const bar = Math.floor((mbx * 16 * 8) / o.width);
  const cb = [128, 60, 200, 90, 170, 40, 220, 128][bar]!;
  const cr = [128, 200, 60, 170, 90, 220, 40, 128][bar]!;
  mb.fill(cb, 256, 320);
  mb.fill(cr, 320, 384);
}

/** The whole stream as one Annex-B buffer. */
export function pcmH264(o: PcmVideoOptions): Buffer {
  if (o.width % 16 || o.height % 16 || o.width < 16 || o.height < 16) throw new Error('width and height must be multiples of 16');
  if (!(o.fps >= 0.5 && o.fps <= 240)) throw new Error('fps must be 0.5-240');
  const gop = o.gop ?? o.fps;
  const mbw = o.width / 16;
  const mbh = o.height / 16;
  const sps = new BitWriter()
    .u(8, 66)
    .u(8, 0xc0)
    .u(8, 51) // Baseline, constraint_set0/1, level 5.1 (I_PCM is a high bit rate)
    .ue(0) // seq_parameter_set_id
    .ue(0) // log2_max_frame_num_minus4: frame_num is 4 bits
    .ue(2) // pic_order_cnt_type 2: output order = decoding order
    .ue(1) // max_num_ref_frames
    .u(1, 0) // gaps_in_frame_num_value_allowed_flag
    .ue(mbw - 1)
    .ue(mbh - 1)
    .u(1, 1) // frame_mbs_only_flag
    .u(1, 1) // direct_8x8_inference_flag
    .u(1, 0) // frame_cropping_flag
    .u(1, 1) // vui_parameters_present_flag
    .u(1, 0)
    .u(1, 0)
    .u(1, 0)
    .u(1, 0) // aspect ratio, overscan, video signal type, chroma location: absent
    .u(1, 1)
    .u(32, 1000)
    .u(32, Math.round(2000 * o.fps))
    .u(1, 1) // timing: a tick of 1/(2000 fps) s, so 29.97 or 0.5 fps are exact; fixed frame rate
    .u(1, 0)
    .u(1, 0)
    .u(1, 0)
    .u(1, 0) // no HRD parameters, no pic_struct, no bitstream restriction
    .trailing();
  const pps = new BitWriter()
    .ue(0)
    .ue(0) // pic_parameter_set_id, seq_parameter_set_id
    .u(1, 0)
    .u(1, 0) // CAVLC, no bottom_field_pic_order_in_frame
    .ue(0) // one slice group
    .ue(0)
    .ue(0) // num_ref_idx_l0/l1_default_active_minus1
    .u(1, 0)
    .u(2, 0) // no weighted prediction
    .se(0)
    .se(0)
    .se(0) // pic_init_qp/qs_minus26, chroma_qp_index_offset
    .u(1, 0)
    .u(1, 0)
    .u(1, 0) // deblocking control, constrained intra, redundant_pic_cnt: absent
    .trailing();
  const parts: Buffer[] = [];
  const mb = new Uint8Array(384);
  let idrId = 0;
  for (let i = 0; i < o.frames; i++) {
    const idr = i % gop === 0;
    if (idr) parts.push(nal(0x67, sps), nal(0x68, pps));
    const w = new BitWriter()
      .ue(0) // first_mb_in_slice
      .ue(7) // slice_type: I (every slice of the picture)
      .ue(0) // pic_parameter_set_id
      .u(4, (i % gop) % 16); // frame_num (0 at each IDR)
    if (idr) w.ue(idrId++ % 2); // idr_pic_id differs between consecutive IDRs
    if (idr)
      w.u(1, 0).u(1, 0); // no_output_of_prior_pics_flag, long_term_reference_flag
    else w.u(1, 0); // adaptive_ref_pic_marking_mode_flag: sliding window
    w.se(0); // slice_qp_delta
    for (let y = 0; y < mbh; y++) {
      for (let x = 0; x < mbw; x++) {
        w.ue(25).alignZero(); // mb_type I_PCM, pcm_alignment_zero_bits
        drawMacroblock(x, y, i, o, mb);
        w.raw(mb);
      }
    }
    parts.push(nal(idr ? 0x65 : 0x61, w.trailing()));
  }
  return Buffer.concat(parts);
}
