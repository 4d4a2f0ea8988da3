# The set-up shared by the trainer's shell tests, sourced (`. "$(dirname "$0")/common.sh"`) after
# each script has read its own arguments: a temporary directory $dir removed on exit, the failure
# counter $failed with fail(), and make_text LINES FORMAT, which writes the training text
# $dir/text (FORMAT is printf's, given the line number).
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
make_text() {
  _i=0
  while [ $_i -lt "$1" ]; do printf "$2\n" $_i >> "$dir/text"; _i=$((_i + 1)); done
}
