#!/usr/bin/env bash
# Deploy phaseactors gates as Cloud Functions: a thin wrapper around `phaseactors deploy`.
#
#   ./deploy.sh --project P --region R --dry-run            print the plan, run nothing
#   ./deploy.sh --project P --region R --apply              describe, create, update
#   ./deploy.sh --project P --region R --gate NAME --apply  only some gates
#
# With --apply it first stages the function source next to this file: phaseactors as a wheel
# in vendor/ and the gate definitions in machines/. Every argument goes to the command, which
# runs from the repository root (machines/, stores/firestore.rules). $PYTHON is the
# interpreter that has phaseactors installed (default: python3).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-python3}

for arg in "$@"; do
  if [ "$arg" = "--apply" ]; then
    rm -rf "$here/vendor" "$here/machines"
    mkdir -p "$here/vendor" "$here/machines"
    "$python" -m pip wheel --quiet --no-deps -w "$here/vendor" "$root"
    cp "$root"/machines/*.toml "$here/machines/"
  fi
done

cd "$root"
exec "$python" -m phaseactors deploy --source "$here" "$@"
