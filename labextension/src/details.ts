/**
 * The details view of one run: facts, tags, the error with its traceback, params by source, metrics (and a
 * slot for per-step curves), data with what changed, models, figures, artifacts, outputs, linked runs (each a
 * link to its details), code, and export into the workspace.
 */
import { IContents, IDetails, IRunRecord, NbtrackApi } from './api';
import { runCurves } from './charts';
import { formatDuration, formatSize, formatTime, formatValue, h, message, table } from './dom';
import { exportControls } from './export_form';
import { Resource } from './model';
import { ResourceView } from './resource_view';

/** What the details view asks JupyterLab to do (index.ts passes them in). */
export interface IDetailsActions {
  /** Open another run's details (an upstream or downstream run). */
  openDetails(id: string): void;
  /** Open a file of the workspace, by its path relative to the server root (the written export). */
  openFile(path: string): void;
}

export class DetailsView extends ResourceView<IDetails> {
  constructor(
    readonly api: NbtrackApi,
    readonly dir: string,
    id: string,
    readonly actions: IDetailsActions | null = null
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

  /**
   * Where the run's per-step curves go (logged series), drawn by charts.ts: an empty element this view keeps
   * in place under the metrics; the charts code fills it. Nothing is drawn here.
   */
  curvesSlot(run: IRunRecord): HTMLElement {
    const slot = h('div', { class: 'jp-nbtrack-curves-slot', 'data-run': run.id, 'data-series': run.series ?? '' });
    if (run.series) {
      slot.append(runCurves(this.api, this.dir, run.id)); // the run's per-step series as a Vega-Lite chart
    }
    return slot;
  }

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
    const tags = Object.entries(run.tags ?? {});
    if (tags.length) {
      out.push(
        h('h3', {}, 'Tags'),
        h(
          'ul',
          { class: 'jp-nbtrack-tags', 'aria-label': 'Tags' },
          tags.map(([k, v]) =>
            h('li', { class: 'jp-nbtrack-tag' }, v === '' || v === true ? k : `${k}: ${formatValue(v)}`)
          )
        )
      );
    }
    if (run.error) {
      out.push(errorBox(run));
    }
    const bySource = Object.entries(d.contents?.params_by_source ?? {});
    if (bySource.length) {
      const rows = bySource.flatMap(([label, names]) => names.map(n => [label, n, formatValue(run.params?.[n])]));
      out.push(h('h3', {}, 'Params'), table('Params, by where they were written', ['Source', 'Name', 'Value'], rows));
    } else {
      out.push(h('h3', {}, 'Params'), keyValues('Params', run.params));
    }
    out.push(h('h3', {}, 'Metrics'), keyValues('Metrics', run.metrics), this.curvesSlot(run));
    const data = Object.entries(run.data ?? {});
    if (data.length) {
      const rows = data.map(([name, fp]) => {
        const drift = d.drift[name];
        const note = drift?.note || run.data_notes?.[name] || '';
        const change = !drift?.reference
          ? 'no earlier run'
          : drift.changed
            ? `changed${note ? `: ${note}` : ''}`
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
    out.push(h('h3', {}, 'Export'), exportControls(this, d));
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
  // figures: the artifacts that are images, and the image files the run wrote and kept
  const figures: [string, string][] = [
    ...c.artifacts.filter(a => a.figure && a.blob).map((a): [string, string] => [a.name, a.blob ?? '']),
    ...c.outputs.filter(o => o.kept && IMAGE_FILE.test(o.path)).map((o): [string, string] => [o.path, o.kept ?? ''])
  ];
  if (figures.length) {
    out.push(h('h3', {}, 'Figures'));
    for (const [name, digest] of figures) {
      const img = h('img', { alt: name, class: 'jp-nbtrack-figure' });
      view.showImage(img, id, digest);
      out.push(h('figure', {}, img, h('figcaption', {}, name)));
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
  const runLinks = (ids: string[]): Node => h('span', {}, ids.flatMap((run, i) => [i ? ', ' : '', runLink(view, run)]));
  const links = [
    ...Object.entries(c.upstream).map(([name, run]) => ['upstream (wrote the file)', name, runLinks([run])]),
    ...Object.entries(c.downstream).map(([name, runs]) => ['downstream (reads the file)', name, runLinks(runs)])
  ];
  if (links.length) {
    out.push(h('h3', {}, 'Linked runs'), table('Runs this one reads from or feeds', ['', 'File', 'Run'], links));
  }
  return out;
}

/** Output files shown inline as images (formats a browser decodes whatever the media type it was sent with). */
const IMAGE_FILE = /\.(png|jpe?g|gif|webp)$/i;

/** A link to another run's details (a button: it opens a tab, it does not navigate). */
function runLink(view: DetailsView, id: string): Node {
  if (!view.actions) {
    return document.createTextNode(id);
  }
  const link = h('button', { class: 'jp-nbtrack-link', type: 'button', title: `Open the details of run ${id}` }, id);
  link.addEventListener('click', () => view.actions?.openDetails(id));
  return link;
}

/** A traceback as IPython colours it, without the terminal colour codes. */
function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
}

/** The run's error: its type and message, and the traceback folded under it. */
function errorBox(run: IRunRecord): HTMLElement {
  const error = run.error;
  const box = message('error', h('strong', {}, `${error?.type ?? 'Error'}: `), error?.message ?? '');
  if (error?.traceback) {
    box.append(
      h(
        'details',
        { class: 'jp-nbtrack-traceback' },
        h('summary', {}, 'Traceback'),
        h('pre', { class: 'jp-nbtrack-code' }, stripAnsi(error.traceback))
      )
    );
  }
  return box;
}

function fact(term: string, value: string): Node[] {
  return [h('dt', {}, term), h('dd', {}, value)];
}

function keyValues(what: string, values: Record<string, unknown> | undefined): HTMLElement {
  const rows = Object.entries(values ?? {}).map(([k, v]) => [k, formatValue(v)]);
  return rows.length ? table(what, ['Name', 'Value'], rows) : h('p', {}, `No ${what.toLowerCase()}.`);
}
