/**
 * The main-area runs table: a toolbar (filter in the query language with its error inline, column chooser,
 * group by, bulk tag and delete, Compare and Diff of the selected runs), the groups' aggregates when grouping,
 * and the grid (table.ts). Data and state live in `GridModel`; the server filters, the browser sorts.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { NbtrackApi } from '../api';
import { h, message } from '../dom';
import { IGridGroups, deleteRuns, fetchGroups, tagRuns } from './data';
import { columnLabel, numberFormat } from './format';
import { GridModel } from './model';
import { GridTable } from './table';

export interface IGridActions {
  openDetails(id: string): void;
  openComparison(ids: string[]): void;
  openDiff(a: string, b: string): void;
}

const MAX_COMPARE = 500;
const GROUP_NAMES: Record<string, string> = {
  system: 'Run',
  params: 'Params',
  metrics: 'Metrics',
  tags: 'Tags',
  data: 'Data',
  models: 'Models',
  outputs: 'Outputs'
};

export class RunsGridView extends Widget {
  readonly model: GridModel;

  constructor(api: NbtrackApi, dir: string, experiment: string | null, actions: IGridActions) {
    super();
    this._actions = actions;
    this.model = new GridModel(api, dir, experiment);
    this.addClass('jp-nbtrack-grid-view');
    this.title.label = experiment ? `Runs: ${experiment}` : 'Runs: all experiments';
    this.title.caption = `nbtrack runs table of ${experiment ? `experiment ${experiment}` : 'all experiments'}`;
    this._table = new GridTable(this.model, { openDetails: id => actions.openDetails(id) });

    this._filter.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        void this.model.setWhere(this._filter.value);
      }
    });
    const apply = this._button('Apply filter', () => void this.model.setWhere(this._filter.value));
    this._groupBy.addEventListener('change', () => void this._loadGroups());
    this._groupMetric.addEventListener('change', () => void this._loadGroups());
    this._compare.addEventListener('click', () => this._actions.openComparison([...this.model.selected]));
    this._diff.addEventListener('click', () => {
      const [a, b] = [...this.model.selected].sort();
      this._actions.openDiff(a, b);
    });
    this._tagButton.addEventListener('click', () => void this._tag());
    this._tagInput.addEventListener('keydown', event => event.key === 'Enter' && void this._tag());
    this._delete.addEventListener('click', () => void this._deleteSelected());

    this.node.append(
      h(
        'div',
        { class: 'jp-nbtrack-grid-toolbar' },
        h(
          'div',
          { class: 'jp-nbtrack-grid-filter' },
          this._filter,
          apply,
          this._button('Reload', () => void this.model.reload())
        ),
        this._filterError,
        h(
          'div',
          { class: 'jp-nbtrack-grid-controls' },
          this._chooser,
          h('label', {}, 'Group by ', this._groupBy),
          h('label', {}, 'of ', this._groupMetric),
          this._tagInput,
          this._tagButton,
          this._delete,
          this._compare,
          this._diff
        ),
        this._status
      ),
      this._loadError,
      this._notice,
      this._groups,
      this._table.node
    );
    this.model.changed.connect(this._render, this);
    void this.model.reload();
  }

  dispose(): void {
    this.model.changed.disconnect(this._render, this);
    super.dispose();
  }

  /** The store in `dir` is now at `stamp` (the sidebar polls it): reload if that is news to this table. */
  storeChanged(dir: string, stamp: string): void {
    const data = this.model.data;
    if (dir === this.model.dir && data && !this.model.loading && stamp !== data.stamp) {
      void this.model.reload();
    }
  }

  protected onAfterShow(): void {
    this._table.render();
  }

  protected onResize(): void {
    this._table.render();
  }

  private _button(label: string, onClick: () => void): HTMLButtonElement {
    const button = h('button', { type: 'button', class: 'jp-nbtrack-button' }, label);
    button.addEventListener('click', onClick);
    return button;
  }

  private _render(): void {
    const model = this.model;
    this.node.setAttribute('aria-busy', model.loading ? 'true' : 'false');
    if (model.queryError) {
      this._filter.setAttribute('aria-invalid', 'true');
      this._filterError.replaceChildren(
        message('error', `${model.queryError}. Fix the filter (for example params.lr < 0.1) and press Enter.`)
      );
    } else {
      this._filter.removeAttribute('aria-invalid');
      this._filterError.replaceChildren();
    }
    this._loadError.replaceChildren(
      ...(model.error ? [message('error', `Could not load runs: ${model.error}. Press Reload to try again.`)] : [])
    );
    const data = model.data;
    const n = model.selected.size;
    const total = data?.total ?? 0;
    this._status.textContent = data
      ? `${total.toLocaleString()} run${total === 1 ? '' : 's'}${model.where ? ' match the filter' : ''} · ${n.toLocaleString()} selected`
      : model.loading
        ? 'Loading runs…'
        : '';
    this._compare.textContent = `Compare (${n})`;
    this._compare.disabled = n < 2 || n > MAX_COMPARE;
    this._compare.title = n > MAX_COMPARE ? `Select at most ${MAX_COMPARE} runs to compare.` : '';
    this._diff.disabled = n !== 2;
    this._tagButton.disabled = n === 0;
    this._delete.disabled = n === 0;
    if (data !== this._shownData) {
      this._shownData = data;
      this._renderChooser();
      this._renderGroupControls();
    }
    this._syncChooser();
    this._table.render();
  }

  // column chooser ---------------------------------------------------------------------------------------

  private _renderChooser(): void {
    const model = this.model;
    const reset = this._button('Reset columns', () => model.resetColumns());
    const sets = model.groups().map(([group, columns]) =>
      h(
        'fieldset',
        { class: 'jp-nbtrack-grid-chooser-group' },
        h('legend', {}, GROUP_NAMES[group] ?? group),
        columns.map(c => {
          const box = h('input', { type: 'checkbox', 'data-key': c.key, disabled: c.key === 'name' });
          box.addEventListener('change', () => model.setVisible(c.key, box.checked));
          return h('label', { title: c.key }, box, ' ', columnLabel(c.key));
        })
      )
    );
    this._chooser.replaceChildren(
      h('summary', { class: 'jp-nbtrack-button' }, 'Columns'),
      h('div', { class: 'jp-nbtrack-grid-chooser-panel' }, ...sets, reset)
    );
  }

  private _syncChooser(): void {
    const visible = new Set(this.model.visible);
    this._chooser.querySelectorAll<HTMLInputElement>('input[data-key]').forEach(box => {
      box.checked = visible.has(box.dataset.key ?? '');
    });
  }

  // groups --------------------------------------------------------------------------------------------------

  private _renderGroupControls(): void {
    const model = this.model;
    const params = (model.data?.columns ?? []).filter(c => c.group === 'params').map(c => c.key.slice(7));
    const metrics = (model.data?.columns ?? []).filter(c => c.group === 'metrics').map(c => c.key.slice(8));
    const by = this._groupBy.value;
    const metric = this._groupMetric.value;
    this._groupBy.replaceChildren(
      h('option', { value: '' }, 'No grouping'),
      ...params.map(p => h('option', { value: p, selected: p === by }, p))
    );
    this._groupMetric.replaceChildren(...metrics.map(m => h('option', { value: m, selected: m === metric }, m)));
    if (this._groupBy.value) {
      void this._loadGroups();
    }
  }

  private async _loadGroups(): Promise<void> {
    const by = this._groupBy.value;
    const metric = this._groupMetric.value;
    if (!by || !metric) {
      this._groups.replaceChildren();
      return;
    }
    this._groups.replaceChildren(h('p', { role: 'status' }, 'Grouping…'));
    try {
      const groups = await fetchGroups(this.model.api, this.model.query, [by], metric);
      this._groups.replaceChildren(this._groupTable(groups));
    } catch (reason) {
      this._groups.replaceChildren(message('error', `Could not group the runs: ${(reason as Error).message}`));
    }
  }

  private _groupTable(g: IGridGroups): HTMLElement {
    const numbers = g.groups.flatMap(x => [x.mean, x.ci_low, x.ci_high]);
    const fmt = numberFormat(numbers);
    const interval = (low: number | null, high: number | null) =>
      low === null || high === null ? 'needs 2 runs' : `[${fmt(low)}, ${fmt(high)}]`;
    const rows = g.groups.map(group => {
      const select = this._button('Select', () => this.model.selectIds(group.ids));
      select.setAttribute('aria-label', `Select the ${group.n} runs of ${g.by.map(b => `${b}=${group.key[b]}`).join(', ')}`);
      return h(
        'tr',
        {},
        g.by.map(b => h('td', {}, group.key[b])),
        h('td', { class: 'jp-nbtrack-grid-number' }, String(group.n)),
        h('td', { class: 'jp-nbtrack-grid-number' }, group.mean === null ? '—' : fmt(group.mean)),
        h('td', { class: 'jp-nbtrack-grid-number' }, interval(group.ci_low, group.ci_high)),
        h('td', {}, select)
      );
    });
    const pct = Math.round(g.confidence * 100);
    return h(
      'table',
      { class: 'jp-nbtrack-table jp-nbtrack-grid-groups' },
      h('caption', {}, `Runs grouped by ${g.by.join(', ')}: ${g.metric}, mean and ${pct}% interval of the mean`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          g.by.map(b => h('th', { scope: 'col' }, b)),
          h('th', { scope: 'col', title: 'Runs in the group' }, 'Runs'),
          h('th', { scope: 'col', title: `Mean of ${g.metric} over the runs that logged it` }, 'Mean'),
          h('th', { scope: 'col', title: `${pct}% interval of the mean (Hall's skew-corrected t, as compare)` }, `${pct}% interval`),
          h('th', { scope: 'col' }, h('span', { class: 'jp-nbtrack-sr-only' }, 'Select'))
        )
      ),
      h('tbody', {}, rows)
    );
  }

  // bulk actions ------------------------------------------------------------------------------------------

  private async _tag(): Promise<void> {
    const text = this._tagInput.value.trim();
    const eq = text.indexOf('=');
    if (eq <= 0) {
      this._notice.replaceChildren(message('error', 'Write the tag as name=value, for example review=keep.'));
      return;
    }
    const ids = [...this.model.selected];
    try {
      await tagRuns(this.model.api, this.model.dir, ids, text.slice(0, eq).trim(), text.slice(eq + 1).trim());
      await this.model.reload();
      this._notice.replaceChildren(message('info', `Tagged ${ids.length} run${ids.length === 1 ? '' : 's'} ${text}.`));
    } catch (reason) {
      this._notice.replaceChildren(message('error', `Could not tag the runs: ${(reason as Error).message}`));
    }
  }

  private async _deleteSelected(): Promise<void> {
    const ids = [...this.model.selected];
    const plural = ids.length === 1 ? 'run' : `${ids.length} runs`;
    const answer = await showDialog({
      title: `Delete ${plural}?`,
      body: `The ${plural} leave every view now; their files stay on disk until you run nbtrack gc.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await deleteRuns(this.model.api, this.model.dir, ids);
      this.model.selected.clear();
      await this.model.reload();
      this._notice.replaceChildren(message('info', `Deleted ${plural}; nbtrack gc erases their files for good.`));
    } catch (reason) {
      this._notice.replaceChildren(message('error', `Could not delete the runs: ${(reason as Error).message}`));
    }
  }

  private _actions: IGridActions;
  private _table: GridTable;
  private _shownData: unknown = null;
  private _filter = h('input', {
    type: 'search',
    class: 'jp-nbtrack-grid-where',
    placeholder: 'Filter: params.lr < 0.1 and metrics.val_acc > 0.8',
    'aria-label': 'Filter runs with a where expression (press Enter)'
  });
  private _filterError = h('div', { class: 'jp-nbtrack-grid-filter-error', 'aria-live': 'assertive' });
  // what the last bulk action did: kept when the table reloads (the sidebar's poll reloads it after every write)
  private _notice = h('div', { 'aria-live': 'polite' });
  private _loadError = h('div', { 'aria-live': 'polite' });
  private _status = h('div', { class: 'jp-nbtrack-grid-status', role: 'status' });
  private _chooser = h('details', { class: 'jp-nbtrack-grid-chooser' });
  private _groupBy = h('select', { 'aria-label': 'Group runs by param' });
  private _groupMetric = h('select', { 'aria-label': 'Metric to aggregate per group' });
  private _groups = h('div', { class: 'jp-nbtrack-grid-groups-box', role: 'region', 'aria-label': 'Groups' });
  private _tagInput = h('input', {
    type: 'text',
    class: 'jp-nbtrack-grid-tag',
    placeholder: 'name=value',
    'aria-label': 'Tag for the selected runs, as name=value'
  });
  private _tagButton = h('button', { type: 'button', class: 'jp-nbtrack-button' }, 'Tag selected');
  private _delete = h('button', { type: 'button', class: 'jp-nbtrack-button jp-mod-warn' }, 'Delete selected');
  private _compare = h('button', { type: 'button', class: 'jp-nbtrack-button jp-mod-accept' }, 'Compare');
  private _diff = h('button', { type: 'button', class: 'jp-nbtrack-button' }, 'Diff');
}
