/**
 * A Stryker ignorer: no mutants inside logging calls (`log.info(…)`, `this.o.log.warn(…)`,
 * `log.child(…)` excepted). What a log line says is for people reading logs, not behaviour a
 * safety test should pin, and each such mutant would otherwise survive as noise.
 * Enabled in stryker.config.mjs with `ignorers: ['logging']`.
 */
import { declareValuePlugin, PluginKind } from '@stryker-mutator/api/plugin';

const levels = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'logging', {
    shouldIgnore(path) {
      if (!path.isExpressionStatement()) return undefined;
      const call = path.node.expression;
      if (call.type !== 'CallExpression' || call.callee.type !== 'MemberExpression') return undefined;
      const { object, property } = call.callee;
      if (property.type !== 'Identifier' || !levels.has(property.name)) return undefined;
      const name =
        object.type === 'Identifier'
          ? object.name
          : object.type === 'MemberExpression' && object.property.type === 'Identifier'
            ? object.property.name
            : '';
      return /^(log|logger)$/i.test(name) ? 'a log line: what it says is not behaviour' : undefined;
    },
  }),
];
