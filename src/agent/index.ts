// `coffer agent`: the public surface the CLI uses. The agent is a client of the server through the
// SDK (src/sdk) and never imports server internals.
export { ConfigError } from './agent-config.ts';
export { AgentFailure, type AgentOptions, runAgent } from './agent-runner.ts';
export { TemplateSyntaxError } from './template-parser.ts';
export { TemplateSecretError } from './template-renderer.ts';
