/**
 * The sidebar's compact list of runs, made to fit 250 px: per run a checkbox, its name (cut with an ellipsis,
 * the full name on hover), a status badge, then the one metric that matters with a sparkline of its per-step
 * series (an inline SVG, points downsampled by the server), and the experiment when the list mixes several.
 */
import { IRunRecord, IRunsPage } from './api';
import { formatValue, h } from './dom';

const SVG = 'http://www.w3.org/2000/svg';
const SPARK_WIDTH = 56;
const SPARK_HEIGHT = 16;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, value);
  }
  return node;
}

/** A line through `points` (null: a gap), scaled to the box; described for screen readers by `label`. */
export function sparkline(points: (number | null)[], label: string): SVGSVGElement {
  const finite = points.filter((p): p is number => p !== null);
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  const span = high - low || 1;
  const x = (i: number) => ((i / Math.max(1, points.length - 1)) * (SPARK_WIDTH - 2) + 1).toFixed(1);
  const y = (v: number) => (SPARK_HEIGHT - 1 - ((v - low) / span) * (SPARK_HEIGHT - 2)).toFixed(1);
  let d = '';
  let pen = 'M';
  points.forEach((p, i) => {
    if (p === null) {
      pen = 'M';
      return;
    }
    d += `${pen}${x(i)} ${y(p)} `;
    pen = 'L';
  });
  const node = svg('svg', {
    class: 'jp-nbtrack-spark',
    width: String(SPARK_WIDTH),
    height: String(SPARK_HEIGHT),
    viewBox: `0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}`,
    role: 'img',
    'aria-label': label
  });
  const title = svg('title', {});
  title.textContent = label;
  node.append(title, svg('path', { d: d.trim(), fill: 'none' }));
  return node;
}

export interface IRunListOptions {
  /** Show each run's experiment (the list mixes several). */
  experiments: boolean;
  caption: string;
  onToggle(id: string, on: boolean): void;
  onOpen(id: string): void;
}

/** When a run started, short: the time today, else the date (the full date and time on hover). */
function started(seconds: number): HTMLElement {
  const date = new Date(seconds * 1000);
  const today = date.toDateString() === new Date().toDateString();
  const text = today ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : date.toLocaleDateString();
  return h('span', { class: 'jp-nbtrack-run-time', title: date.toLocaleString() }, text);
}

function row(page: IRunsPage, run: IRunRecord, options: IRunListOptions): HTMLElement {
  const label = run.name || run.id.slice(-8);
  const box = h('input', {
    type: 'checkbox',
    'aria-label': `Select run ${label}`,
    'data-run-id': run.id,
    'data-focus-key': `select-${run.id}`
  });
  box.addEventListener('change', () => options.onToggle(run.id, box.checked));
  const open = h(
    'button',
    {
      class: 'jp-nbtrack-link jp-nbtrack-run-name',
      type: 'button',
      title: `${label}\nDetails of run ${run.id}`,
      'data-focus-key': `open-${run.id}`
    },
    label
  );
  open.addEventListener('click', () => options.onOpen(run.id));
  const status = page.status[run.id] ?? run.status ?? 'unknown';
  const metric = page.metric ?? null;
  const points = metric ? page.sparklines?.[run.id] : undefined;
  const value = metric ? formatValue(run.metrics?.[metric]) : '';
  return h(
    'li',
    { class: 'jp-nbtrack-run', 'data-run-id': run.id },
    box,
    open,
    h('span', { class: `jp-nbtrack-badge jp-nbtrack-status-${status}` }, status),
    h(
      'div',
      { class: 'jp-nbtrack-run-facts' },
      metric
        ? h('span', { class: 'jp-nbtrack-number jp-nbtrack-run-metric', title: `metrics.${metric}` }, value)
        : null,
      points ? sparkline(points, `${metric} by step, ${points.length} points`) : null,
      options.experiments
        ? h('span', { class: 'jp-nbtrack-run-experiment', title: `Experiment ${run.experiment}` }, run.experiment)
        : started(run.start_time)
    )
  );
}

/** The page's runs as a list with a header naming its fields. */
export function runList(page: IRunsPage, options: IRunListOptions): HTMLElement {
  const metric = page.metric ?? null;
  const header = h(
    'div',
    { class: 'jp-nbtrack-run-header', 'aria-hidden': 'true' },
    h('span', { class: 'jp-nbtrack-run-check' }),
    h('span', {}, 'Run'),
    h('span', {}, 'Status'),
    h(
      'span',
      { class: 'jp-nbtrack-run-facts' },
      metric ? h('span', { class: 'jp-nbtrack-run-metric' }, metric) : null,
      metric && Object.keys(page.sparklines ?? {}).length ? h('span', { class: 'jp-nbtrack-spark-head' }, 'by step') : null,
      h('span', {}, options.experiments ? 'Experiment' : 'Started')
    )
  );
  return h(
    'div',
    { class: 'jp-nbtrack-runs' },
    header,
    h(
      'ul',
      { class: 'jp-nbtrack-run-list', 'aria-label': options.caption },
      page.runs.map(run => row(page, run, options))
    )
  );
}
