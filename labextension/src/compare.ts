/** The comparison view: the statistical tables and plots of `nbtrack.compare`, and Run more. */
import { IComparison, NbtrackApi, Row } from './api';
import { comparisonCharts, FIRST_CHARTS, paintGroups } from './charts';
import { formatValue, h, message, table } from './dom';
import { columnStyle, formatNumber } from './format';
import { Resource } from './model';
import { ResourceView } from './resource_view';

/** [key, header, number style]: 'unit' columns of a table share one precision (they are in metric units). */
type Column = [string, string, 'unit' | 'num' | 'int' | 'p' | 'prob' | 'text'];

const GROUP_COLUMNS: Column[] = [
  ['group', 'Group', 'text'],
  ['n', 'Runs', 'int'],
  ['n_failed', 'Failed', 'int'],
  ['mean', 'Mean', 'unit'],
  ['ci_low', 'CI low', 'unit'],
  ['ci_high', 'CI high', 'unit'],
  ['median', 'Median', 'unit'],
  ['iqm', 'IQM', 'unit'],
  ['std', 'Std', 'unit'],
  ['min', 'Min', 'unit'],
  ['max', 'Max', 'unit']
];

/** The verdict early (third), so a 600 px pane shows who is better before any scrolling. */
const PAIR_COLUMNS: Column[] = [
  ['group', 'Group', 'text'],
  ['reference', 'Against', 'text'],
  ['verdict', 'Verdict', 'text'],
  ['diff', 'Difference', 'unit'],
  ['diff_ci_low', 'CI low', 'unit'],
  ['diff_ci_high', 'CI high', 'unit'],
  ['p_better', 'P(better)', 'prob'],
  ['p_better_ci_low', 'P low', 'prob'],
  ['p_better_ci_high', 'P high', 'prob'],
  ['runs_needed', 'Runs needed', 'int'],
  ['n_failed', 'Failed', 'int'],
  ['test', 'Test', 'text'],
  ['p_adjusted', 'Adjusted p', 'p'],
  ['effect_size', 'Hedges g', 'num'],
  ['flag', 'Flag', 'text']
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
    metric.addEventListener('change', () => {
      this._metric = metric.value;
      this._load();
    });
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
      this._groupByControl(value?.group_by),
      this._runMoreBox
    ];
  }

  /** The tables with the cheap Vega-Lite charts (a PNG plot is drawn only when the chart picker asks for one). */
  private _load(): void {
    void this.resource.load(() => this._api.compare(this._dir, this._runs, this._metric, [], FIRST_CHARTS, this._by));
  }

  /** Checkboxes for the params that define the groups, the default (what compare() picks) ticked at first. */
  private _groupByControl(groupBy: IComparison['group_by']): Node {
    if (!groupBy || !groupBy.options.length) {
      return h('span', {});
    }
    const current = new Set(this._by.length ? this._by : groupBy.by); // the choice while its comparison loads
    const hint = h('span', { class: 'jp-nbtrack-group-by-hint', role: 'status' });
    const boxes = groupBy.options.map(name => {
      const box = h('input', { type: 'checkbox', value: name, checked: current.has(name) });
      box.addEventListener('change', () => {
        const chosen = boxes.filter(b => b.checked).map(b => b.value);
        if (!chosen.length) {
          hint.textContent = 'Tick at least one param to group the runs by.';
          return;
        }
        this._by = chosen;
        this._load();
      });
      return box;
    });
    const isDefault = [...current].join(',') === groupBy.default.join(',');
    const reset = h('button', { disabled: isDefault, title: `Group by ${groupBy.default.join(', ') || 'the default'}` }, 'Default');
    reset.addEventListener('click', () => {
      this._by = [];
      this._load();
    });
    return h(
      'fieldset',
      { class: 'jp-nbtrack-group-by' },
      h('legend', {}, 'Group by'),
      boxes.map(box => h('label', {}, box, ` ${box.value}`)),
      reset,
      hint
    );
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
          this._load();
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
    if (cmp.headline?.length) {
      out.push(
        h(
          'div',
          { class: 'jp-nbtrack-headline', role: 'status', 'aria-label': 'Headline' },
          cmp.headline.map(line => h('p', { 'data-kind': line.kind }, line.text))
        )
      );
    }
    for (const warning of cmp.group_by?.warnings ?? []) {
      out.push(message('warning', warning));
    }
    if (cmp.warnings.length) {
      out.push(message('warning', h('strong', {}, 'Warnings'), h('ul', {}, cmp.warnings.map(w => h('li', {}, w)))));
    }
    const help = cmp.column_help ?? { groups: {}, pairs: {} };
    for (const metric of cmp.metrics) {
      const groups = cmp.groups.filter(r => r.metric === metric);
      const pairs = cmp.pairs.filter(r => r.metric === metric);
      const better = groups[0]?.higher_is_better === false ? 'lower' : 'higher';
      out.push(h('h3', {}, `${metric} (${better} is better)`));
      if (pairs.length) {
        out.push(rowsTable(`Each group against the reference for ${metric}`, pairs, PAIR_COLUMNS, help.pairs));
      }
      const caption = `Groups for ${metric}: runs, mean with its interval, median, IQM`;
      const groupsTable = rowsTable(caption, groups, GROUP_COLUMNS, help.groups, 'is_reference');
      paintGroups(groupsTable, groups, cmp.colors);
      out.push(groupsTable);
    }
    out.push(comparisonCharts(cmp, { api: this._api, dir: this._dir, runs: this._runs, metric: this._metric }));
    if (cmp.notes.length) {
      out.push(h('details', {}, h('summary', {}, 'Methods'), h('ul', {}, cmp.notes.map(n => h('li', {}, n)))));
    }
    return out;
  }

  private _metric = '';
  private _by: string[] = [];
}

/** A table of result rows in a box of its own that scrolls sideways; every header says what it means on hover. */
function rowsTable(caption: string, rows: Row[], columns: Column[], help: Record<string, string>, mark?: string): HTMLElement {
  const unit = columnStyle(columns.filter(c => c[2] === 'unit').flatMap(([key]) => rows.map(r => r[key])));
  const styles = columns.map(([key, , kind]) =>
    kind === 'unit' ? unit : kind === 'text' ? null : columnStyle(rows.map(r => r[key]), kind === 'num' ? undefined : kind)
  );
  const cells = rows.map(row =>
    columns.map(([key], i) => {
      const style = styles[i];
      const text = style ? formatNumber(row[key], style) : formatValue(row[key]);
      return i === 0 && mark && row[mark] ? `${text} (reference)` : text;
    })
  );
  const headers = columns.map(([key, text]) => ({ text, title: help[key] ?? text }));
  const node = table(caption, headers, cells);
  node.querySelectorAll('thead th').forEach((th, i) => {
    th.setAttribute('data-col', columns[i][0]);
    if (styles[i]) {
      th.classList.add('jp-nbtrack-number');
    }
  });
  node.querySelectorAll('tbody tr').forEach((tr, i) => {
    const verdict = rows[i].verdict;
    if (typeof verdict === 'string') {
      tr.setAttribute('data-verdict', verdict);
    }
    tr.querySelectorAll('td').forEach((td, j) => {
      td.setAttribute('data-col', columns[j][0]);
      if (styles[j]) {
        td.classList.add('jp-nbtrack-number');
      }
    });
  });
  return h('div', { class: 'jp-nbtrack-table-scroll', role: 'region', 'aria-label': caption, tabindex: '0' }, node);
}
