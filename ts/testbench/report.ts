/**
 * The writers of `camwire testbench run`'s reports, all from one BenchReport:
 * JUnit XML for CI, one self-contained HTML page for a person, a JSON line per
 * case for `--json`.
 *
 * The XML is built with xmlbuilder2 (MIT, Node >= 20, maintained), not with a
 * JUnit writer: junit-report-builder 5.1.2, the obvious one, cannot put a
 * message on <skipped>, and its xmlbuilder 15 escapes only the first `]]>` of a
 * CDATA body, so device output holding two of them made malformed XML.
 * xmlbuilder2 escapes text and attributes itself; we only make characters that
 * XML 1.0 cannot carry at all (NUL, ESC, lone surrogates) visible as `\uXXXX`,
 * and serialise with its well-formedness check on.
 *
 * The HTML is built here, every string from the report through `esc`; the page
 * loads nothing (a Content-Security-Policy allows inline styles only) and its
 * charts are inline SVG.
 */
import { create } from 'xmlbuilder2';
import { writeFileAtomic } from '../pki';
import type { BenchReport, CaseChart, CaseFamily, CaseResult, CaseStatus } from './report-types';

/** The families in the order the reports list them. */
const FAMILIES: readonly CaseFamily[] = ['tls', 'mqtt', 'upload', 'kvs', 'ptp'];

// Characters XML 1.0 has no way to carry (C0 controls but tab, LF, CR; U+FFFE/U+FFFF; unpaired surrogates).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The string with every character XML cannot carry written as `\uXXXX`, so device output shows what it held. */
function visible(s: string): string {
  return s.replace(NOT_XML, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

interface Counts {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
}

function counts(cases: readonly CaseResult[]): Counts {
  const n = (s: CaseStatus) => cases.filter((c) => c.status === s).length;
  return { total: cases.length, passed: n('passed'), failed: n('failed'), skipped: n('skipped') };
}

/** Cases grouped by family, families in FAMILIES order, cases in report order; families without cases left out. */
function byFamily(cases: readonly CaseResult[]): [CaseFamily, CaseResult[]][] {
  return FAMILIES.map((f): [CaseFamily, CaseResult[]] => [f, cases.filter((c) => c.family === f)]).filter(([, cs]) => cs.length > 0);
}

/** JUnit's time: seconds, millisecond precision. */
function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(3);
}

function indent(text: string, by: string): string {
  return text.split('\n').join(`\n${by}`);
}

/** The body of a <failure>: the verdict, the evidence, the timeline. */
function failureBody(c: CaseResult): string {
  const lines = [c.message ?? 'failed'];
  lines.push('', 'evidence:');
  if (c.evidence.length === 0) lines.push('  (none)');
  for (const e of c.evidence) lines.push(`  - ${indent(e, '    ')}`);
  lines.push('', 'timeline (ms since the case started):');
  if (c.timeline.length === 0) lines.push('  (none)');
  const width = Math.max(1, ...c.timeline.map((t) => String(t.atMs).length));
  for (const t of c.timeline) lines.push(`  ${String(t.atMs).padStart(width)}  ${t.who.padEnd(6)}  ${indent(t.what, ' '.repeat(width + 12))}`);
  return visible(lines.join('\n'));
}

/**
 * JUnit XML: <testsuites name="camwire.testbench"> with one <testsuite
 * name="camwire.testbench.FAMILY"> per family that has cases, one <testcase
 * classname="testbench.FAMILY" name="CASE-ID"> per case. A failed case has
 * <failure message> with the evidence and timeline as its text; a skipped one
 * <skipped message>; a passed one its evidence in <system-out>. Counts and
 * times are computed from the cases.
 */
export function junitXml(report: BenchReport): string {
  const all = counts(report.cases);
  const root = create({ version: '1.0', encoding: 'UTF-8' }).ele('testsuites', {
    name: 'camwire.testbench',
    tests: String(all.total),
    failures: String(all.failed),
    errors: '0',
    skipped: String(all.skipped),
    time: seconds(report.durationMs),
    timestamp: visible(report.startedAt),
  });
  for (const [family, cases] of byFamily(report.cases)) {
    const n = counts(cases);
    const suite = root.ele('testsuite', {
      name: `camwire.testbench.${family}`,
      tests: String(n.total),
      failures: String(n.failed),
      errors: '0',
      skipped: String(n.skipped),
      time: seconds(cases.reduce((sum, c) => sum + Math.max(0, c.durationMs), 0)),
      timestamp: visible(report.startedAt),
    });
    const props = suite.ele('properties');
    props.ele('property', { name: 'thing', value: visible(report.thing) });
    props.ele('property', { name: 'device', value: report.device.external ? 'external' : visible(report.device.command ?? '') });
    for (const c of cases) {
      const tc = suite.ele('testcase', { classname: `testbench.${family}`, name: visible(c.id), time: seconds(c.durationMs) });
      if (c.status === 'failed') {
        tc.ele('failure', { message: visible(c.message ?? 'failed'), type: 'verdict' }).txt(failureBody(c));
      } else if (c.status === 'skipped') {
        tc.ele('skipped', { message: visible(c.message ?? 'skipped') });
      }
      if (c.status !== 'failed' && c.evidence.length > 0) tc.ele('system-out').txt(visible(c.evidence.join('\n')));
    }
  }
  return root.end({ prettyPrint: true, wellFormed: true }) + '\n';
}

/** Text for HTML: the five characters that mean something in markup escaped, characters XML cannot carry made visible. */
function esc(s: string): string {
  return visible(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return 'n/a';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** A number for a label: integers as they are, others to three decimals at most. */
function num(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toFixed(3))) : String(v);
}

/** A step of 1, 2 or 5 times a power of ten near `raw`. */
function niceStep(raw: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

const CHART = { width: 640, height: 260, left: 64, right: 16, top: 28, bottom: 48 };

/**
 * An inline SVG bar chart of the series: one <rect class="bar"> per value
 * (a value that is not a finite number drawn as 0, its tooltip saying what it
 * was), a y axis with ticks labelled in the unit, the values' indices on the
 * x axis.
 */
function svgChart(chart: CaseChart): string {
  const { width, height, left, right, top, bottom } = CHART;
  const w = width - left - right;
  const h = height - top - bottom;
  const values = chart.values.map((v) => (Number.isFinite(v) ? v : 0));
  let lo = Math.min(0, ...values);
  let hi = Math.max(0, ...values);
  if (hi === lo) hi = lo + 1;
  const step = niceStep((hi - lo) / 5);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const y = (v: number) => top + h - ((v - lo) / (hi - lo)) * h;
  const f = (v: number) => v.toFixed(1);
  const out: string[] = [];
  out.push(
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(`${chart.title} (${chart.unit})`)}">`,
  );
  out.push(`<text class="chart-title" x="${left}" y="16">${esc(chart.title)}</text>`);
  for (let t = lo, i = 0; t <= hi + step / 2 && i < 50; t += step, i++) {
    out.push(`<line class="grid" x1="${left}" x2="${left + w}" y1="${f(y(t))}" y2="${f(y(t))}"/>`);
    out.push(`<text class="tick" x="${left - 6}" y="${f(y(t) + 4)}" text-anchor="end">${esc(num(t))}</text>`);
  }
  const band = values.length > 0 ? w / values.length : w;
  const labelEvery = Math.max(1, Math.ceil(values.length / 30));
  values.forEach((v, i) => {
    const x = left + i * band + band * 0.15;
    const y0 = y(Math.max(0, v));
    const barH = Math.abs(y(v) - y(0));
    const raw = chart.values[i];
    out.push(
      `<rect class="bar" x="${f(x)}" y="${f(y0)}" width="${f(band * 0.7)}" height="${f(barH)}"><title>${esc(`#${i + 1}: ${num(raw)} ${chart.unit}`)}</title></rect>`,
    );
    if (values.length <= 24) out.push(`<text class="value" x="${f(x + band * 0.35)}" y="${f(y0 - 4)}" text-anchor="middle">${esc(num(raw))}</text>`);
    if (i % labelEvery === 0) out.push(`<text class="tick" x="${f(x + band * 0.35)}" y="${top + h + 16}" text-anchor="middle">${i + 1}</text>`);
  });
  if (values.length === 0) out.push(`<text class="tick" x="${left + w / 2}" y="${top + h / 2}" text-anchor="middle">no values</text>`);
  out.push(`<line class="axis" x1="${left}" x2="${left}" y1="${top}" y2="${top + h}"/>`);
  out.push(`<line class="axis" x1="${left}" x2="${left + w}" y1="${f(y(0))}" y2="${f(y(0))}"/>`);
  out.push(`<text class="axis-label" transform="translate(16 ${top + h / 2}) rotate(-90)" text-anchor="middle">${esc(chart.unit)}</text>`);
  out.push(`<text class="axis-label" x="${left + w / 2}" y="${height - 8}" text-anchor="middle">sample (1 to ${values.length})</text>`);
  out.push('</svg>');
  return out.join('\n');
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; margin: 0 auto; padding: 24px; max-width: 1100px; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 17px; margin: 0 0 8px; } h3 { font-size: 14px; margin: 14px 0 4px; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0 0 12px; } dl.meta dt { color: #59636e; } dl.meta dd { margin: 0; }
.summary span { display: inline-block; padding: 3px 10px; border-radius: 12px; margin-right: 6px; font-weight: 600; }
.count.total { background: #eaeef2; } .count.passed { background: #dafbe1; color: #116329; } .count.failed { background: #ffebe9; color: #a40e26; } .count.skipped { background: #fff8c5; color: #7d4e00; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; } th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #d1d9e0; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; } td.num { text-align: right; white-space: nowrap; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.passed { background: #1a7f37; color: #fff; } .badge.failed { background: #cf222e; color: #fff; } .badge.skipped { background: #9a6700; color: #fff; }
section.case { border: 1px solid #d1d9e0; border-left-width: 6px; border-radius: 6px; padding: 12px 16px; margin: 16px 0; }
section.case.passed { border-left-color: #1a7f37; } section.case.failed { border-left-color: #cf222e; } section.case.skipped { border-left-color: #9a6700; }
.verdict { font-weight: 600; } section.failed .verdict { color: #a40e26; }
ul.evidence { margin: 0; padding-left: 20px; } ul.evidence li { white-space: pre-wrap; word-break: break-word; }
table.timeline th:nth-child(1), table.timeline th:nth-child(2) { width: 6em; } figure { margin: 14px 0 0; }
table.timeline td.what { white-space: pre-wrap; word-break: break-word; } .who-bench { color: #0550ae; } .who-device { color: #8250df; } .who-check { color: #116329; }
.none { color: #59636e; font-style: italic; }
svg.chart { max-width: 100%; height: auto; } svg .bar { fill: #0969da; } svg .grid { stroke: #eaeef2; } svg .axis { stroke: #59636e; }
svg text { font: 11px system-ui, sans-serif; fill: #59636e; } svg .chart-title { font-size: 13px; font-weight: 600; fill: #1f2328; } svg .value { fill: #1f2328; } svg .axis-label { font-size: 12px; fill: #1f2328; }
`;

function caseSection(c: CaseResult, anchor: string): string {
  const out: string[] = [];
  out.push(`<section class="case ${esc(c.status)}" id="${anchor}">`);
  out.push(
    `<h2><code>${esc(c.id)}</code> ${esc(c.title)} <span class="badge ${esc(c.status)}">${esc(c.status)}</span> <span class="mono">${duration(c.durationMs)}</span></h2>`,
  );
  out.push(`<p class="checks"><strong>Checks:</strong> ${esc(c.checks)}</p>`);
  out.push(`<p class="verdict">${c.message !== undefined ? esc(c.message) : c.status === 'passed' ? 'Passed.' : esc(c.status)}</p>`);
  out.push('<h3>Evidence</h3>');
  if (c.evidence.length === 0) out.push('<p class="none">none recorded</p>');
  else out.push(`<ul class="evidence">${c.evidence.map((e) => `<li class="mono">${esc(e)}</li>`).join('')}</ul>`);
  out.push('<h3>Timeline</h3>');
  if (c.timeline.length === 0) out.push('<p class="none">none recorded</p>');
  else {
    out.push('<table class="timeline"><thead><tr><th>ms</th><th>who</th><th>what</th></tr></thead><tbody>');
    for (const t of c.timeline) {
      out.push(
        `<tr><td class="num mono">${esc(num(t.atMs))}</td><td class="who-${esc(t.who)}">${esc(t.who)}</td><td class="what mono">${esc(t.what)}</td></tr>`,
      );
    }
    out.push('</tbody></table>');
  }
  if (c.chart) out.push(`<figure>${svgChart(c.chart)}</figure>`);
  out.push('</section>');
  return out.join('\n');
}

/**
 * One self-contained HTML page: the run (thing, start, duration, device, counts),
 * a table of the cases linking to a section for each (what it checks, the
 * verdict, evidence, timeline, and a bar chart when the case has one).
 */
export function htmlReport(report: BenchReport): string {
  const n = counts(report.cases);
  const device = report.device.external || !report.device.command ? 'external device' : `<code>${esc(report.device.command)}</code>`;
  const out: string[] = [];
  out.push('<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">');
  out.push(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
  out.push('<meta name="viewport" content="width=device-width, initial-scale=1">');
  out.push(`<title>camwire testbench: ${esc(report.thing)}</title>`, `<style>${STYLE}</style>`, '</head>', '<body>');
  out.push('<header>', `<h1>camwire testbench: ${esc(report.thing)}</h1>`, '<dl class="meta">');
  out.push(`<dt>Thing</dt><dd><code>${esc(report.thing)}</code></dd>`);
  out.push(`<dt>Started</dt><dd>${esc(report.startedAt)}</dd>`);
  out.push(`<dt>Duration</dt><dd>${duration(report.durationMs)}</dd>`);
  out.push(`<dt>Device</dt><dd>${device}</dd>`, '</dl>');
  out.push(
    `<p class="summary"><span class="count total">${n.total} cases</span><span class="count passed">${n.passed} passed</span>` +
      `<span class="count failed">${n.failed} failed</span><span class="count skipped">${n.skipped} skipped</span></p>`,
  );
  out.push('</header>', '<main>');
  out.push('<table class="cases"><thead><tr><th>Case</th><th>Title</th><th>Status</th><th>Duration</th><th>Message</th></tr></thead><tbody>');
  report.cases.forEach((c, i) => {
    out.push(
      `<tr><td><a href="#case-${i}"><code>${esc(c.id)}</code></a></td><td>${esc(c.title)}</td><td><span class="badge ${esc(c.status)}">${esc(c.status)}</span></td>` +
        `<td class="num">${duration(c.durationMs)}</td><td>${esc(c.message ?? '')}</td></tr>`,
    );
  });
  out.push('</tbody></table>');
  report.cases.forEach((c, i) => out.push(caseSection(c, `case-${i}`)));
  out.push('</main>', '</body>', '</html>');
  return out.join('\n') + '\n';
}

/** One line for `--json`: id, family, status, durationMs, message (when there is one), evidence, in that order. */
export function jsonLine(c: CaseResult): string {
  return JSON.stringify({ id: c.id, family: c.family, status: c.status, durationMs: c.durationMs, message: c.message, evidence: c.evidence });
}

/** Writes the JUnit XML and/or the HTML page, each to its path (parent directories made). */
export function writeReports(report: BenchReport, to: { junit?: string; html?: string }): void {
  const junit = to.junit !== undefined ? junitXml(report) : undefined;
  const html = to.html !== undefined ? htmlReport(report) : undefined;
  if (to.junit !== undefined && junit !== undefined) writeFileAtomic(to.junit, junit, 0o644, { overwrite: true });
  if (to.html !== undefined && html !== undefined) writeFileAtomic(to.html, html, 0o644, { overwrite: true });
}
