/**
 * Scenario commands contributed by other layers. Each layer adds ONE import line here for its module
 * that calls registerCommand / registerExpectation (e.g. `import '../txn/scenario'`).
 * Imported by engine/scenario/index.ts (never by runner.ts, to avoid an import cycle).
 */
import '../txn/scenario'
import '../ticket/scenario'
import '../security/scenario'
import '../security/wan-scenario'
import './query'
import '../compare/scenario'
