/**
 * Finding the litestream executable: `LITESTREAM_BIN`, else the binary of the
 * `@flydotio/litestream` package for this platform, else `litestream` on PATH.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import * as NodePath from "node:path"

/**
 * The npm package that ships litestream for this platform, e.g. `@flydotio/litestream-linux-x64`.
 *
 * @since 0.1.0
 */
export const platformPackage = `@flydotio/litestream-${process.platform}-${process.arch}`

const resolveFrom = (from: string, specifier: string): Option.Option<string> => {
  try {
    return Option.some(createRequire(from).resolve(specifier))
  } catch {
    return Option.none()
  }
}

/**
 * The path of the binary installed by `@flydotio/litestream`, if any. The platform package is an
 * optional dependency of `@flydotio/litestream`, so it is resolved from there (pnpm does not hoist it).
 *
 * @since 0.1.0
 */
export const bundled: Effect.Effect<Option.Option<string>> = Effect.sync(() =>
  resolveFrom(import.meta.url, "@flydotio/litestream/package.json").pipe(
    Option.flatMap((main) => resolveFrom(main, `${platformPackage}/package.json`)),
    Option.orElse(() => resolveFrom(import.meta.url, `${platformPackage}/package.json`)),
    Option.map((pkg) => NodePath.join(NodePath.dirname(pkg), "litestream")),
    Option.filter((bin) => existsSync(bin))
  )
)

/**
 * The default binary when `LITESTREAM_BIN` is not set: the bundled one, else `litestream` on PATH.
 *
 * @since 0.1.0
 */
export const defaultBinary: Effect.Effect<string> = Effect.map(bundled, Option.getOrElse(() => "litestream"))
