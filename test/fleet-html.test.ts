/**
 * The fleet report page: parse5 (the WHATWG HTML parser) reads it without a
 * parse error, it carries the numbers of the report, the percentile curves
 * and the ramp are inline SVG, nothing is loaded from elsewhere, no script
 * runs, and a hostile broker string, error code and note come out as text.
 */
import test from 'ava';
import { renderFleetHtml } from '../ts/fleet/html';
import { mergeReports } from '../ts/fleet/report';
import { shardReport, values } from './helpers/fleet-reports';

const HOSTILE = `mqtts://evil.example:8883/"><script>alert(1)</script><img src=x onerror=alert(2)>&amp;`;

const report = mergeReports(
  [0, 1].map((i) => ({
    ...shardReport(i, 2, 100, { connect: values(50, 40 + i * 100, i + 1), publish: values(2000, 2 + i * 10, i + 7), errors: { [`<b>E${i}</b>`]: i + 1 } }),
    broker: HOSTILE,
  })),
);
report.notes.push('</li><script>alert(3)</script>');

type Node = { nodeName: string; tagName?: string; attrs?: Array<{ name: string; value: string }>; childNodes?: Node[]; value?: string; content?: Node };

function walk(n: Node, f: (n: Node) => void): void {
  f(n);
  for (const c of n.childNodes ?? []) walk(c, f);
  if (n.content) walk(n.content, f);
}

test('the page parses without error, holds the numbers and draws inline SVG only', async (t) => {
  const { parse } = await import('parse5');
  const html = renderFleetHtml(report);
  const errors: string[] = [];
  const doc = parse(html, { onParseError: (e) => errors.push(`${e.code} at ${e.startLine}:${e.startCol}`) }) as unknown as Node;
  t.deepEqual(errors, []);
  const tags = new Map<string, number>();
  const text: string[] = [];
  const external: string[] = [];
  walk(doc, (n) => {
    if (n.tagName) tags.set(n.tagName, (tags.get(n.tagName) ?? 0) + 1);
    if (n.nodeName === '#text' && n.value) text.push(n.value);
    for (const a of n.attrs ?? []) {
      if (/^(src|href|xlink:href)$/i.test(a.name) || /^on/i.test(a.name)) external.push(`${n.tagName} ${a.name}=${a.value}`);
    }
  });
  t.is(tags.get('script'), undefined, 'no script element');
  t.is(tags.get('img'), undefined, 'the hostile img stayed text');
  t.deepEqual(external, [], 'no external resource, no handler attribute');
  t.is(tags.get('svg'), 2, 'the percentile curves and the ramp');
  t.is(tags.get('polyline'), 3, 'connect and publish curves, one ramp');
  const all = text.join('\n');
  t.true(all.includes(HOSTILE), 'the broker string is shown as it is, as text');
  t.true(all.includes('<b>E0</b>') && all.includes('</li><script>alert(3)</script>'));
  for (const v of [report.latency.publish.p99, report.latency.connect.p99, report.latency.publish.p999, report.published, report.devices])
    t.true(all.includes(String(v)), `the page shows ${v}`);
});

test('x of the percentile curve is log10 of 1/(1-p): 90 % one decade, 99 % two, the max past 99.999 %', (t) => {
  const html = renderFleetHtml(report);
  const svg = html.slice(html.indexOf('<svg'), html.indexOf('</svg>'));
  const x = (label: string) => Number(new RegExp(`<text x="([0-9.]+)" y="[0-9.]+" class="xt">${label.replace(/\./g, '\\.')}</text>`).exec(svg)?.[1]);
  const decade = x('90%') - x('0%');
  t.true(decade > 0);
  t.true(Math.abs((x('99%') - x('0%')) / decade - 2) < 0.01);
  t.true(Math.abs((x('99.999%') - x('0%')) / decade - 5) < 0.01);
  t.true(x('max') > x('99.999%'));
});
