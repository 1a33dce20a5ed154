/**
 * nbtrack's JupyterLab extension: a left-sidebar table of the active notebook's runs, and main-area
 * views to compare runs, diff two of them, and read one run's details. Data comes from nbtrack's
 * server extension (`/nbtrack/api/`, see api.ts).
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { NbtrackApi } from './api';
import { notebookId, trackNotebookIdentity } from './notebook_identity';
import { RunsModel, notebookContext } from './model';
import { RunsSidebar } from './sidebar';
import { ComparisonView } from './compare';
import { DetailsView } from './details';
import { DiffView } from './diff';
import { RunsGridView } from './grid/view';

const runsIcon = new LabIcon({
  name: 'nbtrack:runs',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<rect x="3" y="13" width="4" height="8" rx="1"/><rect x="10" y="8" width="4" height="13" rx="1"/>' +
    '<rect x="17" y="3" width="4" height="18" rx="1"/></g></svg>'
});

const OPEN_TABLE = 'nbtrack:open-runs-table';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbtrack:sidebar',
  description: 'The runs of the active notebook, comparisons and run details (nbtrack).',
  autoStart: true,
  requires: [ILabShell, INotebookTracker],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null
  ) => {
    const api = new NbtrackApi(app.serviceManager.serverSettings);
    const model = new RunsModel(api);
    const views = new Map<string, MainAreaWidget>();

    // One main-area tab per view; opening the same view again brings its tab to the front.
    const open = (key: string, make: () => Widget) => {
      const existing = views.get(key);
      if (existing && !existing.isDisposed) {
        shell.activateById(existing.id);
        return;
      }
      const content = make();
      const widget = new MainAreaWidget({ content });
      widget.id = `nbtrack-${key.replace(/[^a-z0-9-]/gi, '-')}`;
      widget.title.label = content.title.label;
      widget.title.caption = content.title.caption;
      widget.title.icon = runsIcon;
      widget.title.closable = true;
      content.title.changed.connect(() => (widget.title.label = content.title.label));
      views.set(key, widget);
      shell.add(widget, 'main');
      shell.activateById(widget.id);
    };

    // Views of a store folder (the notebook's, or one a summary line's notebook is in); details link to other
    // runs' details and open the file an export wrote.
    const viewsOf = (dir: string) => ({
      openDetails: (id: string): void =>
        open(`run-${dir}-${id}`, () => new DetailsView(api, dir, id, detailsActionsOf(dir))),
      openComparison: (ids: string[]) =>
        open(`compare-${dir}-${[...ids].sort().join('-')}`, () => new ComparisonView(api, dir, ids)),
      openDiff: (a: string, b: string) => open(`diff-${dir}-${a}-${b}`, () => new DiffView(api, dir, a, b))
    });
    // Open runs tables reload when the sidebar's poll sees their store change.
    const grids = new Set<RunsGridView>();
    model.changed.connect(() => {
      const stamp = model.page?.stamp;
      if (stamp) {
        grids.forEach(grid => grid.storeChanged(model.dir, stamp));
      }
    });
    const detailsActionsOf = (dir: string) => ({
      openDetails: (id: string) => viewsOf(dir).openDetails(id),
      openFile: (path: string) => void app.commands.execute('docmanager:open', { path })
    });
    const openTable = () => {
      const dir = model.dir;
      // a notebook with an id lists runs of several experiments: the table shows its one experiment, else all
      const own = model.ownExperiments;
      const experiment = model.experiment ?? (own && own.length === 1 ? own[0] : null);
      open(`grid-${dir}-${experiment ?? '*'}`, () => {
        const grid = new RunsGridView(api, dir, experiment, viewsOf(dir));
        grids.add(grid);
        grid.disposed.connect(() => grids.delete(grid));
        return grid;
      });
    };
    app.commands.addCommand(OPEN_TABLE, {
      label: 'Open nbtrack runs table',
      caption: 'The runs of the active notebook (or all runs) as a sortable, filterable table',
      execute: openTable
    });
    palette?.addItem({ command: OPEN_TABLE, category: 'nbtrack' });

    // A run id in a %%track summary line (data-nbtrack-run, nbtrack/capture/summary.py) opens that run.
    const openFromSummary = (event: Event) => {
      const target = (event.target as Element | null)?.closest?.('[data-nbtrack-run]');
      const id = target?.getAttribute('data-nbtrack-run') ?? '';
      if (!target || !/^[0-9a-z]{1,26}$/.test(id)) {
        return;
      }
      if (event instanceof KeyboardEvent && event.key !== 'Enter' && event.key !== ' ') {
        return;
      }
      event.preventDefault();
      const panel = notebooks.find(p => p.node.contains(target));
      const dir = panel ? notebookContext(panel.context.path).dir : model.dir;
      viewsOf(dir).openDetails(id);
    };
    document.addEventListener('click', openFromSummary);
    document.addEventListener('keydown', openFromSummary);

    // A click on a run in a chart (charts.ts) ticks it in the sidebar, so Compare and Diff can take it.
    document.addEventListener('nbtrack-select-run', event => {
      const id = (event as CustomEvent<{ runId?: unknown }>).detail?.runId;
      if (typeof id === 'string' && /^[0-9a-z]{1,26}$/.test(id)) {
        model.toggle(id, true);
      }
    });

    const sidebar = new RunsSidebar(model, {
      openDetails: id => viewsOf(model.dir).openDetails(id),
      openComparison: ids => viewsOf(model.dir).openComparison(ids),
      openDiff: (a, b) => viewsOf(model.dir).openDiff(a, b),
      openTable
    });
    sidebar.title.icon = runsIcon;
    shell.add(sidebar, 'left', { rank: 850 });

    // Follow the notebook last focused (the tracker keeps it while another tab, such as a comparison,
    // is in front), and its renames.
    // The notebook's own id (metadata.nbtrack.id) ties runs to it through renames: see notebook_identity.ts.
    const follow = () => {
      const current = notebooks.currentWidget;
      model.setNotebook(current?.context.path ?? null, notebookId(current));
    };
    notebooks.currentChanged.connect((_, panel) => {
      follow();
      if (panel) {
        panel.context.pathChanged.connect(follow);
        void panel.context.ready.then(() => {
          follow();
          panel.model?.metadataChanged.connect(follow);
        });
      }
    });
    trackNotebookIdentity(notebooks);
    // A cell just finished: a %%track run may have been written, so look now.
    NotebookActions.executed.connect(() => model.pollSoon(200));

    // Opened on a notebook's URL (/lab/tree/x.ipynb): load its runs before the notebook itself is restored.
    const treePath = PageConfig.getOption('treePath');
    if (treePath.endsWith('.ipynb') && !notebooks.currentWidget) {
      model.setNotebook(treePath);
    } else {
      follow();
    }
    void model.checkServer().then(() => model.refresh());
  }
};

export default plugin;
