# Shared by the provisioning scripts (node.sh, pulumi-engine.sh, test-cluster.sh, moto.sh, gitea.sh, act.sh); sourced, never run.
# The caller sets `tag` (the log prefix) before sourcing.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$repo/tools"
# The cache every provisioning script and the runner share (runner/services/context.ts, same rule).
cache_root=${PULUMI_GITOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-gitops}

# code_of <script>: the script without its comment lines, so a stamp changes with what the script
# does, not with its documentation.
code_of() { grep -v '^[[:space:]]*#' "$1"; }

say() { printf '[%s] %s\n' "$tag" "$*" >&2; }
die() { printf '[%s] error: %s\n[%s] hint: %s\n' "$tag" "$1" "$tag" "$2" >&2; exit 1; }

# gomod_version <wrapper> <module>: the version tools/<wrapper>/go.mod pins, in either require form.
# The pins live in the wrapper modules' go.mod files, so a build and its script cannot disagree.
gomod_version() {
  awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$tools/$1/go.mod"
}
