import type { Command } from 'commander';
import { CofferApiError, CofferClient } from '../sdk/index.ts';
import { cliContext, type GlobalFlags } from './cli-context.ts';
import { readDataFile } from './cli-input.ts';
import { CliError, printResult } from './cli-output.ts';
import { type Profile, profilePath, readProfile, writeProfile } from './cli-profile.ts';

/** `coffer login` and `coffer logout`. */
export function registerLoginCommands(program: Command): void {
  program
    .command('login')
    .description(
      'save the server address and a token (with --token, or --email and --password-file) to the profile file',
    )
    .option('--email <email>', 'log in as this user (POST /v2/auth/login)')
    .option(
      '--password-file <file>',
      "the user's password: a file, or - for stdin (one trailing newline ignored)",
    )
    .addHelpText(
      'after',
      '\nThe profile is $COFFER_CONFIG_DIR/profile.json (default ~/.config/coffer/profile.json), mode 0600.\n' +
        '--project, --region and --instance given here are saved as the defaults of later commands.',
    )
    .action(async (flags: { email?: string; passwordFile?: string }, command: Command) => {
      const context = cliContext(command);
      const globals = command.optsWithGlobals() as GlobalFlags;
      const client = (token?: string) =>
        new CofferClient({ address: context.address, token, retry: { maxAttempts: 2 } });
      let token: string;
      let expires: string | undefined;
      if (flags.email) {
        if (!flags.passwordFile) throw new CliError('--email needs --password-file (- reads stdin)');
        const password = (await readDataFile(flags.passwordFile, '--password-file'))
          .toString('utf8')
          .replace(/\r?\n$/, '');
        const session = await client().iam.login({ email: flags.email, password });
        token = session.token;
        expires = session.expireTime;
      } else {
        if (flags.passwordFile) throw new CliError('--password-file goes with --email');
        const given = globals.token ?? process.env.COFFER_TOKEN;
        if (!given) throw new CliError('give --token TOKEN, or --email EMAIL with --password-file FILE');
        token = given;
        // Any authenticated call tells a good token from a bad one (401); this one needs no permission.
        await client(token).iam.testPermissions('root', ['projects.create']);
      }
      const previous = readProfile();
      const profile: Profile = {
        ...previous,
        address: context.address,
        token,
        ...((globals.project ?? process.env.COFFER_PROJECT)
          ? { project: globals.project ?? process.env.COFFER_PROJECT }
          : {}),
        ...((globals.region ?? process.env.COFFER_REGION)
          ? { region: globals.region ?? process.env.COFFER_REGION }
          : {}),
        ...((globals.instance ?? process.env.COFFER_INSTANCE)
          ? { instance: globals.instance ?? process.env.COFFER_INSTANCE }
          : {}),
      };
      const path = writeProfile(profile);
      const { token: _hidden, ...shown } = profile;
      printResult(
        command,
        { ...shown, profile: path, ...(expires ? { expireTime: expires } : {}) },
        () =>
          `Logged in to ${context.address}${flags.email ? ` as ${flags.email}` : ''}${expires ? ` until ${expires}` : ''}; saved to ${path}.`,
      );
    });

  program
    .command('logout')
    .description(
      'revoke the profile’s token on the server (POST /v2/auth/logout) and remove it from the profile file (the address and defaults stay)',
    )
    .option('--local', 'only remove the token from the profile; it stays valid on the server')
    .action(async (flags: { local?: boolean }, command: Command) => {
      const { token, ...rest } = readProfile();
      let note = '';
      if (token !== undefined && !flags.local) {
        // The server the token was saved for (the profile's), unless none was saved.
        const address = rest.address ?? cliContext(command).address;
        const client = new CofferClient({ address, token, retry: { maxAttempts: 2 } });
        try {
          await client.iam.logout();
          note = 'revoked it on the server and ';
        } catch (err) {
          const code = err instanceof CofferApiError ? err.code : undefined;
          // Unreachable server or any other refusal: the profile is kept (--local removes it anyway).
          if (code !== 'unauthenticated' && code !== 'failed_precondition') throw err;
          // unauthenticated: already unusable (revoked, expired), removing it is all that is left.
          // failed_precondition: the first admin's root token, removed here but valid there.
          if (code === 'failed_precondition')
            process.stderr.write(
              'The root token is not revoked by logging out; it stays valid (end it with coffer root-token rotate).\n',
            );
        }
      }
      const path = writeProfile(rest);
      printResult(command, { profile: path, revoked: note !== '' }, () =>
        token === undefined
          ? `No token in ${profilePath()}.`
          : `Logged out: ${note}removed the token from ${profilePath()}.`,
      );
    });
}
