/**
 * Interactive charts: Vega-Lite v5 specs built by nbtrack's Python analysis layer (`nbtrack.charts`, the same
 * specs a notebook shows), rendered here with vega-embed as SVG. Themed from JupyterLab's CSS variables and
 * re-rendered when the theme changes; hovering a mark shows its run (vega-tooltip escapes the text); clicking
 * a mark that carries a `run_id` calls `onSelect` with it.
 */
import embed, { Result, VisualizationSpec } from 'vega-embed';

import { IComparison, NbtrackApi } from './api';
import { h, message } from './dom';

export interface IChartOptions {
  /** What the chart shows, for screen readers (the figure's label). */
  label: string;
  /** Called with the run id of a clicked mark. */
  onSelect?: (runId: string) => void;
}

/** The kinds the server draws as Vega-Lite (`nbtrack.charts.KINDS`), and the static ones kept as images. */
export const CHART_KINDS: [string, string][] = [
  ['box', 'Box and strip, with intervals'],
  ['curves', 'Per-step curves'],
  ['parallel', 'Parallel coordinates'],
  ['scatter', 'Param against metric'],
  ['matrix', 'P(better) matrix']
];
const STATIC_KINDS: [string, string][] = [['diff', 'Differences (static image)']];
/** The kinds the comparison asks `/compare` for at once (cheap to build); the others are fetched after. */
export const FIRST_CHARTS = ['box', 'parallel', 'scatter', 'matrix'];

/** A colour swatch before each group's name in a comparison table (the colour its charts use). */
export function paintGroups(table: HTMLElement, rows: Record<string, unknown>[], colors: Record<string, string> = {}): void {
  table.querySelectorAll('tbody tr').forEach((tr, i) => {
    const color = colors[String(rows[i]?.group)];
    const cell = tr.firstElementChild;
    if (color && cell) {
      const swatch = h('span', { class: 'jp-nbtrack-swatch', 'aria-hidden': 'true' });
      swatch.style.backgroundColor = color;
      cell.prepend(swatch);
    }
  });
}

/** A Vega config from JupyterLab's theme variables: background, text, grid and font. */
export function themeConfig(): Record<string, unknown> {
  const style = getComputedStyle(document.body);
  const css = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  const text = css('--jp-ui-font-color1', 'currentColor');
  const muted = css('--jp-ui-font-color2', text);
  const grid = css('--jp-border-color2', muted);
  const font = css('--jp-ui-font-family', 'sans-serif');
  const axis = { labelColor: text, titleColor: text, gridColor: grid, domainColor: muted, tickColor: muted };
  return {
    background: css('--jp-layout-color0', 'transparent'),
    font,
    title: { color: text, font },
    axis: { ...axis, labelFont: font, titleFont: font },
    legend: { labelColor: text, titleColor: text, labelFont: font, titleFont: font },
    header: { labelColor: text, titleColor: text },
    text: { color: text },
    rule: { color: muted },
    view: { stroke: null }
  };
}

const live = new Set<LiveChart>();

/** vega-tooltip keeps one element for the page: hide it when the chart that showed it goes. */
function hideTooltip(): void {
  document.getElementById('vg-tooltip-element')?.classList.remove('visible');
}
let observer: MutationObserver | null = null;

/** Re-render every chart still on the page when JupyterLab's theme changes (it sets data-jp-theme-*). */
function watchTheme(): void {
  if (observer) {
    return;
  }
  observer = new MutationObserver(() => {
    for (const chart of [...live]) {
      if (chart.host.isConnected) {
        void chart.draw();
      } else {
        chart.dispose();
      }
    }
  });
  observer.observe(document.body, { attributes: true, attributeFilter: ['data-jp-theme-name', 'data-jp-theme-light'] });
}

class LiveChart {
  constructor(
    readonly host: HTMLElement,
    private _spec: Record<string, unknown>,
    private _options: IChartOptions
  ) {}

  /** (Re)draw with the current theme; resolves once the SVG is on the page, with the time it took in ms. */
  async draw(): Promise<number> {
    const start = performance.now();
    this._result?.finalize();
    hideTooltip();
    const light = document.body.dataset.jpThemeLight !== 'false';
    this._result = await embed(this.host, this._spec as VisualizationSpec, {
      mode: 'vega-lite',
      renderer: 'svg',
      actions: false,
      config: themeConfig() as never,
      tooltip: { theme: light ? 'nbtrack-light' : 'nbtrack-dark', disableDefaultStyle: true },
      downloadFileName: 'nbtrack-chart'
    });
    this._result.view.addEventListener('click', (_event, item) => {
      const datum = (item as { datum?: Record<string, unknown> } | null | undefined)?.datum;
      const runId = datum?.run_id;
      if (typeof runId === 'string' && this._options.onSelect) {
        this._options.onSelect(runId);
      }
    });
    this.host.querySelector('svg')?.setAttribute('aria-label', this._options.label);
    // a layer with no data (e.g. no outliers) leaves an empty, unnamed mark container: nothing to announce
    for (const empty of this.host.querySelectorAll('svg g[role="graphics-symbol"]:empty:not([aria-label])')) {
      empty.setAttribute('aria-hidden', 'true');
    }
    const ms = performance.now() - start;
    this.host.dataset.renderMs = ms.toFixed(1);
    return ms;
  }

  dispose(): void {
    this._result?.finalize();
    hideTooltip();
    this._result = null;
    live.delete(this);
  }

  private _result: Result | null = null;
}

/** A figure that renders `spec` (vega-embed, SVG) and keeps it in the theme; errors become a message. */
export function chartFigure(spec: Record<string, unknown>, options: IChartOptions): HTMLElement {
  const host = h('div', { class: 'jp-nbtrack-chart-host' });
  const figure = h('figure', { class: 'jp-nbtrack-chart', role: 'group', 'aria-label': options.label }, host);
  const chart = new LiveChart(host, spec, options);
  live.add(chart);
  watchTheme();
  chart.draw().catch(error => {
    chart.dispose();
    host.replaceChildren(message('warning', `The chart could not be drawn: ${(error as Error).message}`));
  });
  return figure;
}

export interface IComparisonChartsOptions {
  api: NbtrackApi;
  dir: string;
  runs: string[];
  metric: string;
}

/**
 * The comparison view's chart area: a chart picker, the chart (the comparison's first spec, then the
 * others fetched once from `/nbtrack/api/charts` and kept, so switching back is instant), and what the last
 * clicked mark selected. Static kinds (the differences plot) come from `/compare` as images.
 */
export function comparisonCharts(cmp: IComparison, options: IComparisonChartsOptions): HTMLElement {
  const specs = new Map<string, Promise<Record<string, unknown>>>();
  for (const [kind, spec] of Object.entries(cmp.charts ?? {})) {
    specs.set(kind, Promise.resolve(spec));
  }
  const first = Object.keys(cmp.charts ?? {})[0] ?? 'box';
  const picker = h('select', { 'aria-label': 'Chart', class: 'jp-nbtrack-chart-picker' });
  for (const [kind, text] of [...CHART_KINDS, ...STATIC_KINDS]) {
    picker.append(h('option', { value: kind, selected: kind === first }, text));
  }
  const selected = h('p', { class: 'jp-nbtrack-chart-selected', role: 'status' }, 'Click a run in the chart to select it.');
  const area = h('div', { class: 'jp-nbtrack-chart-area' });
  const errors = Object.entries(cmp.plot_errors ?? {});
  const root = h(
    'section',
    { class: 'jp-nbtrack-charts', 'aria-label': 'Charts' },
    h('div', { class: 'jp-nbtrack-controls' }, h('label', {}, 'Chart ', picker)),
    area,
    selected,
    errors.map(([kind, error]) => message('warning', `The ${kind} chart could not be drawn: ${error}`))
  );
  const onSelect = (runId: string) => {
    const names = cmp.run_names ?? {};
    selected.textContent = `Selected run ${names[runId] ? `${names[runId]} (${runId})` : runId}.`;
    root.dataset.selectedRun = runId;
    root.dispatchEvent(new CustomEvent('nbtrack-select-run', { bubbles: true, detail: { runId } }));
  };
  const show = async (kind: string) => {
    const start = performance.now();
    const label = `${kind} chart of ${cmp.metrics.join(', ')}`;
    root.dataset.chart = kind;
    delete root.dataset.switchMs; // set again once this chart is on the page
    if (STATIC_KINDS.some(([k]) => k === kind)) {
      area.replaceChildren(h('p', { role: 'status' }, 'Drawing…'));
      try {
        const res = await options.api.compare(options.dir, options.runs, options.metric, [kind]);
        const src = res.plots[kind];
        area.replaceChildren(src ? h('figure', {}, h('img', { src, alt: label })) : message('warning', res.plot_errors[kind] ?? `No ${kind} plot.`));
      } catch (error) {
        area.replaceChildren(message('error', `The ${kind} plot could not be drawn: ${(error as Error).message}`));
      }
      return;
    }
    if (!specs.has(kind)) {
      area.replaceChildren(h('p', { role: 'status' }, 'Drawing…'));
      specs.set(kind, options.api.chart(options.dir, options.runs, kind, options.metric).then(c => c.spec));
    }
    try {
      const spec = await specs.get(kind)!;
      hideTooltip();
      const figure = chartFigure(spec, { label, onSelect });
      area.replaceChildren(figure);
      await waitForSvg(figure);
      root.dataset.switchMs = (performance.now() - start).toFixed(1);
    } catch (error) {
      specs.delete(kind);
      area.replaceChildren(message('warning', `The ${kind} chart could not be drawn: ${(error as Error).message}`));
    }
  };
  picker.addEventListener('change', () => void show(picker.value));
  void show(first).then(() => {
    // fetch the kinds /compare did not send, one at a time, so switching to them is only a render
    let queue = Promise.resolve();
    for (const [kind] of CHART_KINDS) {
      if (!specs.has(kind)) {
        const spec = queue.then(() => options.api.chart(options.dir, options.runs, kind, options.metric)).then(c => c.spec);
        specs.set(kind, spec);
        spec.catch(() => specs.delete(kind));
        queue = spec.then(() => undefined, () => undefined);
      }
    }
  });
  return root;
}

/** Resolves when the figure holds its SVG (or after 5 s). */
function waitForSvg(figure: HTMLElement): Promise<void> {
  return new Promise(resolve => {
    const started = performance.now();
    const check = () => {
      if (figure.querySelector('svg') || performance.now() - started > 5000) {
        resolve();
      } else {
        requestAnimationFrame(check);
      }
    };
    check();
  });
}

/**
 * Per-step curves of one run, for the details view: a heading and the chart, or nothing when the run logged
 * no step series.
 */
export function runCurves(api: NbtrackApi, dir: string, runId: string): HTMLElement {
  const root = h('section', { class: 'jp-nbtrack-run-curves', 'aria-label': 'Per-step curves' });
  api
    .chart(dir, [runId], 'curves', '')
    .then(chart => root.replaceChildren(h('h3', {}, 'Per-step curves'), chartFigure(chart.spec, { label: `Per-step curves of run ${runId}` })))
    .catch(error => {
      const text = (error as Error).message;
      if (!/no step series/.test(text)) {
        root.replaceChildren(h('h3', {}, 'Per-step curves'), message('warning', `The curves could not be drawn: ${text}`));
      }
    });
  return root;
}
