import { Injectable } from '@nestjs/common';
import type { MailComposer } from './mail.types.js';

/**
 * Who writes each kind of mail. The modules whose flows send mail register
 * their composers at start; the worker asks here, so mail/ knows how to
 * deliver without knowing what the mail is about.
 */
@Injectable()
export class MailComposers {
  private readonly composers = new Map<string, MailComposer>();

  register(kind: string, composer: MailComposer): void {
    if (this.composers.has(kind)) throw new Error(`a composer of ${kind} mail is registered already`);
    this.composers.set(kind, composer);
  }

  get(kind: string): MailComposer | undefined {
    return this.composers.get(kind);
  }
}
