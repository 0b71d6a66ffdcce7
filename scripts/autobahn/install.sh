#!/usr/bin/env bash
# Installs Autobahn|Testsuite (`wstest`) into the project-local virtualenv
# .local/autobahn (git-ignored), from PyPI, with the machine's Python 2.7.
# Idempotent: a second run that finds the same pins installed and a working
# wstest returns at once. Afterwards: .local/autobahn/bin/wstest
# (or the wrapper scripts/autobahn/wstest, which calls this script first).
#
# Usage: scripts/autobahn/install.sh [--force]
# Env:   PYTHON27       the Python 2.7 to use (default: found, see find_python27)
#        AUTOBAHN_HOME  where to install (default: <repo>/.local/autobahn)
#
# What was found to work (CPython 2.7.18 from pyenv, pip 19.2.3, no
# virtualenv module, Linux x86_64, gcc present):
#  * Only Python 2.7 runs wstest (the code base is Python 2: print
#    statements). autobahntestsuite 25.10.1 is a py2-only wheel that pins its
#    direct dependencies exactly (autobahn[twisted,accelerate]==0.10.9,
#    Twisted==19.10.0, txaio==2.1.0, pyOpenSSL==19.1.0, cryptography==3.3.2,
#    klein==17.10.0, Werkzeug==1.0.1, jinja2==2.11.3, setuptools==44.0.0...);
#    the transitive rest are the last Python 2.7 releases (attrs 21.4.0,
#    Automat 22.10.0, hyperlink 21.0.0, idna 2.10, cffi 1.15.1, ...).
#    All of it is pinned in requirements-py27.txt and installed with
#    --no-deps, then `pip check` proves the set complete and consistent.
#  * Wheels exist for every compiled package (cryptography manylinux2010,
#    cffi, Twisted, zope.interface, MarkupSafe, ujson) except wsaccel 0.6.6
#    (autobahn's "accelerate" extra: C UTF-8 validator and XOR masker), which
#    is built from its sdist here (~25 s, needs gcc and Python.h; pyenv
#    builds ship the headers). autobahn 0.10.9, txaio 2.1.0 and
#    PyHamcrest 1.10.1 are pure-Python sdists.
#  * Python 2.7 has no `venv`; virtualenv 20.15.1 is the last release that
#    runs on 2.7. It is installed with `pip --target` into
#    .local/autobahn-virtualenv (pins: requirements-bootstrap-py27.txt) and
#    seeds the environment from its bundled wheels (pip 20.3.4,
#    setuptools 44.1.1): no download beyond PyPI packages.
#  * Timing on the 2-core machine: ~40 s from scratch (most of it compiling
#    wsaccel), < 1 s when already installed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dest="${AUTOBAHN_HOME:-$root/.local/autobahn}"
boot="$dest-virtualenv"
reqs="$here/requirements-py27.txt"
boot_reqs="$here/requirements-bootstrap-py27.txt"
stamp="$dest/.pushpoll-installed"
force=0
[ "${1:-}" = "--force" ] && force=1

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_PYTHON_VERSION_WARNING=1 PIP_NO_INPUT=1
# Nothing from the caller's Python setup may leak into the 2.7 tree.
unset PYTHONPATH PYTHONHOME PIP_REQUIRE_VIRTUALENV PIP_USER PIP_TARGET PIP_PREFIX VIRTUAL_ENV
log() { echo "autobahn/install: $*" >&2; }

# The Python 2.7 interpreter: $PYTHON27, python2.7 / python2 on PATH, then
# pyenv's versions.
find_python27() {
  local c
  for c in "${PYTHON27:-}" "$(command -v python2.7 || true)" "$(command -v python2 || true)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python /root/.pyenv/versions/2.7*/bin/python \
    /usr/local/bin/python2.7 /usr/bin/python2.7; do
    if [ -z "$c" ] || [ ! -x "$c" ]; then continue; fi
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' 2>/dev/null; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

py27="$(find_python27)" || {
  log "no Python 2.7 found (set PYTHON27=/path/to/python2.7)"
  exit 1
}

# What the stamp records: the pins, this script and the interpreter.
want="$(cat "$reqs" "$boot_reqs" "$0" | sha256sum | cut -d' ' -f1) $py27"

if [ "$force" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
  timeout 60 "$dest/bin/wstest" --autobahnversion >/dev/null 2>&1; then
  exit 0
fi

log "installing Autobahn|Testsuite into $dest with $py27 ($("$py27" -V 2>&1))"
start=$(date +%s)
rm -rf "$dest" "$boot"
mkdir -p "$(dirname "$dest")"

# 1. virtualenv (runs on 2.7) into a --target folder.
timeout 300 "$py27" -m pip install --quiet --no-deps --target "$boot" -r "$boot_reqs"

# 2. The virtualenv itself; its app-data cache stays under .local too.
PYTHONPATH="$boot" timeout 120 "$py27" -m virtualenv --quiet --no-download \
  --no-periodic-update --no-wheel --app-data "$boot/app-data" "$dest"

# 3. wstest and its pinned dependency tree, then a consistency check.
timeout 900 "$dest/bin/python" -m pip install --quiet --no-deps -r "$reqs"
timeout 120 "$dest/bin/python" -m pip check

# 4. It must run.
timeout 60 "$dest/bin/wstest" --autobahnversion
timeout 60 "$dest/bin/python" -c 'import wsaccel.utf8validator, ujson, twisted, autobahn'

echo "$want" >"$stamp"
log "done in $(($(date +%s) - start)) s: $dest/bin/wstest"
