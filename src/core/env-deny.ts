/**
 * Variables `coffer run --prefix` never sets from a secret's name, and `coffer agent`'s exec mode
 * never sets at all: each one makes the command (or a program it starts) load or run code, or trust
 * or reach other hosts, so whoever may write the secret could otherwise run code in the workload.
 * `coffer run --secret NAME=PATH` still sets them: an explicit mapping typed by the user is their own
 * choice. Names compare upper-cased (some tools read any case). Shared by the CLI and the agent.
 */
export const deniedVariables: readonly string[] = [
  'NODE_OPTIONS',
  'NODE_PATH',
  'NODE_EXTRA_CA_CERTS',
  'NODE_TLS_REJECT_UNAUTHORIZED',
  'PATH',
  'BASH_ENV',
  'ENV',
  'ZDOTDIR',
  'SHELLOPTS',
  'BASHOPTS',
  'PS4',
  'PROMPT_COMMAND',
  'IFS',
  'CDPATH',
  'GLOBIGNORE',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'CLASSPATH',
  'PHPRC',
  'PHP_INI_SCAN_DIR',
  'GCONV_PATH',
  'HOSTALIASES',
  'LOCALDOMAIN',
  'RES_OPTIONS',
  'OPENSSL_CONF',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'SSH_ASKPASS',
  'SUDO_ASKPASS',
  'EDITOR',
  'VISUAL',
  'PAGER',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'ALL_PROXY',
];

/** Prefixes of denied variable names (`LD_PRELOAD`, `DYLD_INSERT_LIBRARIES`, `PYTHONSTARTUP`, …). */
export const deniedPrefixes: readonly string[] = [
  'LD_',
  'DYLD_',
  'PYTHON',
  'PERL5',
  'PERL_',
  'PERLLIB',
  'GIT_',
  'NPM_CONFIG_',
  'LUA_',
];

/** Whether `name` is on the deny-list (`coffer run --prefix` and `coffer agent` exec refuse it). */
export function isDeniedVariable(name: string): boolean {
  const upper = name.toUpperCase();
  return deniedVariables.includes(upper) || deniedPrefixes.some((prefix) => upper.startsWith(prefix));
}
