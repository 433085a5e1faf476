import { hash } from 'node:crypto';
import { AppError } from '../errors';
import type { PayloadRef } from '../ports';

/** SHA-256 of a payload as a reference names it: 64 lowercase hex digits. */
export function payloadSha256(data: Buffer): string {
  return hash('sha256', data, 'hex');
}

const SHA256 = /^[0-9a-f]{64}$/;

/** True for a well-formed hash: the part of a location a store derives from it can be trusted. */
export function isPayloadSha256(value: string): boolean {
  return SHA256.test(value);
}

/**
 * Checks that what a store returned is the payload `ref` names, byte for byte: a store that lost
 * or mixed up objects, or a reference that was tampered with, must never put other content under
 * an event's id. Returns the data unchanged.
 */
export function verifyPayload(ref: PayloadRef, data: Buffer): Buffer {
  if (data.length !== ref.bytes) {
    throw new AppError(
      'PAYLOAD.CORRUPT',
      `payload ${ref.location} is ${data.length} bytes; the event says ${ref.bytes}`,
      { retryable: false, details: { location: ref.location, bytes: data.length, expectedBytes: ref.bytes } },
    );
  }
  const actual = payloadSha256(data);
  if (actual !== ref.sha256) {
    throw new AppError('PAYLOAD.CORRUPT', `payload ${ref.location} hashes to ${actual}; the event says ${ref.sha256}`, {
      retryable: false,
      details: { location: ref.location, sha256: actual, expectedSha256: ref.sha256 },
    });
  }
  return data;
}

/** The error of a store asked for a location it would never have given out. */
export function foreignLocation(ref: PayloadRef, store: string): AppError {
  return new AppError(
    'PAYLOAD.FOREIGN_LOCATION',
    `payload location ${JSON.stringify(ref.location)} is not where ${store} keeps the payload of hash ${ref.sha256}`,
    { retryable: false, details: { location: ref.location, store } },
  );
}
