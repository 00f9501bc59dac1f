#!/usr/bin/env bash
# Fetch rasa-webchat 1.0.1 (the widget most Rasa sites embed) from the npm registry for
# tests/bot/browser/test_rasa_webchat.py, into var/npm/ (outside git). Only the package tarball is needed:
# its lib/index.js is a self-contained UMD bundle (React and socket.io-client included), so no node_modules.
# The tarball is checked against the registry's published integrity. Prints the bundle's path.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.0.1
INTEGRITY="sha512-Ld1zVJvTAaTrs6A5p8t70agNNrKYRyXlvqXZRgBoDvKKUXbA0jhJKECi5bdPGlaR6jsmqWtVylHS+YqIqo0x8w=="
DEST="var/npm/rasa-webchat-$VERSION"
BUNDLE="$DEST/package/lib/index.js"
if [ -s "$BUNDLE" ]; then
  echo "$BUNDLE"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm is not installed (apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "Fetching rasa-webchat@$VERSION from the npm registry ..." >&2
npm pack "rasa-webchat@$VERSION" --pack-destination "$work" --silent >/dev/null
tarball="$work/rasa-webchat-$VERSION.tgz"
actual=$(node -e 'const c = require("crypto"), f = require("fs");
process.stdout.write("sha512-" + c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tarball")
if [ "$actual" != "$INTEGRITY" ]; then
  echo "rasa-webchat@$VERSION: integrity $actual is not the published $INTEGRITY" >&2
  exit 1
fi
mkdir -p "$work/out" var/npm
tar -xzf "$tarball" -C "$work/out"
rm -rf "$DEST"
mv "$work/out" "$DEST"
echo "$BUNDLE"
