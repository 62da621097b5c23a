#!/usr/bin/env node
/**
 * The `effect-litestream` executable. SIGINT / SIGTERM interrupt the program (NodeRuntime), so
 * every scope closes and litestream gets its graceful stop; `teardown` sets the exit code.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cli from "./cli/Cli.js"

NodeRuntime.runMain(Cli.main(process.argv), { disableErrorReporting: true, disablePrettyLogger: true, teardown: Cli.teardown })
