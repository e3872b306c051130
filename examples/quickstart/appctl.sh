#!/bin/sh
# A stand-in for an application's control script: "freeze" stops writes (here: a marker
# file the example's writer would honour), "thaw" resumes them.
set -eu
dir=$(dirname "$0")
case "$1" in
  freeze) touch "$dir/data/.frozen"; echo "app frozen" >&2 ;;
  thaw) rm -f "$dir/data/.frozen"; echo "app thawed" >&2 ;;
  *) echo "usage: appctl.sh freeze|thaw" >&2; exit 2 ;;
esac
