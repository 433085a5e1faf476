/** At most `maxBytes` of UTF-8, never ending inside a multi-byte character. */
export function truncateUtf8(body: Buffer, maxBytes: number): string {
  if (body.length <= maxBytes) return body.toString('utf8');
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && ((body[end] ?? 0) & 0xc0) === 0x80) end--;
  return body.subarray(0, end).toString('utf8');
}
