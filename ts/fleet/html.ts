/**
 * The fleet report as one self-contained HTML page (`fleet run --html`,
 * `fleet merge --html`): the latency distributions drawn as HdrHistogram
 * percentile curves (x = 1/(1-p) on a log scale, so the tail gets the room),
 * the connect ramp, the counts, errors and processes. Inline SVG drawn here,
 * no script, no external resource; every value placed in the page is escaped.
 */
import { LatencyRecorder, LatencySummary } from './histogram';
import type { FleetReport } from './report-types';

const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const W = 720;
const H = 300;
const M = { l: 64, r: 16, t: 16, b: 44 };
const COLOURS: Record<string, string> = { connect: '#1f77b4', publish: '#d62728', delivery: '#2ca02c', upload: '#9467bd', persist: '#8c564b' };

/** A "nice" step (1, 2, 5 × 10^k) for about n ticks over [0, max]. */
function niceStep(max: number, n = 5): number {
  if (!(max > 0)) return 1;
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : String(Math.round(v * 1000) / 1000));

function yAxis(maxY: number, label: string): { scale: (v: number) => number; svg: string; top: number } {
  const step = niceStep(maxY);
  const top = Math.max(step, Math.ceil(maxY / step) * step);
  const scale = (v: number) => M.t + (H - M.t - M.b) * (1 - v / top);
  let svg = '';
  for (let v = 0; v <= top + step / 2; v += step) {
    const y = scale(v).toFixed(1);
    svg += `<line x1="${M.l}" x2="${W - M.r}" y1="${y}" y2="${y}" class="grid"/><text x="${M.l - 6}" y="${y}" class="yt">${esc(fmt(v))}</text>`;
  }
  svg += `<text x="14" y="${(M.t + H - M.b) / 2}" class="lab" transform="rotate(-90 14 ${(M.t + H - M.b) / 2})">${esc(label)}</text>`;
  return { scale, svg, top };
}

/** Percentile curves of the given latencies: x = 1/(1-p) on a log10 scale, y in ms. */
function percentileChart(latency: Array<[string, LatencySummary]>): string {
  const curves = latency.map(([name, s]) => [name, LatencyRecorder.fromSummary(s).percentileCurve()] as const).filter(([, c]) => c.length > 0);
  if (!curves.length) return '<p>No latency recorded.</p>';
  // The last finite point is 99.999 %; the max (100 %) is drawn one decade further.
  const xOf = (p: number) => (p >= 100 ? 1e6 : 1 / (1 - p / 100));
  const lx = (p: number) => Math.log10(xOf(p));
  const maxLx = 6;
  const sx = (p: number) => M.l + ((W - M.l - M.r) * lx(p)) / maxLx;
  const maxY = Math.max(...curves.flatMap(([, c]) => c.map(([, v]) => v)));
  const y = yAxis(maxY, 'latency (ms)');
  let svg = y.svg;
  const ticks: Array<[number, string]> = [
    [0, '0%'],
    [90, '90%'],
    [99, '99%'],
    [99.9, '99.9%'],
    [99.99, '99.99%'],
    [99.999, '99.999%'],
    [100, 'max'],
  ];
  for (const [p, label] of ticks) {
    const x = sx(p).toFixed(1);
    svg += `<line x1="${x}" x2="${x}" y1="${M.t}" y2="${H - M.b}" class="grid"/><text x="${x}" y="${H - M.b + 16}" class="xt">${esc(label)}</text>`;
  }
  svg += `<text x="${(M.l + W - M.r) / 2}" y="${H - 6}" class="lab">percentile (log scale of 1/(1-p))</text>`;
  let legend = '';
  curves.forEach(([name, c], i) => {
    const colour = COLOURS[name] ?? '#333';
    const points = c.map(([p, v]) => `${sx(p).toFixed(1)},${y.scale(v).toFixed(1)}`).join(' ');
    svg += `<polyline points="${points}" fill="none" stroke="${colour}" stroke-width="2"><title>${esc(name)}</title></polyline>`;
    legend += `<rect x="${M.l + 10}" y="${M.t + 6 + i * 18}" width="12" height="12" fill="${colour}"/><text x="${M.l + 28}" y="${M.t + 16 + i * 18}" class="leg">${esc(name)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="latency percentile distribution">${svg}${legend}</svg>`;
}

/** Devices connected over the run's seconds. */
function rampChart(ramp: FleetReport['ramp'], devices: number): string {
  if (!ramp.length) return '<p>No connect ramp recorded.</p>';
  const maxT = Math.max(1, ...ramp.map((p) => p.t));
  const y = yAxis(Math.max(devices, ...ramp.map((p) => p.connected)), 'devices connected');
  const sx = (t: number) => M.l + ((W - M.l - M.r) * t) / maxT;
  let svg = y.svg;
  const step = niceStep(maxT, 8);
  for (let t = 0; t <= maxT + step / 2; t += step) {
    const x = sx(t).toFixed(1);
    svg += `<line x1="${x}" x2="${x}" y1="${M.t}" y2="${H - M.b}" class="grid"/><text x="${x}" y="${H - M.b + 16}" class="xt">${esc(fmt(t))}</text>`;
  }
  svg += `<text x="${(M.l + W - M.r) / 2}" y="${H - 6}" class="lab">seconds since the start</text>`;
  const points = ramp.map((p) => `${sx(p.t).toFixed(1)},${y.scale(p.connected).toFixed(1)}`).join(' ');
  svg += `<polyline points="${points}" fill="none" stroke="#1f77b4" stroke-width="2"/>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="connect ramp">${svg}</svg>`;
}

const row = (cells: unknown[], th = false) => `<tr>${cells.map((c) => (th ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`;
const table = (head: string[], rows: unknown[][]) => `<table>${row(head, true)}${rows.map((r) => row(r)).join('')}</table>`;

/** The report as a self-contained HTML page. */
export function renderFleetHtml(r: FleetReport): string {
  const latency = Object.entries(r.latency).filter((e): e is [string, LatencySummary] => e[1] !== undefined);
  const counts: Array<[string, unknown]> = [
    ['devices', r.devices],
    ['connected at once (peak)', r.connected],
    ['ever connected', r.everConnected],
    ['connects', r.connects],
    ['reconnects', r.reconnects],
    ['published (QoS 1)', r.published],
    ['acknowledged (PUBACK)', r.acknowledged],
    ['lost (published − acknowledged)', r.published - r.acknowledged],
    ...(r.delivered !== undefined ? [['delivered to the fleet-side subscriber', r.delivered] as [string, unknown]] : []),
    ...(r.deliveredThings !== undefined ? [['distinct things delivered', r.deliveredThings] as [string, unknown]] : []),
    ...(r.uploads
      ? [
          [
            'uploads started / completed / failed / bytes / targets received',
            `${r.uploads.started} / ${r.uploads.completed} / ${r.uploads.errors ?? 0} / ${r.uploads.bytes} / ${r.uploads.received ?? 0}`,
          ] as [string, unknown],
        ]
      : []),
    ...(r.streams
      ? [
          [
            'streams / frames stored / fragments persisted / failed',
            `${r.streams.started} / ${r.streams.framesStored} / ${r.streams.fragmentsPersisted} / ${r.streams.errors ?? 0}`,
          ] as [string, unknown],
        ]
      : []),
    ...(r.rssPerDeviceBytes !== undefined ? [['RSS growth per connected camera', `${(r.rssPerDeviceBytes / 1024).toFixed(1)} KiB`] as [string, unknown]] : []),
    ...(r.rampMs !== undefined ? [['ramp: first connect to all connected', `${(r.rampMs / 1000).toFixed(1)} s`] as [string, unknown]] : []),
    ['duration', `${(r.durationMs / 1000).toFixed(1)} s`],
  ];
  const errors = Object.entries(r.errors).sort((a, b) => b[1] - a[1]);
  const shards = r.shards.map((s) => `${s.index}/${s.count} [${s.from}, ${s.to})`).join(', ');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>camwire fleet report: ${esc(r.devices)} devices</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:${W + 200}px}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
th{background:#f3f3f3}.grid{stroke:#e4e4e4}.yt{font-size:11px;text-anchor:end;dominant-baseline:middle}.xt{font-size:11px;text-anchor:middle}
.lab{font-size:12px;text-anchor:middle}.leg{font-size:12px}svg{background:#fff;border:1px solid #ddd;max-width:100%;height:auto}
</style></head><body>
<h1>camwire fleet report</h1>
<p>${esc(r.devices)} devices against <code>${esc(r.broker)}</code>, started ${esc(r.startedAt)}, shards ${esc(shards)}, camwire ${esc(r.camwire)}.</p>
<h2>Latency distributions</h2>
${percentileChart(latency)}
${table(
  ['latency (ms)', 'count', 'min', 'mean', 'p50', 'p90', 'p99', 'p99.9', 'max', 'clamped'],
  latency.map(([n, s]) => [n, s.count, s.min, s.mean, s.p50, s.p90, s.p99, s.p999, s.max, s.clamped]),
)}
<h2>Connect ramp</h2>
${rampChart(r.ramp, r.devices)}
<h2>Counts</h2>
${table(['what', 'value'], counts)}
<h2>Errors</h2>
${errors.length ? table(['code', 'count'], errors) : '<p>None.</p>'}
<h2>Processes</h2>
${table(
  ['shard', 'pid', 'CPU user (ms)', 'CPU system (ms)', 'RSS at start (MiB)', 'peak RSS (MiB)', 'descriptor limit'],
  r.processes.map((p) => [
    p.shard,
    p.pid,
    p.cpuUserMs,
    p.cpuSystemMs,
    (p.rssStartBytes / 1048576).toFixed(1),
    (p.peakRssBytes / 1048576).toFixed(1),
    p.fdLimit,
  ]),
)}
${r.notes.length ? `<h2>Notes</h2><ul>${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
</body></html>
`;
}
