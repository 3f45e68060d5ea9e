import type { ComponentChildren } from 'preact';
import { Flash } from './flash';

/** The entry pages (sign in, sign up, the mailed links): one centred card. */
export function EntryCard(props: { title: string; intro?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="card entry">
      <h1>{props.title}</h1>
      {props.intro && <p class="lead">{props.intro}</p>}
      <Flash />
      {props.children}
    </section>
  );
}

/** A page of the signed-in part: its title, a line on what it is for, and its sections. */
export function Page(props: {
  title: string;
  intro?: ComponentChildren;
  children: ComponentChildren;
  wide?: boolean;
}) {
  return (
    <div class={props.wide ? 'page page-wide' : 'page'}>
      <div class="page-header">
        <h1>{props.title}</h1>
        {props.intro && <p class="lead">{props.intro}</p>}
      </div>
      <Flash />
      {props.children}
    </div>
  );
}

/** A titled section of a page. */
export function Section(props: {
  title: string;
  children: ComponentChildren;
  intro?: ComponentChildren;
  id?: string;
}) {
  const id = props.id ?? `section-${props.title.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{props.title}</h2>
      {props.intro && <p class="muted">{props.intro}</p>}
      {props.children}
    </section>
  );
}
