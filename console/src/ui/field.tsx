import type { ComponentChildren } from 'preact';

export interface FieldProps {
  name: string;
  label: string;
  type?: 'text' | 'email' | 'password' | 'search';
  /** Shown under the field, tied to it with aria-describedby. */
  hint?: ComponentChildren;
  /** What is wrong with the value: beside the field, announced, and the field marked invalid. */
  error?: string;
  autocomplete?: string;
  required?: boolean;
  value?: string;
  defaultValue?: string;
  onInput?: (value: string) => void;
  inputMode?: 'numeric' | 'text' | 'email';
  pattern?: string;
  maxLength?: number;
  spellcheck?: boolean;
  placeholder?: string;
  idPrefix?: string;
}

/** A labelled input with its hint and its error. */
export function Field(props: FieldProps) {
  const id = `${props.idPrefix ?? 'field'}-${props.name}`;
  const described = [props.hint && `${id}-hint`, props.error && `${id}-error`].filter(Boolean).join(' ');
  return (
    <div class={`field${props.error ? ' field-invalid' : ''}`}>
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        // Preact's types split inputs by type (tsc needs the assertion; the linter sees no need).
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
        type={(props.type ?? 'text') as 'text'}
        autocomplete={props.autocomplete}
        required={props.required}
        value={props.value}
        defaultValue={props.defaultValue}
        onInput={props.onInput && ((event) => props.onInput!((event.target as HTMLInputElement).value))}
        inputMode={props.inputMode}
        pattern={props.pattern}
        maxLength={props.maxLength}
        spellcheck={props.spellcheck}
        placeholder={props.placeholder}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={described || undefined}
      />
      {props.hint && (
        <p class="field-hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p class="field-error" id={`${id}-error`}>
          {props.error}
        </p>
      )}
    </div>
  );
}
