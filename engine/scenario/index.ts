/** Scenario scripts: the runner plus every layer's commands (see plugins.ts). Hosts import from here. */
export * from './runner'
import './plugins'
