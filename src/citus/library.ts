/**
 * Where `citus.so` is when Citus is installed for the PostgreSQL whose binaries are in `binDir`: the package
 * library directory next to `bin` (Debian and PGDG layouts), or `lib/postgresql` (source installs). The agent
 * preloads Citus only when it finds it (and is granted read access to exactly these paths).
 */
export function citusLibraryPaths(binDir: string): string[] {
  const root = binDir.replace(/\/+$/, "").replace(/\/bin$/, "");
  return [`${root}/lib/citus.so`, `${root}/lib/postgresql/citus.so`];
}
