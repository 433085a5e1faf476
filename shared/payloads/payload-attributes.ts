import { ValidationError } from '../errors';
import type { PayloadRef } from '../ports';
import { isPayloadSha256 } from './verify-payload';

/**
 * The message attributes of a claim-checked event: CloudEvents extension attributes (lowercase
 * a-z/0-9, at most 20 characters) in Pub/Sub's binary mode, `ce-` and the name.
 */
export const PayloadAttribute = {
  location: 'ce-cfpayload',
  sha256: 'ce-cfpayloadsha256',
  bytes: 'ce-cfpayloadbytes',
} as const;

/** The attributes that say where an event's record went. */
export function payloadAttributes(ref: PayloadRef): Record<string, string> {
  return {
    [PayloadAttribute.location]: ref.location,
    [PayloadAttribute.sha256]: ref.sha256,
    [PayloadAttribute.bytes]: String(ref.bytes),
  };
}

/**
 * The reference a message carries instead of its record, or undefined for an inline one. Throws
 * a ValidationError naming the attribute when the reference is incomplete or malformed: such a
 * message can never be resolved.
 */
export function payloadRefOf(attributes: Readonly<Record<string, string>>): PayloadRef | undefined {
  const location = attributes[PayloadAttribute.location];
  const sha256 = attributes[PayloadAttribute.sha256];
  const bytes = attributes[PayloadAttribute.bytes];
  if (location === undefined && sha256 === undefined && bytes === undefined) return undefined;
  const issues: { path: string; message: string }[] = [];
  if (location === undefined || location === '') {
    issues.push({ path: PayloadAttribute.location, message: 'expected the location of the payload' });
  }
  if (sha256 === undefined || !isPayloadSha256(sha256)) {
    issues.push({ path: PayloadAttribute.sha256, message: 'expected 64 lowercase hex digits' });
  }
  if (bytes === undefined || !/^(0|[1-9]\d{0,15})$/.test(bytes) || !Number.isSafeInteger(Number(bytes))) {
    issues.push({ path: PayloadAttribute.bytes, message: 'expected the payload size in bytes' });
  }
  if (issues.length > 0 || location === undefined || sha256 === undefined || bytes === undefined) {
    throw new ValidationError(
      `invalid payload reference: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  return { location, sha256, bytes: Number(bytes) };
}
