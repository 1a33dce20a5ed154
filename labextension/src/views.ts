/**
 * Main-area views: a comparison (the statistical tables and plots of `nbtrack.compare`), a diff of two
 * runs, and one run's details. Each renders a `Resource` and re-renders when it changes.
 */
import { Widget } from '@lumino/widgets';

import { IComparison, IContents, IDetails, IDiff, NbtrackApi, Row } from './api';
import { formatDuration, formatSize, formatTime, formatValue, h, message, table } from './dom';
import { Resource } from './model';

abstract class ResourceView<T> extends Widget {
  constructor(protected resource: Resource<T>) {
    super();
    this.addClass('jp-nbtrack-view');
    resource.changed.connect(this.render, this);
  }

  dispose(): void {
    this.resource.changed.disconnect(this.render, this);
    super.dispose();
  }

  render(): void {
    const { value, error, loading } = this.resource;
    const parts: Node[] = [];
    if (error) {
      parts.push(message('error', error));
    } else if (loading && !value) {
      parts.push(h('p', { role: 'status' }, 'Loading…'));
    }
    if (value) {
      parts.push(...this.renderValue(value));
    }
    this.node.replaceChildren(...this.header(), ...parts);
    this.node.setAttribute('aria-busy', loading ? 'true' : 'false');
  }

  protected header(): Node[] {
    return [];
  }

  protected abstract renderValue(value: T): Node[];
}

// comparison -------------------------------------------------------------------------------------------

const PLOTS = ['box', 'diff', 'parallel', 'matrix', 'curves'];

const GROUP_COLUMNS: [string, string][] = [
  ['group', 'Group'],
  ['n', 'Runs'],
  ['n_failed', 'Failed'],
  ['mean', 'Mean'],
  ['ci_low', 'CI low'],
  ['ci_high', 'CI high'],
  ['median', 'Median'],
  ['iqm', 'IQM'],
  ['std', 'Std'],
  ['min', 'Min'],
  ['max', 'Max']
];

const PAIR_COLUMNS: [string, string][] = [
  ['group', 'Group'],
  ['reference', 'Against'],
  ['diff', 'Difference'],
  ['diff_ci_low', 'CI low'],
  ['diff_ci_high', 'CI high'],
  ['p_better', 'P(better)'],
  ['p_better_ci_low', 'P low'],
  ['p_better_ci_high', 'P high'],
  ['n_failed', 'Failed'],
  ['test', 'Test'],
  ['p_adjusted', 'Adjusted p'],
  ['effect_size', 'Hedges g'],
  ['verdict', 'Verdict'],
  ['runs_needed', 'Runs needed'],
  ['flag', 'Flag']
];

/** `nbtrack.compare(runs, metric=...)`: warnings first, then per metric the groups and the verdicts. */
export class ComparisonView extends ResourceView<IComparison> {
  constructor(
    private _api: NbtrackApi,
    private _dir: string,
    private _runs: string[]
  ) {
    super(new Resource(() => _api.compare(_dir, _runs, '', ['box'])));
    this.addClass('jp-nbtrack-comparison');
    this.title.label = `Compare ${_runs.length} runs`;
    this.title.caption = `nbtrack comparison of ${_runs.join(', ')}`;
    void this.resource.load();
  }

  protected header(): Node[] {
    const value = this.resource.value;
    const metric = h('select', { 'aria-label': 'Metric' });
    metric.append(h('option', { value: '' }, 'All metrics'));
    for (const m of value?.available_metrics ?? []) {
      metric.append(h('option', { value: m, selected: m === this._metric }, m));
    }
    const plot = h('select', { 'aria-label': 'Plot' });
    for (const kind of PLOTS) {
      plot.append(h('option', { value: kind, selected: kind === this._plot }, `${kind} plot`));
    }
    const reload = () => {
      this._metric = metric.value;
      this._plot = plot.value;
      void this.resource.load(() => this._api.compare(this._dir, this._runs, this._metric, [this._plot]));
    };
    metric.addEventListener('change', reload);
    plot.addEventListener('change', reload);
    const more = h('button', { class: 'jp-nbtrack-run-more', title: 'Add seeds to the groups until the comparison is decided' }, 'Run more…');
    more.addEventListener('click', () => void this._previewRunMore());
    return [
      h('h2', {}, `Comparison of ${this._runs.length} runs`),
      h(
        'div',
        { class: 'jp-nbtrack-controls' },
        h('label', {}, 'Metric ', metric),
        h('label', {}, 'Plot ', plot),
        more
      ),
      this._runMoreBox
    ];
  }

  /** Show what Run more would start and ask before starting it. */
  private async _previewRunMore(): Promise<void> {
    const box = this._runMoreBox;
    box.replaceChildren(h('p', {}, 'Looking at what is undecided…'));
    try {
      const plan = await this._api.runMorePreview(this._dir, this._runs, this._metric);
      if (!plan.runs) {
        box.replaceChildren(message('info', 'Nothing to run: every pair is decided or no group can take more runs.'));
        return;
      }
      const rows = plan.groups.map(g => [
        g.group,
        String(g.runs),
        String(g.new_runs),
        g.seeds.map(String).join(', '),
        g.seconds === null ? 'unknown' : `${g.seconds} s`
      ]);
      const caption = 'Runs that Run more would add';
      const columns = ['Group', 'Runs now', 'New runs', 'Seeds', 'Estimated time'].map(text => ({ text, title: text }));
      const start = h('button', { class: 'jp-mod-accept' }, `Start ${plan.runs} runs`);
      const cancel = h('button', {}, 'Cancel');
      cancel.addEventListener('click', () => box.replaceChildren());
      start.addEventListener('click', () => void this._startRunMore());
      const total = plan.seconds === null ? '' : ` (about ${plan.seconds} s on ${plan.workers} workers)`;
      box.replaceChildren(h('p', {}, `Run more would add ${plan.runs} runs${total}:`), table(caption, columns, rows), h('div', { class: 'jp-nbtrack-controls' }, start, cancel));
    } catch (error) {
      box.replaceChildren(message('error', `Run more is not available: ${(error as Error).message}`));
    }
  }

  private async _startRunMore(): Promise<void> {
    const box = this._runMoreBox;
    try {
      const { job } = await this._api.runMoreStart(this._dir, this._runs, this._metric);
      const status = h('p', { role: 'status' }, `Job ${job} started…`);
      box.replaceChildren(status);
      for (;;) {
        await new Promise(resolve => setTimeout(resolve, 2000));
        const state = await this._api.job(this._dir, job);
        status.textContent = `Job ${job}: ${state.state}, ${state.runs.length} runs added, ${state.decided} pairs decided${state.failed ? `, ${state.failed} failed` : ''}.`;
        if (!['planned', 'running'].includes(state.state)) {
          if (state.error) {
            box.append(message('error', state.error));
          }
          this._runs = [...this._runs, ...state.runs.filter(id => !this._runs.includes(id))];
          this.title.label = `Compare ${this._runs.length} runs`;
          void this.resource.load(() => this._api.compare(this._dir, this._runs, this._metric, [this._plot]));
          return;
        }
      }
    } catch (error) {
      box.replaceChildren(message('error', `Run more failed: ${(error as Error).message}`));
    }
  }

  private _runMoreBox: HTMLElement = h('div', { class: 'jp-nbtrack-run-more-box' });

  protected renderValue(cmp: IComparison): Node[] {
    const out: Node[] = [];
    if (cmp.warnings.length) {
      out.push(message('warning', h('strong', {}, 'Warnings'), h('ul', {}, cmp.warnings.map(w => h('li', {}, w)))));
    }
    for (const metric of cmp.metrics) {
      const groups = cmp.groups.filter(r => r.metric === metric);
      const pairs = cmp.pairs.filter(r => r.metric === metric);
      const better = groups[0]?.higher_is_better === false ? 'lower' : 'higher';
      out.push(h('h3', {}, `${metric} (${better} is better)`));
      const caption = `Groups for ${metric}: runs, mean with its interval, median, IQM`;
      out.push(rowsTable(caption, groups, GROUP_COLUMNS, 'is_reference'));
      if (pairs.length) {
        out.push(rowsTable(`Each group against the reference for ${metric}`, pairs, PAIR_COLUMNS));
      }
    }
    for (const [kind, src] of Object.entries(cmp.plots)) {
      const alt = `${kind} plot of ${cmp.metrics.join(', ')}`;
      out.push(h('figure', {}, h('img', { src, alt }), h('figcaption', {}, `${kind} plot`)));
    }
    for (const [kind, error] of Object.entries(cmp.plot_errors)) {
      out.push(message('warning', `The ${kind} plot could not be drawn: ${error}`));
    }
    if (cmp.notes.length) {
      out.push(h('details', {}, h('summary', {}, 'Methods'), h('ul', {}, cmp.notes.map(n => h('li', {}, n)))));
    }
    return out;
  }

  private _metric = '';
  private _plot = 'box';
}

function rowsTable(caption: string, rows: Row[], columns: [string, string][], mark?: string): HTMLElement {
  const cells = rows.map(row =>
    columns.map(([key], i) => {
      const text = formatValue(row[key]);
      return i === 0 && mark && row[mark] ? `${text} (reference)` : text;
    })
  );
  const node = table(caption, columns.map(([key, text]) => ({ text, title: key })), cells);
  node.querySelectorAll('tbody tr').forEach((tr, i) => {
    const verdict = rows[i].verdict;
    if (typeof verdict === 'string') {
      tr.setAttribute('data-verdict', verdict);
    }
  });
  return node;
}

// diff -----------------------------------------------------------------------------------------------------

export class DiffView extends ResourceView<IDiff> {
  constructor(api: NbtrackApi, dir: string, a: string, b: string) {
    super(new Resource(() => api.diff(dir, a, b)));
    this.addClass('jp-nbtrack-diff');
    this.title.label = `Diff ${a.slice(-6)} → ${b.slice(-6)}`;
    this.title.caption = `nbtrack diff A=${a} B=${b}`;
    void this.resource.load();
  }

  protected renderValue(d: IDiff): Node[] {
    const out: Node[] = [h('h2', {}, 'What changed from A to B'), h('p', {}, `A = ${d.a}, B = ${d.b}`)];
    const sections: [string, Row[], string][] = [
      ['Params', d.params, 'name'],
      ['Metrics', d.metrics, 'name'],
      ['Data', d.data, 'name'],
      ['Models', d.models ?? [], 'name'],
      ['Outputs', d.outputs ?? [], 'name'],
      ['Environment', d.env, 'what']
    ];
    for (const [title, rows, key] of sections) {
      if (rows.length) {
        const sourced = title === 'Params' && rows.some(r => typeof r.source === 'string');
        const cells = rows.map(r => [
          String(r.change ?? ''),
          String(r[key] ?? ''),
          ...(sourced ? [String(r.source ?? '')] : []),
          diffSide(title, r, 'a'),
          diffSide(title, r, 'b')
        ]);
        const headers = ['Change', 'Name', ...(sourced ? ['Source'] : []), 'A', 'B'];
        out.push(h('h3', {}, title), table(`${title} that differ`, headers, cells));
      }
    }
    if (d.code.length) {
      out.push(h('h3', {}, `Code (${d.code_source})`));
      for (const change of d.code) {
        out.push(h('pre', { class: 'jp-nbtrack-code' }, change.diff.length ? change.diff.join('\n') : change.kind));
      }
    }
    if (out.length === 2) {
      out.push(h('p', {}, 'No differences.'));
    }
    return out;
  }
}

/** One side of a diff row: a model as class and short hash, an output file as short hash and size. */
function diffSide(title: string, r: Row, side: 'a' | 'b'): string {
  const value = r[side];
  if (title === 'Models') {
    const klass = r[`${side}_class`];
    if (value === null && !klass) {
      return '—';
    }
    const skipped = r[`${side}_skipped`];
    return `${klass ?? '?'} ${typeof value === 'string' ? value.slice(0, 12) : `not kept: ${skipped ?? ''}`}`;
  }
  if (title === 'Outputs') {
    return typeof value === 'string' ? `${value.slice(0, 12)} (${formatSize(r[`${side}_size`])})` : '—';
  }
  return formatValue(value);
}

// details --------------------------------------------------------------------------------------------------

export class DetailsView extends ResourceView<IDetails> {
  constructor(
    readonly api: NbtrackApi,
    readonly dir: string,
    id: string
  ) {
    super(new Resource(() => api.details(dir, id)));
    this.addClass('jp-nbtrack-details');
    this.title.label = `Run ${id.slice(-8)}`;
    this.title.caption = `nbtrack run ${id}`;
    void this.resource.load();
  }

  dispose(): void {
    this._revoke();
    super.dispose();
  }

  /** Fetch a figure with the token and show it (an object URL, revoked when the view re-renders or closes). */
  showImage(img: HTMLImageElement, id: string, digest: string): void {
    this.api
      .blob(this.dir, id, digest)
      .then(blob => {
        const url = URL.createObjectURL(blob);
        this._urls.push(url);
        img.src = url;
      })
      .catch(() => img.replaceWith(message('warning', `The figure ${img.alt} could not be loaded.`)));
  }

  private _contents(id: string, c: IContents): Node[] {
    this._revoke();
    return contentsParts(this, id, c);
  }

  private _revoke(): void {
    this._urls.forEach(url => URL.revokeObjectURL(url));
    this._urls = [];
  }

  private _urls: string[] = [];

  protected renderValue(d: IDetails): Node[] {
    const run = d.run;
    this.title.label = `Run ${run.name || run.id.slice(-8)}`;
    const out: Node[] = [
      h('h2', {}, run.name || run.id),
      h(
        'dl',
        { class: 'jp-nbtrack-facts' },
        fact('Id', run.id),
        fact('Experiment', run.experiment ?? '—'),
        fact('Status', d.status),
        fact('Started', formatTime(run.start_time)),
        fact('Duration', formatDuration(run.duration))
      )
    ];
    if (run.error) {
      out.push(message('error', `${run.error.type ?? 'Error'}: ${run.error.message ?? ''}`));
    }
    const bySource = Object.entries(d.contents?.params_by_source ?? {});
    if (bySource.length) {
      const rows = bySource.flatMap(([label, names]) => names.map(n => [label, n, formatValue(run.params?.[n])]));
      out.push(h('h3', {}, 'Params'), table('Params, by where they were written', ['Source', 'Name', 'Value'], rows));
    } else {
      out.push(h('h3', {}, 'Params'), keyValues('Params', run.params));
    }
    out.push(h('h3', {}, 'Metrics'), keyValues('Metrics', run.metrics));
    const data = Object.entries(run.data ?? {});
    if (data.length) {
      const rows = data.map(([name, fp]) => {
        const drift = d.drift[name];
        const change = !drift?.reference
          ? 'no earlier run'
          : drift.changed
            ? `changed${drift.note ? `: ${drift.note}` : ''}`
            : 'same as before';
        return [name, fp.kind ?? '—', (fp.shape ?? []).join(' × ') || '—', (fp.hash ?? '').slice(0, 12), change];
      });
      const headers = ['Input', 'Kind', 'Shape', 'Hash', 'Since the previous run'];
      out.push(h('h3', {}, 'Data'), table('Data fingerprints, against the previous run', headers, rows));
      const findings = data.flatMap(([name]) => (d.drift[name]?.findings ?? []).map(f => `${name}: ${f.message}`));
      if (findings.length) {
        out.push(message('warning', h('strong', {}, 'Data drift'), h('ul', {}, findings.map(f => h('li', {}, f)))));
      }
    }
    if (d.contents) {
      out.push(...this._contents(run.id, d.contents));
    }
    if (run.code) {
      out.push(h('h3', {}, 'Code'), h('pre', { class: 'jp-nbtrack-code' }, run.code));
    }
    out.push(h('h3', {}, 'Export'));
    if (d.export.available) {
      const links = d.export.formats.map(f => {
        const href = this.api.exportUrl(this.dir, run.id, f);
        return h('a', { href, download: true, class: 'jp-nbtrack-link' }, EXPORTS[f] ?? f);
      });
      out.push(h('p', {}, 'Download this run as ', ...links));
    } else {
      out.push(h('p', {}, 'Export is not available in this nbtrack installation.'));
    }
    return out;
  }
}

/** The run's models, figures (shown inline), artifacts, output files and linked runs, each blob a download. */
function contentsParts(view: DetailsView, id: string, c: IContents): Node[] {
  const out: Node[] = [];
  const download = (digest: string | null, label: string) =>
    digest
      ? h('a', { href: view.api.blobUrl(view.dir, id, digest), download: true, class: 'jp-nbtrack-link' }, label)
      : null;
  if (c.models.length) {
    const rows = c.models.map(m => [
      m.name,
      m.class ?? '—',
      m.format ?? '—',
      formatSize(m.size),
      m.skipped ? `not kept: ${m.skipped}` : (m.hash ?? '').slice(0, 12),
      m.kept ? download(m.blob, 'Download') : null
    ]);
    const headers = ['Model', 'Class', 'Format', 'Size', 'Hash', ''];
    const models = table('Models this run fitted or logged', headers, rows, 'jp-nbtrack-table jp-nbtrack-models');
    out.push(h('h3', {}, 'Models'), models);
  }
  const figures = c.artifacts.filter(a => a.figure && a.blob);
  if (figures.length) {
    out.push(h('h3', {}, 'Figures'));
    for (const a of figures) {
      const img = h('img', { alt: a.name, class: 'jp-nbtrack-figure' });
      view.showImage(img, id, a.blob ?? '');
      out.push(h('figure', {}, img, h('figcaption', {}, a.name)));
    }
  }
  if (c.artifacts.length) {
    const rows = c.artifacts.map(a => [
      a.name,
      a.kind,
      a.media_type ?? '—',
      formatSize(a.size),
      download(a.blob, 'Download')
    ]);
    out.push(h('h3', {}, 'Artifacts'), table('Artifacts', ['Name', 'Kind', 'Type', 'Size', ''], rows));
  }
  if (c.outputs.length) {
    const rows = c.outputs.map(o => [
      o.path,
      formatSize(o.size),
      (o.hash ?? '').slice(0, 12),
      o.kept ? download(o.kept, 'Download') : 'hashed only'
    ]);
    out.push(h('h3', {}, 'Outputs'), table('Files this run wrote', ['Path', 'Size', 'Hash', 'Kept'], rows));
  }
  const links = [
    ...Object.entries(c.upstream).map(([name, run]) => ['upstream', name, run]),
    ...Object.entries(c.downstream).map(([name, runs]) => ['downstream', name, runs.join(', ')])
  ];
  if (links.length) {
    out.push(h('h3', {}, 'Linked runs'), table('Runs this one reads from or feeds', ['', 'File', 'Run'], links));
  }
  return out;
}

const EXPORTS: Record<string, string> = {
  script: 'a script (.py)',
  notebook: 'a notebook (.ipynb)',
  dvc: 'a DVC stage (.zip)'
};

function fact(term: string, value: string): Node[] {
  return [h('dt', {}, term), h('dd', {}, value)];
}

function keyValues(what: string, values: Record<string, unknown> | undefined): HTMLElement {
  const rows = Object.entries(values ?? {}).map(([k, v]) => [k, formatValue(v)]);
  return rows.length ? table(what, ['Name', 'Value'], rows) : h('p', {}, `No ${what.toLowerCase()}.`);
}
