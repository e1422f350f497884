/** The redactor lives in common/ (errors, the CLI and every capability use it); upload re-exports it. */
export { redactText, redactUrl, redactValue } from '../common/redact';
