/**
 * A replica URL fit for a label, a health body or a log: no user, password, query or fragment
 * (where a credential could sit in some schemes), whatever the scheme.
 * @internal
 */
export const safeUrl = (url: string): string => {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)/i.exec(url)
  if (m === null) return url.replace(/[?#].*$/, "")
  const authority = m[2]!.replace(/^.*@/, "")
  return `${m[1]}${authority}${m[3]}`
}
