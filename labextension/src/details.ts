/** The details view of one run: facts, params by source, metrics, data, models, figures, code, export. */
import { IContents, IDetails, NbtrackApi } from './api';
import { runCurves } from './charts';
import { formatDuration, formatSize, formatTime, formatValue, h, message, table } from './dom';
import { Resource } from './model';
import { ResourceView } from './resource_view';

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
    out.push(h('h3', {}, 'Metrics'), keyValues('Metrics', run.metrics), runCurves(this.api, this.dir, run.id));
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
