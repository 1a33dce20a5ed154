/**
 * The left-sidebar panel: the runs of the active notebook (by its id: see notebook_identity.ts), of one
 * experiment, or of all, as a compact list that fits 250 px (run_list.ts): name, status, the one metric that
 * matters and its sparkline. An experiment picker, a filter and the selection, kept per notebook (model.ts).
 * Select runs to compare or diff them; a run's name opens its details.
 */
import { Widget } from '@lumino/widgets';

import { IRunsPage } from './api';
import { h, message } from './dom';
import { RunsModel } from './model';
import { runList } from './run_list';

export interface ISidebarActions {
  openDetails(id: string): void;
  openComparison(ids: string[]): void;
  openDiff(a: string, b: string): void;
  /** The main-area runs table of the runs shown here. */
  openTable?(): void;
}

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
    scope.addEventListener('change', () => this._model.setScope(scope.value));
    const search = h('input', { type: 'search', placeholder: 'Filter by name or id', 'aria-label': 'Filter runs' });
    search.addEventListener('input', () => {
      window.clearTimeout(this._typing);
      this._typing = window.setTimeout(() => this._model.setSearch(search.value), 250);
    });
    const metric = h('select', { 'aria-label': 'Metric shown for each run', class: 'jp-nbtrack-metric' });
    metric.addEventListener('change', () => this._model.setMetric(metric.value));
    this._scope = scope;
    this._search = search;
    this._metric = metric;
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
      h('div', { class: 'jp-nbtrack-controls' }, scope, search, metric),
      this._problem,
      this._status,
      this._body,
      h('div', { class: 'jp-nbtrack-actions' }, this._compare, this._diff, this._clear, table)
    );
    this.node.append(this._selectionNote);
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
    this._renderPicker();
    if (this._search.value !== model.search && document.activeElement !== this._search) {
      window.clearTimeout(this._typing); // another notebook: its own filter
      this._search.value = model.search;
    }
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
    this._renderMetrics();
    if (!page && this._shown) {
      this._body.replaceChildren(); // another notebook's runs are on their way: show none of the last one's
      this._shown = null;
    }
    if (page && page !== this._shown) {
      // Rebuild only for a new page of runs, keeping keyboard focus on the same control.
      const focused = this._body.contains(document.activeElement)
        ? (document.activeElement as HTMLElement).dataset.focusKey
        : undefined;
      this._body.replaceChildren(this._list(page), this._pager(page));
      this._shown = page;
      if (focused) {
        this._body.querySelector<HTMLElement>(`[data-focus-key="${focused}"]`)?.focus();
      }
    }
    this._body.querySelectorAll<HTMLInputElement>('input[data-run-id]').forEach(box => {
      box.checked = model.selected.has(box.dataset.runId ?? '');
    });
    const n = model.selected.size;
    const shown = new Set(page?.runs.map(run => run.id) ?? []);
    const unseen = [...model.selected].filter(id => !shown.has(id)).length;
    this._selectionNote.textContent = unseen
      ? `${unseen === 1 ? '1 selected run is' : `${unseen} selected runs are`} not in this list (another page or filter).`
      : '';
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

  /** The picker: the notebook's own runs (its experiments named), each experiment of the store, all. */
  private _renderPicker(): void {
    const model = this._model;
    const nb = model.notebook;
    const own = model.ownExperiments ?? (nb ? [nb.experiment] : []);
    const store = (model.page?.experiments ?? []).map(e => e.name);
    const picked = model.scope.startsWith('experiment:') ? model.scope.slice('experiment:'.length) : null;
    const names = [...new Set([...own, ...store, ...(picked ? [picked] : [])])];
    const option = (value: string, text: string) => h('option', { value, selected: model.scope === value }, text);
    const mine = own.length ? own.join(', ') : nb?.experiment;
    const key = JSON.stringify([nb?.path, mine, names, model.scope]);
    if (key === this._pickerShown) {
      return;
    }
    this._pickerShown = key;
    this._scope.replaceChildren(
      nb ? option('notebook', `This notebook (${mine})`) : option('notebook', 'All runs (no notebook open)'),
      h('optgroup', { label: 'Experiments' }, names.map(name => option(`experiment:${name}`, name))),
      option('all', 'All experiments')
    );
  }

  /** The metric chooser, shown when the runs have more than one metric. */
  private _renderMetrics(): void {
    const page = this._model.page;
    const metrics = page?.columns.metrics ?? [];
    const key = JSON.stringify([metrics, page?.metric]);
    if (key === this._metricsShown) {
      return;
    }
    this._metricsShown = key;
    this._metric.hidden = metrics.length < 2;
    this._metric.replaceChildren(
      ...metrics.map(m => h('option', { value: m, selected: m === page?.metric }, `Metric: ${m}`))
    );
  }

  private _list(page: IRunsPage): HTMLElement {
    const model = this._model;
    if (page.runs.length === 0) {
      return this._empty(page);
    }
    const scope = model.experiment
      ? `experiment ${model.experiment}`
      : model.scope === 'notebook' && model.notebook
        ? `notebook ${model.notebook.experiment}`
        : 'all experiments';
    return runList(page, {
      experiments: model.manyExperiments,
      caption: `Runs of ${scope}, newest first`,
      onToggle: (id, on) => model.toggle(id, on),
      onOpen: id => this._actions.openDetails(id)
    });
  }

  /** Nothing to list: runs hidden by the filter (say how many, offer to clear it), or no runs at all. */
  private _empty(page: IRunsPage): HTMLElement {
    const model = this._model;
    const hidden = (page.unfiltered ?? 0) - page.total;
    if (hidden > 0 && model.search) {
      const clear = h('button', { class: 'jp-nbtrack-button', type: 'button' }, 'Clear filter');
      clear.addEventListener('click', () => {
        this._search.value = '';
        model.setSearch('');
      });
      const runs = hidden === 1 ? '1 run' : `${hidden.toLocaleString()} runs`;
      return message('info', `${runs} hidden by the filter “${model.search}”. `, clear);
    }
    const where = model.experiment
      ? `in experiment “${model.experiment}”`
      : model.scope === 'notebook' && model.notebook
        ? 'from this notebook'
        : 'in this store';
    return message('info', `No runs ${where} yet. Run a %%track cell and it appears here.`);
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
  private _pickerShown = '';
  private _selectionNote = h('p', { class: 'jp-nbtrack-status jp-nbtrack-selection-note' });
  private _metricsShown = '';
  private _typing = 0;
  private _search: HTMLInputElement;
  private _metric: HTMLSelectElement;
  private _problemShown = 'null';
  private _scope: HTMLSelectElement;
  private _problem = h('div', {});
  private _status = h('div', { role: 'status', 'aria-live': 'polite' });
  private _body = h('div', { class: 'jp-nbtrack-body' });
  private _compare: HTMLButtonElement;
  private _diff: HTMLButtonElement;
  private _clear: HTMLButtonElement;
}
