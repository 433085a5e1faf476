import { DEFAULTS } from '@changefeed/shared/config';
import { createLogger, type Logger } from '@changefeed/shared/log';
import type { Clock, DeadLetter, DeadLetterListing, EventPublisher } from '@changefeed/shared/ports';
import {
  isUsageProblem,
  openDeadLetterBackend,
  type BackendFlags,
  type DeadLetterBackend,
} from '../dlq/dead-letter-backend';
import { summarizeLetter } from '../dlq/letter-context';
import { letterFilter, type LetterSelection } from '../dlq/letter-filter';
import { letterDetailJson, letterDetailText, letterJson, letterRow } from '../dlq/letter-output';
import { replayLetters, type LetterOutcome, type ReplayResult } from '../dlq/replay-letters';
import { startReplayProgress, type ReplayProgress } from '../dlq/replay-progress';
import { Exit, type CliIo, type ExitCode } from '../io';
import { renderRows } from '../render-rows';

export interface DlqFlags extends BackendFlags, LetterSelection {
  readonly json: boolean;
  readonly limit?: number;
}

export interface ReplayFlags extends DlqFlags {
  readonly dryRun: boolean;
  /** Messages per second. */
  readonly rate?: number;
}

export interface DlqContext extends CliIo {
  /** Aborted by Ctrl-C: a replay finishes the step in flight and stops. */
  readonly signal: AbortSignal;
  readonly clock: Clock;
  /** Test seam: runs after a replay step's publish was acknowledged, before its letters are removed (see failpoints.ts). */
  readonly afterReplayPublish?: () => Promise<void> | void;
}

type FailedOutcome = Extract<LetterOutcome, { readonly replayed: false }>;

/** How many failed letters the text summary names one by one. */
const FAILURES_SHOWN = 20;

/** `changefeed dlq list`: the dead letters as a table, or JSON lines. */
export function dlqListCommand(flags: DlqFlags, ctx: DlqContext): Promise<ExitCode> {
  return showLetters('list', flags, ctx, {
    defaultLimit: DEFAULTS.dlq.listLimit,
    json: letterJson,
    text: (letters) => renderRows(letters.map(letterRow), false),
  });
}

/** `changefeed dlq peek`: everything about the first dead letters, data and attributes included. */
export function dlqPeekCommand(flags: DlqFlags, ctx: DlqContext): Promise<ExitCode> {
  return showLetters('peek', flags, ctx, {
    defaultLimit: DEFAULTS.dlq.peekLimit,
    json: letterDetailJson,
    text: (letters) => letters.map(letterDetailText).join('\n'),
  });
}

async function showLetters(
  command: string,
  flags: DlqFlags,
  ctx: DlqContext,
  show: {
    readonly defaultLimit: number;
    readonly json: (letter: DeadLetter) => Record<string, unknown>;
    readonly text: (letters: readonly DeadLetter[]) => string;
  },
): Promise<ExitCode> {
  return withBackend(command, flags, ctx, async (backend) => {
    const limit = flags.limit ?? show.defaultLimit;
    const listing = await backend.queue.list({ limit, where: letterFilter(flags) });
    if (flags.json) ctx.stdout.write(renderRows(listing.letters.map(show.json), true));
    else if (listing.letters.length === 0) ctx.stdout.write(`${noLettersText(backend, listing)}\n`);
    else ctx.stdout.write(show.text(listing.letters) + listingNotes(listing, limit));
    return Exit.ok;
  });
}

/** `changefeed dlq replay`: republishes dead letters to the bus they came from, then removes them. */
export function dlqReplayCommand(flags: ReplayFlags, ctx: DlqContext): Promise<ExitCode> {
  return withBackend('replay', flags, ctx, async (backend) => {
    const listing = await backend.queue.list({
      ...(flags.limit === undefined ? {} : { limit: flags.limit }),
      where: letterFilter(flags),
    });
    const { letters } = listing;
    if (flags.dryRun) {
      if (flags.json) {
        for (const letter of letters) {
          ctx.stdout.write(`${JSON.stringify({ status: 'would-replay', ...letterJson(letter) })}\n`);
        }
      } else if (letters.length > 0) {
        ctx.stdout.write(renderRows(letters.map(letterRow), false));
      }
      writeSummary(ctx, flags, backend, listing, undefined);
      return Exit.ok;
    }
    if (letters.length === 0) {
      writeSummary(ctx, flags, backend, listing, undefined);
      return Exit.ok;
    }
    const progress: ReplayProgress | undefined = flags.json
      ? undefined
      : startReplayProgress(ctx.stdout, letters.length);
    const failures: FailedOutcome[] = [];
    let result: ReplayResult;
    try {
      result = await replayLetters(
        {
          queue: backend.queue,
          publisher: withAfterPublish(backend.publisher, ctx.afterReplayPublish),
          clock: ctx.clock,
          signal: ctx.signal,
        },
        {
          letters,
          ...(flags.rate === undefined ? {} : { ratePerSecond: flags.rate }),
          onSettled: (outcomes) => {
            progress?.advance(outcomes);
            for (const o of outcomes) {
              if (!o.replayed) failures.push(o);
              if (flags.json) ctx.stdout.write(`${JSON.stringify(outcomeJson(o, backend))}\n`);
            }
          },
        },
      );
    } finally {
      progress?.stop();
    }
    if (!flags.json) writeFailures(ctx, failures, backend);
    writeSummary(ctx, flags, backend, listing, result);
    if (result.replayed > 0 && !flags.json) ctx.stdout.write(`${await backend.deliveryNote()}\n`);
    return result.failed > 0 || result.interrupted || result.stoppedBy !== undefined ? Exit.failed : Exit.ok;
  });
}

/**
 * Opens the backend, runs `work`, closes it. Flags and config that cannot work exit 2; failures
 * at run time exit 1, explained in the backend's terms.
 */
async function withBackend(
  command: string,
  flags: DlqFlags,
  ctx: DlqContext,
  work: (backend: DeadLetterBackend) => Promise<ExitCode>,
): Promise<ExitCode> {
  const name = `changefeed dlq ${command}`;
  if (flags.since !== undefined && flags.until !== undefined && flags.since >= flags.until) {
    ctx.stderr.write(
      `${name}: --since (${flags.since.toISOString()}) must be before --until (${flags.until.toISOString()})\n`,
    );
    return Exit.usage;
  }
  const logger: Logger = createLogger('changefeed', { streams: [{ stream: ctx.stderr, level: 'warn' }] });
  let backend: DeadLetterBackend;
  try {
    backend = await openDeadLetterBackend(flags, ctx, ctx.clock, logger);
  } catch (e: unknown) {
    logger.end();
    ctx.stderr.write(`${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    return isUsageProblem(e) ? Exit.usage : Exit.failed;
  }
  try {
    return await work(backend);
  } catch (e: unknown) {
    ctx.stderr.write(`${name}: ${backend.explain(e)}\n`);
    return Exit.failed;
  } finally {
    await backend.close();
    logger.end();
  }
}

function withAfterPublish(publisher: EventPublisher, hook: (() => Promise<void> | void) | undefined): EventPublisher {
  if (hook === undefined) return publisher;
  return {
    async publish(messages) {
      const outcomes = await publisher.publish(messages);
      await hook();
      return outcomes;
    },
    close: () => publisher.close(),
  };
}

function noLettersText(backend: DeadLetterBackend, listing: DeadLetterListing): string {
  const filtered = listing.skipped > 0 ? ` match the filter (${listing.skipped} do not)` : '';
  return `no dead letters${filtered} in ${backend.source}`;
}

function listingNotes(listing: DeadLetterListing, limit: number): string {
  const notes: string[] = [];
  if (listing.skipped > 0) notes.push(`${listing.skipped} more did not match the filter`);
  if (!listing.complete) notes.push(incompleteNote(listing.letters, limit));
  return notes.map((n) => `${n}\n`).join('');
}

function incompleteNote(letters: readonly DeadLetter[], limit: number | undefined): string {
  return letters.length === limit
    ? `there may be more: --limit ${limit} reached`
    : 'not every dead letter was read (the queue stops reading after its scan bound); run again for the rest';
}

function outcomeJson(o: LetterOutcome, backend: DeadLetterBackend): Record<string, unknown> {
  const base = { handle: o.letter.handle, ...summarizeLetter(o.letter) };
  return o.replayed
    ? { status: 'replayed', ...base, messageId: o.messageId, removed: o.removed }
    : { status: 'failed', ...base, error: backend.explain(o.error) };
}

function writeFailures(ctx: DlqContext, failures: readonly FailedOutcome[], backend: DeadLetterBackend): void {
  for (const o of failures.slice(0, FAILURES_SHOWN)) {
    const s = summarizeLetter(o.letter);
    ctx.stderr.write(
      `failed: event ${s.eventId ?? `handle ${o.letter.handle}`}${s.entity === null ? '' : ` (${s.source ?? '?'}/${s.entity})`}: ${backend.explain(o.error)}\n`,
    );
  }
  if (failures.length > FAILURES_SHOWN) ctx.stderr.write(`... and ${failures.length - FAILURES_SHOWN} more failed\n`);
}

function writeSummary(
  ctx: DlqContext,
  flags: ReplayFlags,
  backend: DeadLetterBackend,
  listing: DeadLetterListing,
  result: ReplayResult | undefined,
): void {
  const skipped = listing.skipped;
  const toReplay = listing.letters.length;
  if (flags.json) {
    const summary = {
      dryRun: flags.dryRun,
      ...(flags.dryRun ? { wouldReplay: toReplay } : {}),
      replayed: result?.replayed ?? 0,
      skipped,
      failed: result?.failed ?? 0,
      notAttempted: result?.notAttempted ?? 0,
      notRemoved: result?.notRemoved ?? 0,
      interrupted: result?.interrupted ?? false,
      complete: listing.complete,
      ...(result?.stoppedBy === undefined ? {} : { stoppedBy: backend.explain(result.stoppedBy) }),
    };
    ctx.stdout.write(`${JSON.stringify({ summary })}\n`);
    return;
  }
  const lines: string[] = [];
  if (flags.dryRun) {
    lines.push(
      `dry run: would replay ${toReplay} ${backend.route}, skipped ${skipped} (filtered out); nothing was changed`,
    );
  } else if (result === undefined) {
    lines.push(`nothing to replay in ${backend.source}: replayed 0, skipped ${skipped} (filtered out), failed 0`);
  } else {
    lines.push(`replayed ${result.replayed}, skipped ${skipped} (filtered out), failed ${result.failed}`);
    if (result.notRemoved > 0) {
      lines.push(
        `${result.notRemoved} of them were republished but are still dead letters; a later replay sends them again and the warehouse drops the duplicates`,
      );
    }
    const rest = `${result.notAttempted} not replayed, still dead letters; run the same command again to continue`;
    if (result.stoppedBy !== undefined) lines.push(`stopped: ${backend.explain(result.stoppedBy)}; ${rest}`);
    else if (result.interrupted) lines.push(`interrupted: ${rest}`);
  }
  if (!listing.complete) lines.push(incompleteNote(listing.letters, flags.limit));
  ctx.stdout.write(`${lines.join('\n')}\n`);
}
