/**
 * Export into the workspace, from a run's details: a format, a file name the user can change, "overwrite",
 * and a button that asks the server to export the run (verified) and write it next to the run's notebook
 * (POST runs/<id>/export-to-workspace). The answer says where the file went and whether re-executing it
 * reproduced the run; the written file is then opened in JupyterLab. A run the server says cannot be exported
 * shows a disabled button with the reason beside it, before anyone clicks.
 */
import { ApiError, IDetails, IExportResult, NbtrackApi } from './api';
import { formatValue, h, message } from './dom';

const FORMATS: Record<string, [string, string]> = {
  script: ['Script (.py)', '.py'],
  notebook: ['Notebook (.ipynb)', '.ipynb'],
  dvc: ['DVC stage (.zip)', '.zip']
};

/** The host of the form: the API, the notebook folder, and how to open the written file. */
export interface IExportHost {
  readonly api: NbtrackApi;
  readonly dir: string;
  readonly actions: { openFile(path: string): void } | null;
}

let counter = 0;

/** The export form of one run's details. */
export function exportControls(host: IExportHost, d: IDetails): HTMLElement {
  const run = d.run;
  const key = `jp-nbtrack-export-${++counter}`;
  const available = d.export.available;
  const reason = d.export.reason ?? (available ? null : 'Export is not available in this nbtrack installation.');
  const formats = d.export.formats.length ? d.export.formats : ['script'];
  const format = h('select', { id: `${key}-format`, disabled: !available });
  for (const f of formats) {
    format.append(h('option', { value: f }, FORMATS[f]?.[0] ?? f));
  }
  const name = h('input', {
    id: `${key}-name`,
    type: 'text',
    class: 'jp-nbtrack-export-name',
    value: defaultName(run.name || run.id, formats[0]),
    spellcheck: 'false',
    disabled: !available
  });
  let edited = false;
  name.addEventListener('input', () => (edited = true));
  format.addEventListener('change', () => {
    name.value = edited ? withSuffix(name.value, format.value) : defaultName(run.name || run.id, format.value);
  });
  const overwrite = h('input', { id: `${key}-overwrite`, type: 'checkbox', disabled: !available });
  const status = h('div', { class: 'jp-nbtrack-export-status', 'aria-live': 'polite' });
  const button = h(
    'button',
    {
      class: 'jp-nbtrack-button jp-mod-accept jp-nbtrack-export-button',
      type: 'button',
      disabled: !available,
      'aria-describedby': reason ? `${key}-reason` : undefined
    },
    'Export to workspace'
  );
  button.addEventListener('click', () => {
    button.disabled = true;
    status.replaceChildren(h('p', { role: 'status' }, 'Exporting and verifying (the script is run once)…'));
    host.api
      .exportToWorkspace(host.dir, run.id, { format: format.value, name: name.value, overwrite: overwrite.checked })
      .then(result => {
        status.replaceChildren(verdict(result, host));
        host.actions?.openFile(result.path);
      })
      .catch((error: unknown) => {
        const text = error instanceof ApiError || error instanceof Error ? error.message : String(error);
        const hint =
          error instanceof ApiError && error.code === 'exists' ? ' Tick "Overwrite" to replace it.' : '';
        status.replaceChildren(message('error', `Export failed: ${text}${hint}`));
      })
      .finally(() => (button.disabled = false));
  });
  return h(
    'div',
    { class: 'jp-nbtrack-export' },
    h(
      'div',
      { class: 'jp-nbtrack-export-fields' },
      h('label', { for: `${key}-format` }, 'Format '),
      format,
      h('label', { for: `${key}-name` }, 'File name '),
      name,
      h('label', { class: 'jp-nbtrack-export-overwrite' }, overwrite, ' Overwrite'),
      button
    ),
    reason ? h('p', { id: `${key}-reason`, class: 'jp-nbtrack-export-reason' }, `Cannot export: ${reason}`) : null,
    available ? h('p', { class: 'jp-nbtrack-hint' }, "Written next to the run's notebook, then opened.") : null,
    status
  );
}

/** What the server wrote and whether it reproduced the run, in one message. */
function verdict(result: IExportResult, host: IExportHost): HTMLElement {
  const open = h('button', { class: 'jp-nbtrack-link', type: 'button' }, result.path);
  open.addEventListener('click', () => host.actions?.openFile(result.path));
  if (result.verified === true) {
    return message(
      'info',
      h('strong', {}, 'Verified: '),
      're-executed in a fresh interpreter, it reproduced the run\u2019s metrics. Written to ',
      open,
      '.'
    );
  }
  if (result.verified === false) {
    const diffs = Object.entries(result.differences ?? {}).map(([metric, [a, b]]) =>
      h('li', {}, `${metric}: the run had ${formatValue(a)}, the script gave ${formatValue(b)}`)
    );
    return message(
      'warning',
      h('strong', {}, 'Unverified: '),
      're-executed, it did not reproduce the run\u2019s metrics. Written to ',
      open,
      '.',
      diffs.length ? h('ul', {}, diffs) : null,
      result.cause ? h('p', {}, `Likely cause: ${result.cause}`) : null
    );
  }
  return message('info', 'Written to ', open, ' (not verified).');
}

/** `<run name>_export.py`, the name made safe for a file (as nbtrack.server.export_api.default_name). */
export function defaultName(runName: string, format: string): string {
  const stem = runName.replace(/[^\w.+-]+/g, '_').replace(/^[._]+|[._]+$/g, '') || 'run';
  return `${stem.slice(0, 80)}_export${FORMATS[format]?.[1] ?? ''}`;
}

function withSuffix(name: string, format: string): string {
  const suffix = FORMATS[format]?.[1] ?? '';
  const bare = name.replace(/\.(py|ipynb|zip)$/i, '');
  return `${bare}${suffix}`;
}
