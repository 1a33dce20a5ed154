/**
 * The left-sidebar panel: the runs of the active notebook's experiment (or all runs) as a table, with
 * status, the params that differ between runs and the metrics (the server chooses them: see
 * `IRunColumns`). Select runs to compare or diff them; a run's name opens its details.
 */
import { Widget } from '@lumino/widgets';

import { IRunsPage } from './api';
import { formatTime, formatValue, h, message, table } from './dom';
import { RunsModel } from './model';

export interface ISidebarActions {
  openDetails(id: string): void;
  openComparison(ids: string[]): void;
  openDiff(a: string, b: string): void;
  /** The main-area runs table of the runs shown here. */
  openTable?(): void;
}

const MAX_PARAMS = 3;
const MAX_METRICS = 3;

export class RunsSidebar extends Widget {
  constructor(
    private _model: RunsModel,
    private _actions: ISidebarActions
  ) {
    super();
    this.id = 'nbtrack-runs';
    this.addClass('jp-nbtrack-sidebar');
    this.title.caption = 'nbtrack runs';

    const scope = h('select', { 'aria-label': 'Which runs to show', class: 'jp-nbtrack-scope' });
    scope.addEventListener('change', () => this._model.setScope(scope.value === 'all' ? 'all' : 'notebook'));
    const search = h('input', { type: 'search', placeholder: 'Filter by name or id', 'aria-label': 'Filter runs' });
    let typing = 0;
    search.addEventListener('input', () => {
      window.clearTimeout(typing);
      typing = window.setTimeout(() => this._model.setSearch(search.value), 250);
    });
    this._scope = scope;
    this._compare = h('button', { class: 'jp-nbtrack-button jp-mod-accept', type: 'button' }, 'Compare');
    this._compare.addEventListener('click', () => this._actions.openComparison([...this._model.selected]));
    this._diff = h('button', { class: 'jp-nbtrack-button', type: 'button' }, 'Diff');
    this._diff.addEventListener('click', () => {
      const [a, b] = [...this._model.selected].sort();
      this._actions.openDiff(a, b);
    });
    this._clear = h('button', { class: 'jp-nbtrack-button', type: 'button' }, 'Clear selection');
    this._clear.addEventListener('click', () => this._model.clearSelection());
    const table = h('button', { class: 'jp-nbtrack-button', type: 'button', title: 'Open these runs in a table' }, 'Open table');
    table.addEventListener('click', () => this._actions.openTable?.());

    this.node.append(
      h('h2', { class: 'jp-nbtrack-heading' }, 'nbtrack runs'),
      h('div', { class: 'jp-nbtrack-controls' }, scope, search),
      this._problem,
      this._status,
      this._body,
      h('div', { class: 'jp-nbtrack-actions' }, this._compare, this._diff, this._clear, table)
    );
    this._model.changed.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    this._model.changed.disconnect(this._render, this);
    super.dispose();
  }

  protected onAfterShow(): void {
    this._model.setActive(true);
  }

  protected onAfterHide(): void {
    this._model.setActive(false);
  }

  private _render(): void {
    const model = this._model;
    const nb = model.notebook;
    this._scope.replaceChildren(
      h(
        'option',
        { value: 'notebook', selected: model.scope === 'notebook' },
        nb ? `This notebook (${nb.experiment})` : 'All runs (no notebook open)'
      ),
      h('option', { value: 'all', selected: model.scope === 'all' }, 'All experiments')
    );
    const problem = JSON.stringify(model.serverProblem);
    if (problem !== this._problemShown) {
      this._problem.replaceChildren(...this._problemMessage()); // announced once (role=alert)
      this._problemShown = problem;
    }
    const page = model.page;
    this._status.textContent = model.error
      ? `Could not load runs: ${model.error}`
      : model.loading && !page
        ? 'Loading runs…'
        : '';
    this._status.className = model.error ? 'jp-nbtrack-message jp-nbtrack-error' : 'jp-nbtrack-status';
    if (page && page !== this._shown) {
      // Rebuild only for a new page of runs, keeping keyboard focus on the same control.
      const focused = this._body.contains(document.activeElement)
        ? (document.activeElement as HTMLElement).dataset.focusKey
        : undefined;
      this._body.replaceChildren(this._table(page), this._pager(page));
      this._shown = page;
      if (focused) {
        this._body.querySelector<HTMLElement>(`[data-focus-key="${focused}"]`)?.focus();
      }
    }
    this._body.querySelectorAll<HTMLInputElement>('input[data-run-id]').forEach(box => {
      box.checked = model.selected.has(box.dataset.runId ?? '');
    });
    const n = model.selected.size;
    this._compare.textContent = `Compare (${n})`;
    this._compare.disabled = n < 2;
    this._diff.disabled = n !== 2;
    this._clear.disabled = n === 0;
  }

  private _problemMessage(): HTMLElement[] {
    const problem = this._model.serverProblem;
    if (!problem) {
      return [];
    }
    const retry = h('button', { class: 'jp-nbtrack-button', type: 'button' }, 'Check again');
    retry.addEventListener('click', () => void this._model.checkServer().then(() => this._model.refresh()));
    if (problem.kind === 'missing') {
      return [
        message(
          'error',
          h('strong', {}, 'The nbtrack server extension is not running. '),
          'The sidebar needs it to read runs. Install nbtrack in the environment that runs Jupyter ',
          '(pip install nbtrack), check that ',
          h('code', {}, 'jupyter server extension list'),
          ' shows nbtrack enabled and OK, then restart JupyterLab. ',
          retry
        )
      ];
    }
    if (problem.kind === 'version') {
      return [
        message(
          'warning',
          h('strong', {}, 'nbtrack versions differ: '),
          `this sidebar is ${this._model.frontendVersion}, the server extension is ${problem.detail}. `,
          'Reinstall nbtrack in the environment that runs Jupyter, restart it and reload this page.'
        )
      ];
    }
    return [message('error', `Cannot reach nbtrack's server extension: ${problem.detail} `, retry)];
  }

  private _table(page: IRunsPage): HTMLElement {
    const model = this._model;
    if (page.runs.length === 0) {
      const where = model.experiment ? `experiment “${model.experiment}”` : 'this store';
      return message('info', `No runs in ${where} yet. Run a %%track cell and it appears here.`);
    }
    const params = page.columns.params.slice(0, MAX_PARAMS);
    const metrics = page.columns.metrics.slice(0, MAX_METRICS);
    const headers = [
      'Select',
      'Run',
      'Status',
      ...params.map(p => ({ text: p, title: `params.${p}` })),
      ...metrics.map(m => ({ text: m, title: `metrics.${m}` })),
      'Started'
    ];
    const rows = page.runs.map(run => {
      const label = run.name || run.id.slice(-8);
      const box = h('input', {
        type: 'checkbox',
        'aria-label': `Select run ${label}`,
        'data-run-id': run.id,
        'data-focus-key': `select-${run.id}`
      });
      box.addEventListener('change', () => model.toggle(run.id, box.checked));
      const open = h(
        'button',
        {
          class: 'jp-nbtrack-link',
          type: 'button',
          title: `Details of run ${run.id}`,
          'data-focus-key': `open-${run.id}`
        },
        label
      );
      open.addEventListener('click', () => this._actions.openDetails(run.id));
      const status = page.status[run.id] ?? run.status ?? 'unknown';
      return [
        box,
        open,
        h('span', { class: `jp-nbtrack-badge jp-nbtrack-status-${status}` }, status),
        ...params.map(p => formatValue(run.params?.[p])),
        ...metrics.map(m => h('span', { class: 'jp-nbtrack-number' }, formatValue(run.metrics?.[m]))),
        formatTime(run.start_time)
      ];
    });
    const scope = model.experiment ? `experiment ${model.experiment}` : 'all experiments';
    const node = table(`Runs of ${scope}, newest first`, headers, rows);
    node.querySelectorAll('tbody tr').forEach((tr, i) => tr.setAttribute('data-run-id', page.runs[i].id));
    return node;
  }

  private _pager(page: IRunsPage): HTMLElement {
    const first = page.total ? page.offset + 1 : 0;
    const last = Math.min(page.offset + page.limit, page.total);
    const button = (label: string, text: string) =>
      h('button', { class: 'jp-nbtrack-button', type: 'button', 'aria-label': label, 'data-focus-key': label }, text);
    const prev = button('Previous page', '‹');
    const next = button('Next page', '›');
    prev.disabled = page.offset === 0;
    next.disabled = last >= page.total;
    const go = (offset: number) => {
      this._model.setOffset(offset);
      this.node.scrollTop = 0;
    };
    prev.addEventListener('click', () => go(page.offset - page.limit));
    next.addEventListener('click', () => go(page.offset + page.limit));
    const count = h('span', { class: 'jp-nbtrack-count' }, `${first}–${last} of ${page.total.toLocaleString()}`);
    return h('div', { class: 'jp-nbtrack-pager' }, prev, count, next);
  }

  private _shown: IRunsPage | null = null;
  private _problemShown = 'null';
  private _scope: HTMLSelectElement;
  private _problem = h('div', {});
  private _status = h('div', { role: 'status', 'aria-live': 'polite' });
  private _body = h('div', { class: 'jp-nbtrack-body' });
  private _compare: HTMLButtonElement;
  private _diff: HTMLButtonElement;
  private _clear: HTMLButtonElement;
}
