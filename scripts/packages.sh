# Debian packages the build, the demo and the tests need, installed when
# missing (sourced by scripts/demo and scripts/test).
#
#   ensure_packages PACKAGE:PROBE...
#
# PROBE is a command name, or "dpkg" to ask dpkg whether PACKAGE is
# installed. Root installs directly; anyone else through sudo.
ensure_packages() {
  local missing=() spec pkg probe
  for spec in "$@"; do
    pkg=${spec%%:*}
    probe=${spec#*:}
    if [ "$probe" = dpkg ]; then
      dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    else
      command -v "$probe" >/dev/null 2>&1 || missing+=("$pkg")
    fi
  done
  if ((${#missing[@]})); then
    echo "== installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# SQLCipher (the encrypted database) is built against the system libcrypto.
BUILD_PACKAGES=(libssl-dev:dpkg pkg-config:pkg-config)
# The demo makes its own network namespace.
NETWORK_PACKAGES=(iproute2:ip util-linux:unshare)
