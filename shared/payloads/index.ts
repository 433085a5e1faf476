export * from './claim-check-publisher';
export * from './payload-attributes';
export * from './verify-payload';
