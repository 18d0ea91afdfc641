# Sourced by .ci/interop.sh and .ci/browser.sh: `npm_ci DIR` installs DIR's
# locked npm packages. npm ci deletes and reinstalls node_modules, so it is
# skipped when the installed tree already matches the lock file (npm writes
# node_modules/.package-lock.json). The download cache is kept under
# ~/.cache/keyward/npm.
npm_ci() {
  local dir=$1
  if [ -f "$dir/node_modules/.package-lock.json" ] &&
     node -e '
       const a = require(process.argv[1]).packages, b = require(process.argv[2]).packages;
       const strip = p => Object.fromEntries(Object.entries(p).filter(([k]) => k).map(([k, v]) => [k, v.version + (v.integrity || "")]));
       process.exit(JSON.stringify(strip(a)) === JSON.stringify(strip(b)) ? 0 : 1);
     ' "$PWD/$dir/package-lock.json" "$PWD/$dir/node_modules/.package-lock.json"; then
    echo "node_modules matches package-lock.json"
  else
    (cd "$dir" && npm ci --no-audit --no-fund --cache "$HOME/.cache/keyward/npm" --prefer-offline)
  fi
}
