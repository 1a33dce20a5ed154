/**
 * The base of nbtrack's main-area views (compare.ts, diff.ts, details.ts): each renders a `Resource` and
 * re-renders when it changes.
 */
import { Widget } from '@lumino/widgets';

import { h, message } from './dom';
import { Resource } from './model';

/** A main-area view of one `Resource`: an error, a loading line, or the value, re-rendered on change. */
export abstract class ResourceView<T> extends Widget {
  constructor(protected resource: Resource<T>) {
    super();
    this.addClass('jp-nbtrack-view');
    resource.changed.connect(this.render, this);
  }

  dispose(): void {
    this.resource.changed.disconnect(this.render, this);
    super.dispose();
  }

  render(): void {
    const { value, error, loading } = this.resource;
    const parts: Node[] = [];
    if (error) {
      parts.push(message('error', error));
    } else if (loading && !value) {
      parts.push(h('p', { role: 'status' }, 'Loading…'));
    }
    if (value) {
      parts.push(...this.renderValue(value));
    }
    this.node.replaceChildren(...this.header(), ...parts);
    this.node.setAttribute('aria-busy', loading ? 'true' : 'false');
  }

  protected header(): Node[] {
    return [];
  }

  protected abstract renderValue(value: T): Node[];
}

