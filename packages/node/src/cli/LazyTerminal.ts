/**
 * The `Terminal` of the program: Node's own (`NodeTerminal`), made at its first read or prompt.
 * @effect/cli needs a `Terminal` in the context of every command, but reads from it only for its
 * wizard and prompts; making Node's takes `process.stdin` (a stream opened on file descriptor
 * 0: 3-4 ms of every start here), which a restore or a backup never reads.
 *
 * @since 0.3.0
 */
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Terminal from "@effect/platform/Terminal"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"

/**
 * The terminal: its size and `isTTY` read from stdout as Node's does; reading input and
 * displaying a prompt go to Node's, made in this layer's scope at the first of them.
 *
 * @since 0.3.0
 */
export const layer: Layer.Layer<Terminal.Terminal> = Layer.scoped(
  Terminal.Terminal,
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const node = yield* Effect.cached(Scope.extend(NodeTerminal.make(), scope))
    return Terminal.Terminal.of({
      columns: Effect.sync(() => process.stdout.columns ?? 0),
      rows: Effect.sync(() => process.stdout.rows ?? 0),
      isTTY: Effect.sync(() => Boolean(process.stdout.isTTY)),
      readInput: Effect.flatMap(node, (terminal) => terminal.readInput),
      readLine: Effect.flatMap(node, (terminal) => terminal.readLine),
      display: (text) => Effect.flatMap(node, (terminal) => terminal.display(text))
    })
  })
)
