import type { Command } from 'commander';
import type { ProjectView } from '../sdk/index.ts';
import { cofferClient } from './cli-context.ts';
import { printList, printResource, printResult } from './cli-output.ts';
import { collect, resolveProject } from './cli-resolve.ts';
import { registerPolicyCommands } from './policy-commands.ts';

const featureText = (p: ProjectView) =>
  Object.entries(p.features)
    .filter(([, on]) => on)
    .map(([name]) => name)
    .join(',');

/** `coffer projects create|list|describe` and `coffer regions list`. */
export function registerProjectsCommands(program: Command): void {
  const projects = program.command('projects').description('projects');

  projects
    .command('create')
    .description('create a project (needs projects.create at the root)')
    .argument('[name]', 'display name')
    .option('--id <uuid>', 'choose the project id (default: generated)')
    .option('--disable-secrets', 'turn the secrets feature gate off')
    .option('--disable-kms', 'turn the kms feature gate off')
    .action(
      async (
        name: string | undefined,
        flags: { id?: string; disableSecrets?: boolean; disableKms?: boolean },
        command: Command,
      ) => {
        const client = cofferClient(command);
        const project = await client.projects.create({
          ...(flags.id ? { id: flags.id } : {}),
          ...(name ? { displayName: name } : {}),
          ...(flags.disableSecrets || flags.disableKms
            ? {
                features: {
                  ...(flags.disableSecrets ? { secrets: false } : {}),
                  ...(flags.disableKms ? { kms: false } : {}),
                },
              }
            : {}),
        });
        printResult(command, project, () => `Created project [${project.displayName}] ${project.id}`);
      },
    );

  projects
    .command('list')
    .description('list the projects you may read')
    .action(async (_flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const items = await collect((pageToken) => client.projects.list(pageToken ? { pageToken } : {}));
      printList(command, items, [
        ['id', (p) => p.id],
        ['name', (p) => p.displayName],
        ['features', featureText],
        ['created', (p) => p.createTime],
      ]);
    });

  projects
    .command('describe')
    .description('show a project (default: the project of the context)')
    .argument('[project]', 'project id or display name')
    .action(async (wanted: string | undefined, _flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const projectId = await resolveProject(command, client, wanted || undefined);
      printResource(command, await client.projects.get({ projectId }));
    });

  registerPolicyCommands(projects, '<project>', 'a project', async (command, client, wanted) => ({
    projectId: await resolveProject(command, client, wanted),
  }));

  const regions = program.command('regions').description('regions this server offers');
  regions
    .command('list')
    .description('list regions and whether KMS is available in each')
    .action(async (_flags: unknown, command: Command) => {
      const client = cofferClient(command);
      const items = await collect((pageToken) => client.projects.listRegions(pageToken ? { pageToken } : {}));
      printList(command, items, [
        ['id', (r) => r.id],
        ['kms', (r) => r.kms],
      ]);
    });
}
