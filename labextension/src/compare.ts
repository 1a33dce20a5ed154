/** The comparison view: the statistical tables and plots of `nbtrack.compare`, and Run more. */
import { IComparison, NbtrackApi, Row } from './api';
import { comparisonCharts, FIRST_CHARTS, paintGroups } from './charts';
import { formatValue, h, message, table } from './dom';
import { Resource } from './model';
import { ResourceView } from './resource_view';

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
    super(new Resource(() => _api.compare(_dir, _runs, '', [], FIRST_CHARTS)));
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
    const reload = () => {
      this._metric = metric.value;
      void this.resource.load(() => this._api.compare(this._dir, this._runs, this._metric, [], FIRST_CHARTS));
    };
    metric.addEventListener('change', reload);
    const more = h('button', { class: 'jp-nbtrack-run-more', title: 'Add seeds to the groups until the comparison is decided' }, 'Run more…');
    more.addEventListener('click', () => void this._previewRunMore());
    return [
      h('h2', {}, `Comparison of ${this._runs.length} runs`),
      h(
        'div',
        { class: 'jp-nbtrack-controls' },
        h('label', {}, 'Metric ', metric),
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
          void this.resource.load(() => this._api.compare(this._dir, this._runs, this._metric, [], FIRST_CHARTS));
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
      const groupsTable = rowsTable(caption, groups, GROUP_COLUMNS, 'is_reference');
      paintGroups(groupsTable, groups, cmp.colors);
      out.push(groupsTable);
      if (pairs.length) {
        out.push(rowsTable(`Each group against the reference for ${metric}`, pairs, PAIR_COLUMNS));
      }
    }
    out.push(comparisonCharts(cmp, { api: this._api, dir: this._dir, runs: this._runs, metric: this._metric }));
    if (cmp.notes.length) {
      out.push(h('details', {}, h('summary', {}, 'Methods'), h('ul', {}, cmp.notes.map(n => h('li', {}, n)))));
    }
    return out;
  }

  private _metric = '';
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

