export { AppError, ValidationError, isRetryable, type AppErrorOptions, type ValidationIssue } from './app-error';
export { errorMessage } from './error-message';
