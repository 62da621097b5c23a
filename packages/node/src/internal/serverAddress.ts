/**
 * Addresses of the health server, apart from the server itself: the CLI checks them before
 * it loads any HTTP code.
 * @internal
 */

/**
 * Whether a host name or address is loopback.
 * @internal
 */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)

/**
 * Parses `HOST:PORT` (`[::1]:9090` for IPv6).
 * @internal
 */
export const parseAddress = (text: string): { readonly host: string; readonly port: number } | undefined => {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim())
  if (m === null) return undefined
  const port = Number(m[3])
  return port > 65535 ? undefined : { host: m[1] ?? m[2]!, port }
}

