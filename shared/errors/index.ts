export { AppError, ValidationError, isRetryable, type AppErrorOptions, type ValidationIssue } from './app-error';
export { errorMessage } from './error-message';
export {
  ERROR_CODES,
  PUBSUB_FAILURES,
  Retry,
  isErrorCode,
  type ErrorCode,
  type ErrorCodeInfo,
  type PubSubFailureSuffix,
} from './codes';
export {
  ERROR_CODE_TABLE_BEGIN,
  ERROR_CODE_TABLE_END,
  errorCodeTableIn,
  renderErrorCodeTable,
  withErrorCodeTable,
} from './error-code-table';
export { formatIssuePath, summarizeIssues, validationIssue, validationIssues } from './zod-issues';
