/**
 * A notebook's own identity, `metadata.nbtrack.id`: written (through the notebook model's metadata API, so it
 * is saved with the notebook) the first time one of its code cells runs, and told to the kernel just before
 * each cell runs as `__nbtrack_notebook__ = {"id": ..., "path": ...}` (a silent request: no history, no
 * execution count). The kernel records the id on every run (nbtrack/capture/notebook.py), so runs stay tied to
 * the notebook through renames and moves, where `JPY_SESSION_NAME` keeps the name the kernel started with.
 */
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

export const METADATA_KEY = 'nbtrack';
const VALID = /^[A-Za-z0-9_-]{1,64}$/;

/** The notebook's id, when its metadata has a valid one. */
export function notebookId(panel: NotebookPanel | null | undefined): string | null {
  const meta = panel?.model?.getMetadata(METADATA_KEY) as Record<string, unknown> | undefined;
  const id = meta && typeof meta === 'object' ? meta.id : undefined;
  return typeof id === 'string' && VALID.test(id) ? id : null;
}

function newId(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') {
    return crypto.randomUUID();
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
}

/** The notebook's id, written into its metadata first when it has none. */
export function ensureNotebookId(panel: NotebookPanel): string | null {
  const model = panel.model;
  if (!model) {
    return null;
  }
  const existing = notebookId(panel);
  if (existing) {
    return existing;
  }
  const id = newId();
  const meta = model.getMetadata(METADATA_KEY);
  model.setMetadata(METADATA_KEY, { ...(meta && typeof meta === 'object' ? meta : {}), id });
  return id;
}

function isPython(panel: NotebookPanel): boolean {
  const info = panel.model?.getMetadata('language_info') as { name?: string } | undefined;
  const spec = panel.model?.getMetadata('kernelspec') as { language?: string } | undefined;
  const language = info?.name ?? spec?.language;
  return !language || language.toLowerCase() === 'python';
}

/** Tell the notebook's kernel its id and path now (sent before the cell's own request, so it runs first). */
export function tellKernel(panel: NotebookPanel, id: string): void {
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel || !isPython(panel)) {
    return;
  }
  // JSON strings are Python string literals too
  const code = `__nbtrack_notebook__ = {"id": ${JSON.stringify(id)}, "path": ${JSON.stringify(panel.context.path)}}`;
  kernel.requestExecute({ code, silent: true, store_history: false, allow_stdin: false, stop_on_error: false });
}

/** Give every notebook whose code cells run an id, and tell its kernel before each cell. */
export function trackNotebookIdentity(notebooks: INotebookTracker): void {
  NotebookActions.executionScheduled.connect((_, { notebook, cell }) => {
    if (cell.model.type !== 'code') {
      return;
    }
    const panel = notebooks.find(p => p.content === notebook);
    const id = panel ? ensureNotebookId(panel) : null;
    if (panel && id) {
      tellKernel(panel, id);
    }
  });
}
