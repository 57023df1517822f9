/**
 * Variables `coffer run --prefix` never sets from a secret's name, and `coffer agent`'s exec mode
 * never sets at all: each one makes the command (or a program it starts) load or run code, trust
 * or reach other hosts, or write what protects its secrets where others read it, so whoever may write the secret could otherwise run code in the workload.
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
  // JVM options read by launch scripts (Tomcat, Maven, Gradle, most start scripts): -javaagent runs code.
  'JAVA_OPTS',
  'CATALINA_OPTS',
  'MAVEN_OPTS',
  'GRADLE_OPTS',
  // .NET: assemblies loaded at startup.
  'DOTNET_STARTUP_HOOKS',
  // Erlang/Elixir emulator flags: -eval, -pa.
  'ERL_AFLAGS',
  'ERL_FLAGS',
  'ERL_ZFLAGS',
  'ELIXIR_ERL_OPTIONS',
  // Go and Rust builds: -toolexec and compiler wrappers run any program.
  'GOFLAGS',
  'RUSTC_WRAPPER',
  'RUSTC_WORKSPACE_WRAPPER',
  // Ruby gem and bundler paths: code is loaded from them.
  'GEM_PATH',
  'GEM_HOME',
  'BUNDLE_GEMFILE',
  // Programs that run commands named by these (less input filters, pagers, browsers).
  'LESSOPEN',
  'LESSCLOSE',
  'MANPAGER',
  'BROWSER',
  // Which cluster and credentials kubectl uses; glibc tunables (CVE-2023-4911 class).
  'KUBECONFIG',
  'GLIBC_TUNABLES',
  'TMP',
  'TEMP',
  'PHPRC',
  'PHP_INI_SCAN_DIR',
  'GCONV_PATH',
  'HOSTALIASES',
  'LOCALDOMAIN',
  'RES_OPTIONS',
  'OPENSSL_CONF',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'REQUESTS_CA_BUNDLE',
  'CURL_CA_BUNDLE',
  // Where TLS libraries write session keys: whoever reads that file decrypts the traffic.
  'SSLKEYLOGFILE',
  // Where programs read their startup and configuration files (~/.bashrc, ~/.gitconfig, ~/.npmrc)
  // and write and load temporary files (self-extracting programs run code from TMPDIR).
  'HOME',
  'TMPDIR',
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
  // .NET profilers: CORECLR_PROFILER_PATH / COR_PROFILER_PATH load a native library.
  'CORECLR_',
  'COR_',
  // Cargo and pip configuration: build scripts, indexes and wrappers they run.
  'CARGO_',
  'PIP_',
];

/** Whether `name` is on the deny-list (`coffer run --prefix` and `coffer agent` exec refuse it). */
export function isDeniedVariable(name: string): boolean {
  const upper = name.toUpperCase();
  return deniedVariables.includes(upper) || deniedPrefixes.some((prefix) => upper.startsWith(prefix));
}
