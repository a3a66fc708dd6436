# Sourced by scripts/test and scripts/demo: installs what they need on a fresh Debian machine.
# Nothing here assumes a tool was installed by hand; every step checks first and installs when missing.

# apt-get as root, or through sudo when we are not root.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# ensure_command CMD DEBIAN_PACKAGE: install the package when the command is missing.
ensure_command() {
  command -v "$1" >/dev/null 2>&1 || apt_install "$2"
}

# ensure_packages PKG...: install the Debian packages that are not installed yet.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

# The machine's Python 3.11+ (uv must not try to download one).
pick_python() {
  local candidate
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "error: Python 3.11 or newer is required (apt-get install python3)" >&2
  return 1
}

# uv from PyPI into .tools/uv (a private venv), unless uv is already on PATH.
ensure_uv() {
  export UV_PYTHON_DOWNLOADS=never
  UV_PYTHON="$(pick_python)"
  export UV_PYTHON
  if command -v uv >/dev/null 2>&1; then
    UV="$(command -v uv)"
    return 0
  fi
  if [ ! -x .tools/uv/bin/uv ]; then
    if ! "$UV_PYTHON" -m venv .tools/uv >/dev/null 2>&1; then
      rm -rf .tools/uv
      apt_install python3-venv
      "$UV_PYTHON" -m venv .tools/uv
    fi
    .tools/uv/bin/python -m pip install --quiet --disable-pip-version-check uv
  fi
  UV="$PWD/.tools/uv/bin/uv"
}
