#!/usr/bin/env bash
# `ansible-test sanity` for this collection, offline-safe: `make sanity` (CI runs it as part of `make test`).
#   tools/sanity.sh                          every sanity test
#   tools/sanity.sh --test pep8 plugins/...  any ansible-test sanity arguments (paths are relative to the repo)
# ansible-test insists on an ansible_collections/<namespace>/<name> path, so the collection as it ships (the
# files `ansible-galaxy collection build` packs, plus tests/sanity/) is copied to
# .run/sanity/ansible_collections/filmopoisk/shs and tested there. Each sanity test runs in its own venv that
# ansible-test bootstraps with a get-pip.py it downloads from ci-files.testing.ansible.com, which this machine
# cannot reach: a stand-in in ansible-test's cache bootstraps pip with the interpreter's own `ensurepip`
# instead; the pinned sanity requirements then come from the package index as usual.
# Prints the issue count per test at the end; exits non-zero if any test failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON_VERSION=3.11
WORK=$ROOT/.run/sanity
TREE=$WORK/ansible_collections/filmopoisk/shs
export PATH=$VENV/bin:$PATH

# --- the get-pip stand-in -------------------------------------------------------------------------
# ansible-test pins the pip it bootstraps (python_requirements.get_venv_packages) and caches the script
# as ~/.ansible/test/cache/get_pip_<version>.py (_util/target/setup/requirements.py: bootstrap()).
at_dir=$("$VENV/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',*$/\1/p" "$at_dir/_internal/python_requirements.py" | head -1)
[ -n "$pip_version" ] || { echo "cannot find the pip version ansible-test bootstraps in $at_dir" >&2; exit 1; }
get_pip=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
if ! grep -q 'filmopoisk.shs get-pip stand-in' "$get_pip" 2>/dev/null; then
  mkdir -p "$(dirname "$get_pip")"
  cat > "$get_pip" <<'EOF'
"""filmopoisk.shs get-pip stand-in (written by tools/sanity.sh; ansible-test runs it as get-pip.py).

Called as `get-pip.py [pip options] pip==X [--no-setuptools] [--no-wheel]` in a venv made --without-pip:
bootstrap pip from this interpreter's bundled wheel (ensurepip, no network), then let that pip install the
requested packages from the configured index, as get-pip.py would.
"""
import subprocess
import sys

args = sys.argv[1:]
get_pip_only = ('--no-setuptools', '--no-wheel')
step = subprocess.run([sys.executable, '-m', 'ensurepip', '--default-pip'], capture_output=True, text=True)
if step.returncode:
    sys.exit('ensurepip failed:\n' + step.stdout + step.stderr)
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet'] + [a for a in args if a not in get_pip_only])
if '--no-setuptools' in args:
    # Python 3.11's ensurepip also installs setuptools; get-pip.py --no-setuptools would not have.
    subprocess.check_call([sys.executable, '-m', 'pip', 'uninstall', '--quiet', '--yes', 'setuptools'])
EOF
fi

# --- shellcheck: without it ansible-test skips its shellcheck test with only a warning -----------------
if ! command -v shellcheck >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "the shellcheck sanity test needs shellcheck (sudo apt-get install shellcheck)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck; } \
    >/dev/null || { echo "apt-get install shellcheck failed" >&2; exit 1; }
fi

# --- the collection as it ships, at the path ansible-test wants ------------------------------------
rm -rf "$WORK/dist" "$TREE"
mkdir -p "$WORK/dist" "$TREE"
ansible-galaxy collection build --force --output-path "$WORK/dist" "$ROOT" >/dev/null || exit 1
tar -xzf "$WORK"/dist/filmopoisk-shs-*.tar.gz -C "$TREE"
# MANIFEST.json stays: validate-modules reads the collection version from it (galaxy.yml is not shipped).
rm -f "$TREE/FILES.json"
rm -rf "$TREE/tests/sanity"
if [ -d "$ROOT/tests/sanity" ]; then mkdir -p "$TREE/tests" && cp -r "$ROOT/tests/sanity" "$TREE/tests/sanity"; fi
# ansible-test lists content with git, looking upwards for a .git: without one here it would find this
# repository's and see nothing under the (ignored) .run/. Untracked files are listed, so no commit is needed.
git -C "$TREE" init -q

# --- run ------------------------------------------------------------------------------------------
log=$WORK/sanity.log
cd "$TREE" || exit 1
ansible-test sanity --python "$PYTHON_VERSION" --local --color no "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# Per-test counts: ansible-test prints 'Running sanity test "<name>"' then, on failure,
# "ERROR: Found <n> <name> issue(s) which need to be resolved:"; a test that cannot run (a missing program)
# only warns 'Required program "<x>" not found.' and is skipped: that is not a pass, so it fails here.
echo "== sanity issues per test (ansible-test rc=$rc) =="
awk '
  /^Running sanity test / { name = $4; gsub(/["\047]/, "", name); order[++n] = name; count[name] = 0 }
  /^ERROR: Found [0-9]+ .* issue\(s\)/ { count[name] = $3 }
  /^WARNING: Required program .* not found/ { count[name] = "skipped (" $4 " not found)"; skipped = 1 }
  END { for (i = 1; i <= n; i++) printf "  %-28s %s\n", order[i], count[order[i]]; exit skipped }
' "$log" || rc=1
exit "$rc"
