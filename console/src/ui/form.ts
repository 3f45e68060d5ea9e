import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/client';

export interface FormOptions {
  /** The form's field names: a validation error about one of them is shown beside it. */
  fields: readonly string[];
  /**
   * Errors that concern one field, by the API's error code (`invalid_credentials` → `password`)
   * or by the API's field name where the form names it otherwise.
   */
  fieldOf?: Record<string, string>;
  /** Runs with the form's values; what it throws is shown beside the fields or above them. */
  submit: (values: Record<string, string>) => Promise<void>;
}

export interface FormState {
  busy: boolean;
  errors: Record<string, string>;
  /** An error that concerns no one field (or the whole form). */
  formError?: string;
  onSubmit: (event: Event) => void;
  ref: { current: HTMLFormElement | null };
}

/**
 * A form that calls the API: busy while it runs, and the answer's errors mapped to the fields
 * they concern (validation_failed's `errors[].field`, and codes such as invalid_credentials);
 * the first field in error gets the focus, so a keyboard user lands where the problem is.
 */
export function useForm(options: FormOptions): FormState {
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string>();
  const ref = useRef<HTMLFormElement>(null);

  useEffect(() => {
    const invalid = ref.current?.querySelector<HTMLElement>('[aria-invalid="true"]');
    invalid?.focus();
  }, [errors]);

  const onSubmit = (event: Event) => {
    event.preventDefault();
    if (busy) return;
    const form = event.currentTarget as HTMLFormElement;
    const values: Record<string, string> = {};
    for (const [name, value] of new FormData(form)) if (typeof value === 'string') values[name] = value;
    setBusy(true);
    setErrors({});
    setFormError(undefined);
    options
      .submit(values)
      .catch((error: unknown) => {
        const mapped = mapError(error, options);
        setErrors(mapped.errors);
        setFormError(mapped.formError);
      })
      .finally(() => setBusy(false));
  };
  return { busy, errors, formError, onSubmit, ref };
}

/** Splits an error between the fields it concerns and the form. */
export function mapError(
  error: unknown,
  options: Pick<FormOptions, 'fields' | 'fieldOf'>,
): { errors: Record<string, string>; formError?: string } {
  if (error instanceof FieldProblem) return { errors: { [error.field]: error.message } };
  if (!(error instanceof ApiError)) {
    return { errors: {}, formError: error instanceof Error ? error.message : 'Something went wrong.' };
  }
  const fieldFor = (name: string) =>
    options.fieldOf?.[name] ?? (options.fields.includes(name) ? name : undefined);
  const errors: Record<string, string> = {};
  const rest: string[] = [];
  if (error.code === 'validation_failed' && error.fieldErrors.length > 0) {
    for (const { field, message } of error.fieldErrors) {
      const target = fieldFor(field.split('.')[0]!);
      if (target) errors[target] ??= capitalize(message);
      else rest.push(`${field}: ${message}`);
    }
    return { errors, formError: rest.length > 0 ? rest.join('; ') : undefined };
  }
  const target = options.fieldOf?.[error.code];
  if (target) return { errors: { [target]: error.message } };
  return { errors, formError: error.message };
}

/** A problem the page finds itself (two new passwords that differ), shown beside its field. */
export class FieldProblem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** The sentence to show for anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : 'Something went wrong.';
}
