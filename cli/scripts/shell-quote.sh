# shellcheck shell=bash
# quoted ARG...: prints the arguments as a user types them, single-quoted where
# the shell would otherwise split or expand them, so that a printed command can
# be copied into a shell: quoted exec hello --input '{"name":"Jon"}' prints
#   exec hello --input '{"name":"Jon"}'
quoted() {
  local arg out=()
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      out+=("$arg")
    else
      out+=("'${arg//\'/\'\\\'\'}'")
    fi
  done
  printf '%s' "${out[*]}"
}
