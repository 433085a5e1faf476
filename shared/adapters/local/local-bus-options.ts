import { ValidationError, type ValidationIssue } from '../../errors';
import type { LocalBusOptions } from './sqlite-local-bus';

/** Throws ValidationError naming every unusable option of the local bus. */
export function validateOptions(o: LocalBusOptions): void {
  const issues: ValidationIssue[] = [];
  const positiveInt = (path: keyof LocalBusOptions, value: number): void => {
    if (!Number.isInteger(value) || value < 1) issues.push({ path, message: `expected an integer >= 1, got ${value}` });
  };
  const nonNegative = (path: keyof LocalBusOptions, value: number): void => {
    if (!Number.isFinite(value) || value < 0) issues.push({ path, message: `expected a number >= 0, got ${value}` });
  };
  positiveInt('maxDeliveryAttempts', o.maxDeliveryAttempts);
  positiveInt('concurrency', o.concurrency);
  nonNegative('minBackoffMs', o.minBackoffMs);
  nonNegative('maxBackoffMs', o.maxBackoffMs);
  if (o.maxBackoffMs < o.minBackoffMs) {
    issues.push({ path: 'maxBackoffMs', message: `expected at least minBackoffMs (${o.minBackoffMs})` });
  }
  if (!(o.ackDeadlineMs > 0)) issues.push({ path: 'ackDeadlineMs', message: `expected > 0, got ${o.ackDeadlineMs}` });
  if (o.idlePollMs !== undefined && !(o.idlePollMs > 0)) {
    issues.push({ path: 'idlePollMs', message: `expected > 0, got ${o.idlePollMs}` });
  }
  if (o.batches !== undefined) positiveInt('batches', o.batches.batchSize);
  if (o.batches === undefined && !isHttpUrl(o.pushEndpoint)) {
    issues.push({ path: 'pushEndpoint', message: `expected an http(s) URL, got ${JSON.stringify(o.pushEndpoint)}` });
  }
  if (o.subscription === '') issues.push({ path: 'subscription', message: 'expected a subscription name' });
  if (issues.length > 0) {
    throw new ValidationError(
      `invalid local bus options: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
