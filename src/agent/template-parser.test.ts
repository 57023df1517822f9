import assert from 'node:assert/strict';
import { test } from 'node:test';
import Handlebars from 'handlebars';
import { parseTemplate, TemplateSyntaxError } from './template-parser.ts';

const value = 'SUPER-SECRET-VALUE';

function renderError(text: string, returned: unknown = value): TemplateSyntaxError {
  const template = parseTemplate({
    name: 'app.tpl',
    text,
    destination: '/nonexistent/x',
    mode: 0o600,
    command: undefined,
    commandTimeoutMs: 1_000,
  });
  const env = Handlebars.create();
  env.registerHelper('secret', () => returned);
  try {
    template.render(env);
  } catch (err) {
    assert.ok(err instanceof TemplateSyntaxError, String(err));
    return err;
  }
  assert.fail('the render did not fail');
}

test('a render error names the template and line with a fixed reason, never the engine’s message or the value', () => {
  const inText = renderError('{{#with (secret "db")}}{{password}}{{/with}}');
  assert.equal(
    inText.message,
    'app.tpl: the template looks up a field in a value that is not an object (take a JSON field with {{ secret "PATH" "field" }})',
  );
  const strict = renderError('line one\n{{#with (secret "db")}}{{#if true}}{{nope}}{{/if}}{{/with}}', {
    inner: value,
  });
  assert.equal(strict.message, 'app.tpl:2: a name the template looks up is not defined (strict mode)');
  for (const err of [inText, strict]) {
    assert.doesNotMatch(err.message, /SUPER-SECRET|password|nope/);
    assert.doesNotMatch(String(err.stack), /SUPER-SECRET/);
  }
});
